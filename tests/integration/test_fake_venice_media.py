"""Tests of the fake Venice's media endpoints and of the media samples, through plain httpx over real HTTP."""

from __future__ import annotations

import base64
import io
import ssl
import struct
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from PIL import Image

from tests.fakes import media_samples, openapi
from tests.fakes.venice import FakeVenice, VideoJob
from tests.fakes.venice_catalogue import orpheus_tts_model

AUTH = {"Authorization": "Bearer test-key"}
# The fake speaks plain HTTP, but every httpx client builds a TLS context (~50 ms) unless given one.
TLS = ssl.create_default_context()
ASR = "nvidia/parakeet-tdt-0.6b-v3"
T2V = "wan-2-7-text-to-video"

# Without the spec these skip, or fail under CI (the openapi_spec fixture in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("openapi_spec")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVenice]:
    async with FakeVenice(validate=True) as server:
        yield server
        assert server.spec_errors == []


@pytest.fixture
async def client(fake: FakeVenice) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH, timeout=10, verify=TLS) as http:
        yield http


def audio_length(parser: Any, data: bytes) -> float:
    """Return the length mutagen's ``parser`` (OggOpus, MP3: untyped) reads from ``data``."""
    return float(parser(io.BytesIO(data)).info.length)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def valid(path: str, response: httpx.Response) -> bool:
    """Check a JSON answer against the spec's response schema for its status."""
    return openapi.validate_response("POST", path, response.status_code, response.json()) == []


def multipart_file(name: str, data: bytes, content_type: str) -> dict[str, tuple[str, bytes, str]]:
    return {name: (name, data, content_type)}


# ---- media samples --------------------------------------------------------------------------------


def test_ogg_opus_is_valid_and_checked() -> None:
    data = media_samples.ogg_opus(3.7)
    pages = media_samples.parse_ogg(data)
    packets = media_samples.ogg_packets(pages)

    assert pages[0].bos and pages[-1].eos and not any(p.eos for p in pages[:-1])
    assert packets[0][:8] == b"OpusHead" and packets[0][8] == 1 and packets[0][9] == 1  # version 1, mono
    assert struct.unpack_from("<HI", packets[0], 10) == (312, 48_000)
    assert packets[1].startswith(b"OpusTags")
    granules = [p.granule_position for p in pages[2:]]
    assert granules == sorted(granules) and granules[-1] == 312 + round(3.7 * 48_000)
    sizes = {len(p) for p in packets[2:]}
    assert len(sizes) > 10 and all(p[0] == 0xF8 for p in packets[2:])  # varied packets, CELT FB 20 ms
    assert media_samples.opus_duration(data) == pytest.approx(3.7)
    assert audio_length(OggOpus, data) == pytest.approx(3.7, abs=0.001)
    quiet = media_samples.ogg_opus(1, loud=False)
    assert audio_length(OggOpus, quiet) == pytest.approx(1.0, abs=0.001)

    corrupt = bytearray(data)
    corrupt[-3] ^= 0xFF
    broken = {
        "bad CRC": bytes(corrupt),
        "no Ogg capture": b"OggX" + data[4:],
        "version": data[:4] + b"\x01" + data[5:],
        "truncated": data[:-10],
        "empty": b"",
    }
    for expected, sample in broken.items():
        with pytest.raises(ValueError, match=expected):
            media_samples.parse_ogg(sample)


def test_other_samples_parse() -> None:
    sound = media_samples.wav(1.25)
    with wave.open(io.BytesIO(sound)) as reader:
        assert (reader.getnchannels(), reader.getframerate(), reader.getnframes()) == (1, 16_000, 20_000)
    video = media_samples.mp4_video(5)
    assert [box.type for box in media_samples.mp4_boxes(video)] == ["ftyp", "moov", "mdat"]
    assert media_samples.mp4_duration(video) == 5.0
    assert audio_length(MP3, media_samples.mp3(2)) == pytest.approx(2.0, abs=0.03)
    sniffed = [
        media_samples.sniff_audio(d)
        for d in (
            sound,
            video,
            media_samples.ogg_opus(1),
            media_samples.mp3(1),
            media_samples.flac(1),
            media_samples.adts_aac(1),
            b"hello",
        )
    ]
    assert sniffed == ["wav", "mp4", "ogg", "mp3", "flac", "aac", None]
    for maker, kind in (
        (media_samples.png, "PNG"),
        (media_samples.jpeg, "JPEG"),
        (media_samples.webp, "WEBP"),
    ):
        image = opened(maker(96, 64, seed=1))
        assert (image.format, image.size) == (kind, (96, 64))
    assert media_samples.png(64, 64, seed=1) == media_samples.png(64, 64, seed=1)
    assert media_samples.png(64, 64, seed=1) != media_samples.png(64, 64, seed=2)


