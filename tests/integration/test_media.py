"""Media through the core against the fake Venice: images, speech, voice notes, vision, video.

Every paid action is checked in the ledger too: charged at the listed price when it worked,
refunded in full when it did not.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import mutagen.oggopus
import pytest
from PIL import Image

from core.errors import BotError, InvalidInput, PermissionDenied
from core.events import Attachment, Destination, RepliedMessage, Reply
from core.venice.errors import VeniceError
from tests.fakes import media_samples
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_catalogue import orpheus_tts_model
from tests.helpers import ask, message

USER = {"platform": "telegram", "user_id": "7"}  # not an admin: pays from the ledger
FULL = 1_000_000  # the default allowance, $1.00, in micro-USD


async def balance_of(service: Any) -> int:
    await service.wait_idle()
    return await service.store.ledger.balance(await service.account_of(message("", **USER)))


def photo(width: int = 512, height: int = 512) -> Attachment:
    return Attachment("image", "image/png", media_samples.png(width, height), filename="photo.png")


def voice_note(seconds: float = 3.0) -> Attachment:
    return Attachment("voice", "audio/ogg", media_samples.ogg_opus(seconds), duration=seconds)


def opened(attachment: Attachment) -> Image.Image:
    image = Image.open(io.BytesIO(attachment.data))
    image.load()
    return image


# ----- /imagine


async def test_imagine_makes_the_variants_asked_for_and_charges_per_image(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        answer = await ask(service, "/imagine a red fox in snow --variants 2 --seed 42", **USER)
        assert [opened(a).size for a in answer.reply.attachments] == [(1024, 1024), (1024, 1024)]
        assert "a red fox in snow" in answer.text and "seed 42" in answer.text
        body = venice.calls_to("/image/generate")[0].body
        assert body["variants"] == 2 and body["seed"] == 42 and body["safe_mode"] is True
        assert body["format"] == "png"
        assert await balance_of(service) == FULL - 2 * 10_000  # venice-sd35: $0.01 an image


async def test_imagine_sizes_follow_the_aspect_ratio_and_the_model_limits(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        answer = await ask(service, "/imagine a wide valley --aspect 16:9", **USER)
        width, height = opened(answer.reply.attachments[0]).size
        assert width == 1280 and 0.55 < height / width < 0.57
        with pytest.raises(InvalidInput, match="64 to 1280"):
            await ask(service, "/imagine a tower --size 4000x4000", **USER)
        with pytest.raises(InvalidInput, match="variants must be 1 to 4"):
            await ask(service, "/imagine cats --variants 9", **USER)
        with pytest.raises(BotError, match="no option --colour"):
            await ask(service, "/imagine cats --colour red", **USER)
    assert len(venice.calls_to("/image/generate")) == 1  # refusals cost no call
    assert venice.spec_errors == []


async def test_blurred_images_come_with_a_notice_and_violations_are_refunded(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        blurred = await ask(service, "/imagine nsfw portrait", **USER)
        assert blurred.reply.attachments and "blurred" in blurred.reply.notices[0].text
        assert "/safemode off" in blurred.reply.notices[0].text
        with pytest.raises(InvalidInput, match="content policy.*not charged"):
            await ask(service, "/imagine forbidden-violence scene", **USER)
        assert await balance_of(service) == FULL - 10_000  # only the blurred one is paid


async def test_safe_mode_is_a_chat_admin_setting_and_follows_discords_nsfw_flag(
    make_service: Any, venice: FakeVenice
) -> None:
    group = {"platform": "telegram", "chat_id": "-100", "is_direct": False}
    async with make_service() as service:
        with pytest.raises(PermissionDenied):
            await ask(service, "/safemode off", user_id="7", **group)
        await ask(service, "/safemode off", user_id="8", is_chat_admin=True, **group)
        await ask(service, "/imagine nude statue", user_id="7", **group)
        nsfw = await ask(service, "/imagine a statue", platform="discord", chat_id="5", nsfw=True)
        sfw = await ask(service, "/imagine a statue", platform="discord", chat_id="6", nsfw=False)
        said = (await ask(service, "/safemode off", platform="discord", chat_id="6", nsfw=False)).text
    assert [c.body["safe_mode"] for c in venice.calls_to("/image/generate")] == [False, False, True]
    assert nsfw.reply.attachments and sfw.reply.attachments and "NSFW" in said


@pytest.mark.parametrize(("status", "fragment"), [(400, "request"), (429, "busy"), (504, "")])
async def test_image_errors_are_refunded_with_a_clear_message(
    make_service: Any, venice: FakeVenice, status: int, fragment: str
) -> None:
    venice.fail("/image/generate", status, times=10)
    async with make_service() as service:
        with pytest.raises(VeniceError) as info:
            await ask(service, "/imagine a lighthouse", **USER)
        assert info.value.user_message.endswith("You were not charged.")
        assert fragment.lower() in info.value.user_message.lower()
        assert await balance_of(service) == FULL
        assert await service.store.ledger.check() == []


# ----- /upscale and /edit


async def test_upscale_takes_the_attached_or_the_replied_to_image(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        attached = await ask(service, "/upscale 2", attachments=(photo(300, 300),), **USER)
        assert opened(attached.reply.attachments[0]).size == (600, 600)
        replied = await ask(
            service,
            "/upscale 4",
            **USER,
            reply_to=RepliedMessage("", from_bot=True, attachments=(photo(256, 256),)),
        )
        assert opened(replied.reply.attachments[0]).size == (1024, 1024)
        upload = venice.calls_to("/image/upscale")[0]
        assert upload.headers["content-type"].startswith("multipart/form-data")  # no base64 copy
        assert await balance_of(service) == FULL - 20_000 - 80_000
    assert venice.spec_errors == []


async def test_upscale_limits_are_checked_before_upload(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        with pytest.raises(InvalidInput, match="Attach an image to /upscale"):
            await ask(service, "/upscale", **USER)
        with pytest.raises(InvalidInput, match="at least 65,536 pixels"):
            await ask(service, "/upscale", attachments=(photo(100, 100),), **USER)
        huge = Attachment("image", "image/png", media_samples.png(300, 300) + bytes(26 * 1024 * 1024))
        with pytest.raises(InvalidInput, match="under 25 MB"):
            await ask(service, "/upscale", attachments=(huge,), **USER)
        junk = Attachment("image", "image/png", b"not an image at all")
        with pytest.raises(InvalidInput, match="cannot read that image"):
            await ask(service, "/upscale", attachments=(junk,), **USER)
        with pytest.raises(InvalidInput, match="under 25 MB"):
            service.uploads.check_download("image", 30 * 1024 * 1024, None)
        assert await balance_of(service) == FULL
    assert venice.calls_to("/image/upscale") == []


async def test_edit_changes_the_image_and_a_content_policy_refusal_is_refunded(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        edited = await ask(service, "/edit make the sky purple", attachments=(photo(),), **USER)
        assert opened(edited.reply.attachments[0]).size == (512, 512)
        charged = FULL - await balance_of(service)
        assert charged > 0
        venice.fail("/image/edit", 422, {"error": "Content policy violation"})
        with pytest.raises(VeniceError) as info:
            await ask(service, "/edit something", attachments=(photo(),), **USER)
        assert info.value.user_message.endswith("You were not charged.")
        assert FULL - await balance_of(service) == charged
        form = venice.calls_to("/image/edit")[0].body
        assert form["prompt"] == "make the sky purple" and form["model"] == "firered-image-edit"
    assert venice.spec_errors == []


# ----- speech


def ogg_ok(attachment: Attachment) -> float:
    """The attachment is an Ogg/Opus voice note; returns its length in seconds."""
    media_samples.parse_ogg(attachment.data)  # pages, CRCs, OpusHead
    assert attachment.kind == "voice" and attachment.mime_type == "audio/ogg"
    return float(mutagen.oggopus.OggOpus(io.BytesIO(attachment.data)).info.length)


async def test_speak_sends_an_ogg_opus_voice_note_and_charges_per_character(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        answer = await ask(service, "/speak Hello there, **friend**! See https://example.org", **USER)
        (note,) = answer.reply.attachments
        assert ogg_ok(note) > 0.5 and note.duration and abs(note.duration - ogg_ok(note)) < 0.1
        body = venice.calls_to("/audio/speech")[0].body
        assert body["response_format"] == "opus" and body["voice"] == "af_sky"
        assert "**" not in body["input"] and "example.org" not in body["input"]  # read as speech
        assert await balance_of(service) < FULL
    assert venice.spec_errors == []


async def test_a_long_text_is_spoken_in_sentence_bounded_parts_up_to_the_limit(
    make_service: Any, venice: FakeVenice
) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(600))  # ~16,000 characters
    async with make_service(max_spoken_parts=3, max_message_chars=20_000) as service:
        answer = await ask(service, f"/speak {text}", **USER)
    parts = [c.body["input"] for c in venice.calls_to("/audio/speech")]
    assert len(parts) == 3 and len(answer.reply.attachments) == 3
    assert all(len(p) <= 4096 and p.endswith(".") for p in parts)
    assert "rest is in the text" in answer.reply.notices[0].text


async def test_voice_lists_voices_switches_model_for_another_models_voice_and_refuses_unknown(
    make_service: Any, venice: FakeVenice
) -> None:
    other = orpheus_tts_model()
    venice.models.append(other)
    other_voice = other["model_spec"]["voices"][0]
    async with make_service() as service:
        listing = await ask(service, "/voice", **USER)
        assert "af_sky" in listing.text and any(c.command == "/voice af_bella" for c in listing.reply.choices)
        switched = await ask(service, f"/voice {other_voice}", **USER)
        assert other["id"] in switched.text
        await ask(service, "/speak Hi", **USER)
        with pytest.raises(InvalidInput, match="Did you mean: af_bella"):
            await ask(service, "/voice af_bela", **USER)
    body = venice.calls_to("/audio/speech")[0].body
    assert (body["model"], body["voice"]) == (other["id"], other_voice)


async def test_a_voice_venice_refuses_is_a_clear_error_and_no_charge(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.fail("/audio/speech", 400, {"error": "Invalid voice: af_sky is not available for this model"})
    async with make_service() as service:
        with pytest.raises(VeniceError) as info:
            await ask(service, "/speak Hello", **USER)
        assert "not charged" in info.value.user_message
        assert await balance_of(service) == FULL


# ----- voice notes in


async def test_a_voice_note_is_transcribed_shown_and_answered_and_mirrored_as_voice(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.transcript = "What is the capital of France?"
    venice.script.append(ChatScript(content="Paris."))
    venice.script.append(ChatScript(content="Lyon is second."))
    async with make_service() as service:
        await ask(service, "/voicemode mirror", **USER)
        spoken = await ask(service, "", attachments=(voice_note(),), **USER)
        assert spoken.text.startswith("> 🎤 What is the capital of France?")
        assert spoken.text.endswith("Paris.")
        assert ogg_ok(spoken.reply.attachments[0]) > 0
        typed = await ask(service, "And the second city?", **USER)
        assert typed.reply.attachments == ()  # text gets text in mirror mode
        asked = venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
        assert "capital of France" in asked
        speech = venice.calls_to("/audio/speech")
        assert [c.body["input"] for c in speech] == ["Paris."]  # the transcript is not read back
        upload = venice.calls_to("/audio/transcriptions")[0]
        assert upload.body["model"] == "nvidia/parakeet-tdt-0.6b-v3"
    assert venice.spec_errors == []


async def test_voice_limits_and_bad_audio_are_refused_before_upload_and_cost_nothing(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(max_voice_seconds=60) as service:
        with pytest.raises(InvalidInput, match="1 min 30 s long.*up to 1 min 00 s"):
            await ask(service, "", attachments=(voice_note(90),), **USER)
        with pytest.raises(InvalidInput, match="1 min 30 s"):
            service.uploads.check_download("voice", 10_000, 90)
        for data in (b"", b"OggS garbage that is not audio", bytes(4096)):
            with pytest.raises(InvalidInput, match="cannot read that audio"):
                await ask(service, "", attachments=(Attachment("voice", "audio/ogg", data),), **USER)
        assert await balance_of(service) == FULL
    assert venice.calls_to("/audio/transcriptions") == []


async def test_a_voice_note_whose_header_claims_2_s_of_400_is_limited_and_priced_as_400(
    make_service: Any, venice: FakeVenice
) -> None:
    lying = Attachment("voice", "audio/ogg", media_samples.lying_ogg_opus(400, 2), duration=2)
    async with make_service(max_voice_seconds=60) as service:
        with pytest.raises(InvalidInput, match="6 min 40 s long"):
            await ask(service, "", attachments=(lying,), **USER)
    assert venice.calls_to("/audio/transcriptions") == []
    paid = []
    for note in (lying, Attachment("voice", "audio/ogg", media_samples.ogg_opus(400), duration=400)):
        async with make_service(max_voice_seconds=600) as service:
            before = await balance_of(service)
            await service.speech.transcribe(message("", **USER), note)
            paid.append(before - await balance_of(service))
    assert paid[0] == paid[1] > 0  # the real length's price, as an honest 400 s note pays


@pytest.mark.parametrize("status", [413, 415, 422])
async def test_venice_refusing_the_audio_is_refunded(
    make_service: Any, venice: FakeVenice, status: int
) -> None:
    venice.fail("/audio/transcriptions", status)
    async with make_service() as service:
        with pytest.raises(VeniceError) as info:
            await ask(service, "", attachments=(voice_note(),), **USER)
        assert "not charged" in info.value.user_message
        assert await balance_of(service) == FULL
    assert venice.calls_to("/chat/completions") == []


async def test_silence_is_not_answered_or_charged(make_service: Any, venice: FakeVenice) -> None:
    venice.transcript = "  "
    async with make_service() as service:
        with pytest.raises(InvalidInput, match="No speech was heard"):
            await ask(service, "", attachments=(voice_note(),), **USER)
        assert await balance_of(service) == FULL


async def test_a_wav_file_and_a_video_note_are_transcribed_too(make_service: Any, venice: FakeVenice) -> None:
    venice.transcript = "hello"
    async with make_service() as service:
        await ask(
            service, "", attachments=(Attachment("audio", "audio/wav", media_samples.wav(2.0)),), **USER
        )
        await ask(
            service, "", attachments=(Attachment("video", "video/mp4", media_samples.mp4_video(3.0)),), **USER
        )
    files = [c.body["file"] for c in venice.calls_to("/audio/transcriptions")]
    assert len(files) == 2


# ----- vision


def image_parts(call: Any) -> list[str]:
    content = call.body["messages"][-1]["content"]
    return [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


async def test_a_photo_with_a_question_goes_to_a_vision_model_as_a_data_url(
    make_service: Any, venice: FakeVenice
) -> None:
    picture = photo(200, 100)
    async with make_service(default_chat_model="venice-uncensored") as service:
        answer = await ask(service, "What colour is this?", attachments=(picture,), **USER)
        bare = await ask(service, "", attachments=(picture,), **USER)
    first, second = venice.calls_to("/chat/completions")
    assert first.body["model"] == "qwen3-vl-235b-a22b"  # venice-uncensored cannot see
    (url,) = image_parts(first)
    assert url == "data:image/png;base64," + base64.b64encode(picture.data).decode()
    assert "cannot see images" in answer.reply.notices[0].text
    assert "Describe this image." in str(second.body["messages"][-1]["content"])
    assert bare.text
    assert venice.spec_errors == []


async def test_without_the_automatic_switch_a_model_without_vision_says_so(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(default_chat_model="venice-uncensored", vision_auto_switch=False) as service:
        with pytest.raises(InvalidInput, match="cannot see images"):
            await ask(service, "What is it?", attachments=(photo(),), **USER)
        assert await balance_of(service) == FULL
    assert venice.calls_to("/chat/completions") == []


# ----- /video


async def quote_and_confirm(service: Any, prompt: str = "a cat surfing") -> tuple[str, Any]:
    quote = await ask(service, f"/video {prompt}", **USER)
    confirm = next(c.command for c in quote.reply.choices if c.command.startswith("/videoconfirm"))
    return confirm, await service.handle_message(message(confirm, **USER))


async def test_video_is_quoted_confirmed_polled_delivered_and_deleted_from_venice(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(video_poll_seconds=1) as service:
        quote = await ask(service, "/video a cat surfing", **USER)
        assert "$" in quote.text and len(quote.reply.choices) == 2
        assert await balance_of(service) == FULL  # a quote is free
        confirm, stream = await quote_and_confirm(service)
        statuses = []
        async for _ in stream:
            statuses.append(stream.status)
        reply = await stream.reply()
        (video,) = reply.attachments
        assert video.kind == "video" and video.mime_type == "video/mp4" and video.data[4:8] == b"ftyp"
        assert any("Rendering" in s for s in statuses)
        await service.videos.wait_idle()
        with pytest.raises(InvalidInput, match="delivered already"):
            await ask(service, confirm, **USER)
        quoted = venice.calls_to("/video/quote")[0].body["model"]
        assert venice.calls_to("/video/complete")[0].body["model"] == quoted
        assert FULL - await balance_of(service) > 0
    assert venice.spec_errors == []


async def test_only_the_asker_confirms_and_cancel_costs_nothing(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        quote = await ask(service, "/video a dog", **USER)
        confirm, cancel = (c.command for c in quote.reply.choices)
        with pytest.raises(PermissionDenied):
            await ask(service, confirm, platform="telegram", user_id="8")
        assert "Nothing was charged" in (await ask(service, cancel, **USER)).text
        with pytest.raises(InvalidInput, match="cancelled"):
            await ask(service, confirm, **USER)
    assert venice.calls_to("/video/queue") == []


async def test_a_video_that_times_out_is_refunded(make_service: Any, venice: FakeVenice) -> None:
    venice.video_polls_until_done = 10_000
    async with make_service(video_poll_seconds=30, video_timeout_seconds=120) as service:
        _, stream = await quote_and_confirm(service)
        with pytest.raises(BotError, match="within 2 minutes.*not charged"):
            await stream.reply()
        assert await balance_of(service) == FULL


async def test_a_video_job_is_resumed_after_a_restart_and_delivered(
    make_service: Any, venice: FakeVenice, clock: Any
) -> None:
    venice.video_polls_until_done = 3
    async with make_service(video_poll_seconds=5) as service:
        _, stream = await quote_and_confirm(service)
        async for _ in stream:  # one progress update, then the bot stops
            break
    delivered: list[tuple[Destination, Reply]] = []

    async def deliver(destination: Destination, reply: Reply) -> None:
        delivered.append((destination, reply))

    async with make_service(video_poll_seconds=5) as service:
        service.deliverers["telegram"] = deliver
        await service.videos.wait_idle()
        assert len(delivered) == 1
        destination, reply = delivered[0]
        assert (destination.chat_id, destination.user_id) == ("chat-1", "7")
        assert reply.attachments[0].mime_type == "video/mp4"
        assert len(venice.calls_to("/video/queue")) == 1  # resumed, not queued again
        assert FULL - await balance_of(service) > 0
        assert await service.store.ledger.check() == []
    assert len(venice.calls_to("/video/complete")) == 1


async def test_a_video_refused_by_venices_content_policy_is_refunded(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.fail(
        "/video/queue", 422, {"error": {"message": "Content policy", "type": "provider_content_policy"}}
    )
    async with make_service() as service:
        quote = await ask(service, "/video a storm", **USER)
        with pytest.raises(VeniceError) as info:
            await ask(service, quote.reply.choices[0].command, **USER)
        assert info.value.user_message.endswith("You were not charged.")
        assert await balance_of(service) == FULL


async def test_a_voice_note_with_photos_is_transcribed_and_asked_with_the_photos(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.transcript = "Which of these is bigger?"
    async with make_service() as service:
        answer = await ask(service, "", attachments=(voice_note(), photo(300, 200), photo(200, 300)), **USER)
    assert answer.text.startswith("> 🎤 Which of these is bigger?")
    (call,) = venice.calls_to("/chat/completions")
    assert len(image_parts(call)) == 2