# ---- catalogue --------------------------------------------------------------------------------------


async def test_every_media_type_is_in_the_catalogue(fake: FakeVenice) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, verify=TLS) as http:  # both lists are public
        lists = {
            kind: (await http.get("/models", params={"type": kind})).json()
            for kind in ("image", "upscale", "inpaint", "tts", "asr", "video", "all")
        }
        styles = await http.get("/image/styles")

    ids = {kind: [m["id"] for m in body["data"]] for kind, body in lists.items()}
    assert ids["image"] == ["venice-sd35", "flux-2-pro"]
    inpaint = ["firered-image-edit", "qwen-image-2-edit"]  # one edits a picture, one combines several
    assert (ids["upscale"], ids["inpaint"], ids["asr"]) == (["upscaler"], inpaint, [ASR])
    assert ids["video"] == [T2V, "wan-2-7-image-to-video"]
    assert len(ids["all"]) == len(fake.models)
    for body in lists.values():
        assert openapi.validate_response("GET", "/models", 200, body) == []
    video = lists["video"]["data"][0]["model_spec"]["constraints"]
    assert video["durations"] == ["5s", "10s"] and video["model_type"] == "text-to-video"
    assert (video["audio"], video["audio_configurable"]) == (True, False)
    assert styles.status_code == 200 and "Anime" in styles.json()["data"]
    assert openapi.validate_response("GET", "/image/styles", 200, styles.json()) == []


# ---- image generation -----------------------------------------------------------------------------


async def test_generate_returns_real_images_of_the_asked_size(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    body = {
        "model": "venice-sd35",
        "prompt": "a lighthouse",
        "width": 320,
        "height": 256,
        "format": "png",
        "variants": 2,
        "seed": 7,
    }
    response = await client.post("/image/generate", json=body)

    assert response.status_code == 200 and valid("/image/generate", response)
    images = [base64.b64decode(data) for data in response.json()["images"]]
    assert [(opened(i).format, opened(i).size) for i in images] == [("PNG", (320, 256))] * 2
    assert images[0] != images[1]  # variants differ
    assert response.headers["x-venice-is-blurred"] == "false"
    assert response.headers["x-venice-is-content-violation"] == "false"
    assert response.headers["cf-ray"] and response.headers["x-ratelimit-remaining-requests"]
    assert fake.calls_to("/image/generate")[0].body == body
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.02)  # $0.01 an image

    webp = await client.post(
        "/image/generate", json={"model": "venice-sd35", "prompt": "x", "width": 64, "height": 64}
    )
    assert opened(base64.b64decode(webp.json()["images"][0])).format == "WEBP"  # the default format


async def test_generate_by_aspect_ratio_and_as_binary(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.deprecated_models["flux-2-pro"] = "flux-2-pro goes away soon"
    response = await client.post(
        "/image/generate",
        json={
            "model": "flux-2-pro",
            "prompt": "a wide valley",
            "aspect_ratio": "16:9",
            "format": "jpeg",
            "return_binary": True,
        },
    )

    assert response.headers["content-type"] == "image/jpeg"
    assert opened(response.content).size == (1024, 576)
    assert response.headers["x-venice-model-deprecation-warning"] == "flux-2-pro goes away soon"
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.04)  # the 1K tier
    wrong = await client.post(
        "/image/generate", json={"model": "flux-2-pro", "prompt": "x", "aspect_ratio": "21:9"}
    )
    assert wrong.status_code == 400 and "aspect_ratio" in wrong.json()["details"]


async def test_generate_blurs_and_flags(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    small = {"model": "venice-sd35", "width": 64, "height": 64}
    adult = await client.post("/image/generate", json={**small, "prompt": "an NSFW poster"})
    unsafe_ok = await client.post(
        "/image/generate", json={**small, "prompt": "an NSFW poster", "safe_mode": False}
    )
    violent = await client.post("/image/generate", json={**small, "prompt": "forbidden-violence here"})
    fake.adult_words = ("spicy",)
    custom = await client.post("/image/generate", json={**small, "prompt": "spicy noodles"})

    flags = [
        (r.headers["x-venice-is-blurred"], r.headers["x-venice-is-content-violation"])
        for r in (adult, unsafe_ok, violent, custom)
    ]
    assert flags == [("true", "false"), ("false", "false"), ("false", "true"), ("true", "false")]


async def test_generate_refusals(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    unknown = await client.post("/image/generate", json={"model": "dall-e-9", "prompt": "x"})
    text = await client.post("/image/generate", json={"model": "llama-3.3-70b", "prompt": "x"})
    long = await client.post("/image/generate", json={"model": "venice-sd35", "prompt": "x" * 1501})
    fake.balance["canConsume"] = False
    broke = await client.post("/image/generate", json={"model": "venice-sd35", "prompt": "x"})

    assert unknown.status_code == text.status_code == 400
    assert unknown.json() == {"error": "Invalid model specified", "code": "INVALID_MODEL"}
    assert long.status_code == 400 and "1500" in long.json()["error"]
    assert broke.status_code == 402
    for response in (unknown, long):
        assert valid("/image/generate", response)


# ---- upscale and edit ----------------------------------------------------------------------------


async def test_upscale_json_and_multipart(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    source = media_samples.png(256, 256)
    by_json = await client.post(
        "/image/upscale", json={"image": base64.b64encode(source).decode(), "scale": 2}
    )
    by_form = await client.post(
        "/image/upscale",
        data={"scale": "4"},
        files=multipart_file("image", media_samples.jpeg(300, 220), "image/jpeg"),
    )

    assert by_json.headers["content-type"] == "image/png"
    assert opened(by_json.content).size == (512, 512)
    assert opened(by_form.content).size == (1200, 880)
    assert fake.last_upscale_size == len(media_samples.jpeg(300, 220))
    [form_call] = fake.calls_to("/image/upscale")[1:]
    assert form_call.body["image"]["size"] == fake.last_upscale_size
    assert form_call.files["image"].data[:2] == b"\xff\xd8"  # the JPEG itself is kept for tests
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.02 - 0.08)


async def test_upscale_refusals_and_echo(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    tiny = await client.post(
        "/image/upscale", files=multipart_file("image", media_samples.png(200, 200), "image/png")
    )
    junk = await client.post(
        "/image/upscale", files=multipart_file("image", b"not an image at all", "image/png")
    )
    not_b64 = await client.post("/image/upscale", json={"image": "***"})
    three = await client.post(
        "/image/upscale", json={"image": base64.b64encode(media_samples.png(256, 256)).decode(), "scale": 3}
    )
    fake.max_image_bytes = 1000
    big = await client.post("/image/upscale", files=multipart_file("image", bytes(1001), "image/png"))
    fake.upscale_echo, fake.max_image_bytes = True, 25 * 1024 * 1024
    payload = b"\x89PNG anything at all" * 1000
    echoed = await client.post("/image/upscale", files=multipart_file("image", payload, "image/png"))

    assert (
        tiny.status_code == 400
        and "65536 pixels" in tiny.json()["error"]
        and "200x200" in tiny.json()["error"]
    )
    assert junk.status_code == not_b64.status_code == three.status_code == 400
    assert "2 or 4" in three.json()["error"]
    assert big.status_code == 413 and big.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert echoed.content == payload and echoed.headers["content-type"] == "image/png"
    assert fake.last_upscale_size == len(payload)


async def test_edit_returns_a_changed_image(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    source = media_samples.png(320, 240, color=(200, 30, 30))
    edited = await client.post(
        "/image/edit", data={"prompt": "make it blue"}, files=multipart_file("image", source, "image/png")
    )
    cropped = await client.post(
        "/image/edit",
        json={
            "image": base64.b64encode(source).decode(),
            "prompt": "square it",
            "aspect_ratio": "1:1",
            "output_format": "webp",
        },
    )

    assert edited.status_code == 200 and edited.headers["content-type"] == "image/png"
    before, after = opened(source).convert("RGB"), opened(edited.content).convert("RGB")
    assert after.size == (320, 240)
    pixel = before.getpixel((300, 5))
    assert isinstance(pixel, tuple) and after.getpixel((300, 5)) == tuple(255 - c for c in pixel)  # inverted
    assert edited.headers["x-venice-model-id"] == "firered-image-edit"
    assert opened(cropped.content).format == "WEBP" and opened(cropped.content).size == (240, 240)
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.08)


async def test_edit_refusals(client: httpx.AsyncClient) -> None:
    source = base64.b64encode(media_samples.png(256, 256)).decode()
    junk = await client.post("/image/edit", json={"image": base64.b64encode(b"nope").decode(), "prompt": "x"})
    policy = await client.post("/image/edit", json={"image": source, "prompt": "add forbidden-violence"})
    unknown = await client.post(
        "/image/edit", json={"image": source, "prompt": "x", "model": "qwen-edit-uncensored"}
    )
    url = await client.post("/image/edit", json={"image": "https://example.com/cat.png", "prompt": "x"})

    assert junk.status_code == 400 and "decoded" in junk.json()["error"]
    assert policy.status_code == 422 and "content policy" in policy.json()["error"]
    assert unknown.status_code == 400 and unknown.json()["code"] == "INVALID_MODEL"
    assert url.status_code == 400  # the fake never fetches


# ---- speech -------------------------------------------------------------------------------------------


async def test_speech_formats(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    text = "Hello there, this is a voice note of some length."  # 49 characters: 2.94 s
    opus = await client.post(
        "/audio/speech", json={"input": text, "voice": "af_bella", "response_format": "opus"}
    )
    wav = await client.post("/audio/speech", json={"input": text, "response_format": "wav"})
    mp3 = await client.post("/audio/speech", json={"input": "Hi"})  # mp3 by default, at least 0.5 s

    assert opus.headers["content-type"] == "audio/opus"
    media_samples.parse_ogg(opus.content)
    assert audio_length(OggOpus, opus.content) == pytest.approx(len(text) * 0.06, abs=0.001)
    with wave.open(io.BytesIO(wav.content)) as reader:
        assert reader.getnframes() / reader.getframerate() == pytest.approx(len(text) * 0.06, abs=0.001)
    assert wav.headers["content-type"] == "audio/wav"
    assert mp3.headers["content-type"] == "audio/mpeg" and mp3.content.startswith(b"ID3")
    assert audio_length(MP3, mp3.content) == pytest.approx(0.5, abs=0.03)
    assert fake.speech_characters == 2 * len(text) + 2
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - fake.speech_characters * 3.5 / 1e6)


async def test_speech_voices_belong_to_their_model(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.models.append(orpheus_tts_model())
    foreign = await client.post("/audio/speech", json={"input": "Hi", "model": "tts-kokoro", "voice": "tara"})
    own = await client.post("/audio/speech", json={"input": "Hi", "model": "tts-orpheus", "voice": "tara"})
    default_voice = await client.post("/audio/speech", json={"input": "Hi", "model": "tts-orpheus"})
    unsupported = await client.post(
        "/audio/speech", json={"input": "Hi", "model": "tts-orpheus", "response_format": "aac"}
    )
    absent = await client.post(
        "/audio/speech", json={"input": "Hi", "model": "tts-xai-v1"}
    )  # in the spec, not here

    assert foreign.status_code == 400 and foreign.json()["error"].startswith("Invalid voice 'tara'")
    assert valid("/audio/speech", foreign)
    assert own.status_code == default_voice.status_code == 200
    assert unsupported.status_code == 400 and "response_format" in unsupported.json()["details"]
    assert absent.status_code == 400 and absent.json()["code"] == "INVALID_MODEL"


# ---- transcription ---------------------------------------------------------------------------------


async def transcribe(
    client: httpx.AsyncClient, data: bytes, name: str = "note.ogg", **fields: str
) -> httpx.Response:
    return await client.post(
        "/audio/transcriptions",
        data={"model": ASR, **fields},
        files={"file": (name, data, "application/octet-stream")},
    )


async def test_transcription_hears_the_duration(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    ogg = await transcribe(client, media_samples.ogg_opus(2.5))
    wav = await transcribe(client, media_samples.wav(1.5), "a.wav")
    mp4 = await transcribe(client, media_samples.mp4_video(5), "a.mp4", timestamps="true")
    fake.transcript = "Something else entirely"
    text = await transcribe(client, media_samples.mp3(1), "a.mp3", response_format="text")

    assert ogg.json() == {"text": "Hello from a voice note", "duration": 2.5} and valid(
        "/audio/transcriptions", ogg
    )
    assert wav.json()["duration"] == 1.5 and mp4.json()["duration"] == 5.0
    assert mp4.json()["timestamps"]["word"][-1]["end"] == 5.0
    assert text.headers["content-type"].startswith("text/plain") and text.text == "Something else entirely"
    assert fake.calls_to("/audio/transcriptions")[0].files["file"].data[:4] == b"OggS"
    heard = 2.5 + 1.5 + 5 + audio_length(MP3, media_samples.mp3(1))
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - heard * 0.0001)  # $0.0001 a second


async def test_transcription_refusals(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    ogg = bytearray(media_samples.ogg_opus(1))
    ogg[-3] ^= 0xFF
    silent_wav = media_samples.wav(0)
    fake.max_transcription_bytes = 10_000
    too_big = await transcribe(client, media_samples.wav(1))  # 32 KB
    fake.max_transcription_bytes = 25 * 1024 * 1024
    answers = {
        "unknown format": await transcribe(client, b"just some text, not audio", "a.txt"),
        "empty": await transcribe(client, b"", "a.ogg"),
        "bad CRC": await transcribe(client, bytes(ogg)),
        "no samples": await transcribe(client, silent_wav, "a.wav"),
        "truncated mp4": await transcribe(client, media_samples.mp4_video(5)[:40], "a.mp4"),
    }

    assert too_big.status_code == 413 and too_big.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert valid("/audio/transcriptions", too_big)
    assert {k: r.status_code for k, r in answers.items()} == {
        "unknown format": 400,
        "empty": 422,
        "bad CRC": 422,
        "no samples": 422,
        "truncated mp4": 422,
    }
    assert "Unsupported audio format" in answers["unknown format"].json()["error"]
    assert "bad CRC" in answers["bad CRC"].json()["error"]
    for response in answers.values():
        assert valid("/audio/transcriptions", response)


# ---- video ----------------------------------------------------------------------------------------------


async def test_video_lifecycle(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    quote = await client.post("/video/quote", json={"model": T2V, "duration": "5s"})
    dear = await client.post("/video/quote", json={"model": T2V, "duration": "10s", "resolution": "1080p"})
    queued = await client.post(
        "/video/queue", json={"model": T2V, "prompt": "a gondola at dusk", "duration": "5s"}
    )
    job = {"model": T2V, "queue_id": queued.json()["queue_id"]}
    polls = [await client.post("/video/retrieve", json=job) for _ in range(3)]
    done = await client.post("/video/complete", json=job)
    gone = await client.post("/video/retrieve", json=job)

    assert quote.json() == {"quote": 0.5} and dear.json() == {"quote": 1.5}
    assert queued.json()["model"] == T2V and valid("/video/queue", queued)
    assert [p.json()["status"] for p in polls[:2]] == ["PROCESSING", "PROCESSING"]
    assert all(valid("/video/retrieve", p) for p in polls[:2])
    assert polls[2].headers["content-type"] == "video/mp4"
    assert media_samples.mp4_duration(polls[2].content) == 5.0
    assert done.json() == {"success": True} and fake.video_jobs[job["queue_id"]].completed
    assert gone.status_code == 404
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.5)


async def test_video_refusals_and_failures(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    not_video = await client.post("/video/quote", json={"model": "venice-sd35", "duration": "5s"})
    bad_duration = await client.post("/video/quote", json={"model": T2V, "duration": "7s"})
    policy = await client.post(
        "/video/queue", json={"model": T2V, "prompt": "forbidden-violence", "duration": "5s"}
    )
    i2v = {"model": "wan-2-7-image-to-video", "prompt": "x", "duration": "5s"}
    no_image = await client.post("/video/queue", json=i2v)
    unknown = await client.post("/video/retrieve", json={"model": T2V, "queue_id": "nope"})

    fake.video_polls_until_done, fake.video_fail_job = 0, 422
    refused = await client.post("/video/queue", json={"model": T2V, "prompt": "x", "duration": "10s"})
    provider = await client.post(
        "/video/retrieve", json={"model": T2V, "queue_id": refused.json()["queue_id"]}
    )
    fake.video_fail_job = 500
    crashed = await client.post("/video/queue", json={"model": T2V, "prompt": "x", "duration": "5s"})
    failed = await client.post("/video/retrieve", json={"model": T2V, "queue_id": crashed.json()["queue_id"]})

    assert not_video.status_code == bad_duration.status_code == no_image.status_code == 400
    assert (
        policy.status_code == 422
        and isinstance(policy.json()["error"], str)
        and valid("/video/queue", policy)
    )
    assert unknown.status_code == 404 and valid("/video/retrieve", unknown)
    assert provider.status_code == 422 and provider.json()["error"]["type"] == "provider_content_policy"
    assert provider.json()["error"]["credits_refunded"] is True and valid("/video/retrieve", provider)
    assert failed.status_code == 500 and valid("/video/retrieve", failed)
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 0.5)  # the refused 10 s job was refunded


async def test_a_restarted_bot_resumes_an_existing_job(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.video_jobs["q-1"] = VideoJob(queue_id="q-1", model=T2V, prompt="x", duration="10s", polls=2)
    resumed = await client.post(
        "/video/retrieve", json={"model": T2V, "queue_id": "q-1", "delete_media_on_completion": True}
    )
    assert media_samples.mp4_duration(resumed.content) == 10.0
    assert fake.video_jobs["q-1"].delivered and fake.video_jobs["q-1"].completed


# ---- the spec catches wrong bodies ------------------------------------------------------------------


async def test_wrong_media_bodies_are_spec_errors() -> None:
    async with (
        FakeVenice(validate=True) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH, verify=TLS) as client,
    ):
        nine = await client.post(
            "/image/generate", json={"model": "venice-sd35", "prompt": "x", "variants": 9}
        )
        long = await client.post("/audio/speech", json={"input": "x" * 4097})
        as_json = await client.post("/audio/transcriptions", json={"file": "aGVsbG8=", "model": ASR})
        scale = await client.post(
            "/image/upscale",
            data={"scale": "9"},
            files=multipart_file("image", media_samples.png(256, 256), "image/png"),
        )
        extra = await client.post(
            "/audio/transcriptions",
            data={"model": ASR, "temperature": "0"},
            files=multipart_file("file", media_samples.wav(1), "audio/wav"),
        )

    assert [r.status_code for r in (nine, long, as_json, scale, extra)] == [400, 400, 415, 400, 400]
    assert nine.json()["issues"][0]["path"] == ["variants"]
    assert scale.json()["issues"][0]["path"] == ["scale"]
    assert as_json.json() == {"error": "Invalid request content-type"}
    assert len(fake.spec_errors) == 5
    assert "variants" in fake.spec_errors[0] and "content type application/json" in fake.spec_errors[2]
    assert "temperature" in fake.spec_errors[4]


async def test_keep_uploads_false_forgets_big_bodies(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.keep_uploads, fake.upscale_echo = False, True
    image = media_samples.png(256, 256) + bytes(100_000)  # padding makes its base64 long
    by_json = await client.post("/image/upscale", json={"image": base64.b64encode(image).decode()})
    by_form = await client.post("/image/upscale", files=multipart_file("image", image, "image/png"))

    assert by_json.content == by_form.content == image
    first, second = fake.calls_to("/image/upscale")
    assert first.body["image"].startswith("<") and "dropped" in first.body["image"]
    assert second.files["image"].data == b"" and second.body["image"]["size"] == len(image)
