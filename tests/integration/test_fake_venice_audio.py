"""Tests of the fake Venice's /audio/quote|queue|retrieve|complete, through plain httpx over real
HTTP: answers shaped as the spec says, prices from the models' pricing, options checked against
each model, and jobs that take N polls, fail, or never finish."""

from __future__ import annotations

import io

import httpx
import pytest
from mutagen.mp3 import MP3

from tests.fakes import media_samples, openapi
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_music_models import MUSIC_MODEL, MUSIC_USD_PER_SECOND, SOUND_MODEL, SOUND_USD
from tests.integration.test_fake_venice_media import client, fake, valid

__all__ = ["client", "fake"]  # the fixtures, shared with the media tests

pytestmark = pytest.mark.usefixtures("openapi_spec")


async def test_music_models_are_listed_as_the_spec_shapes_them(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/models", params={"type": "music"})).json()
    assert [m["id"] for m in listed["data"]] == [MUSIC_MODEL, SOUND_MODEL]
    assert openapi.validate_response("GET", "/models", 200, listed) == []
    assert all(m["type"] == "music" for m in listed["data"])


async def test_quotes_follow_each_models_pricing(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    default = await client.post("/audio/quote", json={"model": MUSIC_MODEL})
    minute = await client.post("/audio/quote", json={"model": MUSIC_MODEL, "duration_seconds": 60})
    sound = await client.post("/audio/quote", json={"model": SOUND_MODEL, "duration_seconds": "20"})
    assert default.json() == {"quote": round(MUSIC_USD_PER_SECOND * 30, 4)}  # the model's default length
    assert minute.json() == {"quote": round(MUSIC_USD_PER_SECOND * 60, 4)}
    assert sound.json() == {"quote": SOUND_USD}  # one price a sound
    assert all(valid("/audio/quote", r) for r in (default, minute, sound))
    narrator = dict(next(m for m in fake.models if m["id"] == SOUND_MODEL), id="narrator")
    narrator["model_spec"] = dict(
        narrator["model_spec"], pricing={"per_thousand_characters": {"usd": 0.1, "diem": 0.1}}
    )
    fake.models.append(narrator)
    uncounted = await client.post("/audio/quote", json={"model": "narrator"})
    counted = await client.post("/audio/quote", json={"model": "narrator", "character_count": 1500})
    assert uncounted.status_code == 400 and counted.json() == {"quote": 0.2}


async def test_a_track_takes_n_polls_then_is_an_mp3_of_its_length_and_complete_deletes_it(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    fake.music_polls_until_done = 2
    queued = await client.post(
        "/audio/queue", json={"model": MUSIC_MODEL, "prompt": "a waltz", "duration_seconds": 12}
    )
    job = {"model": MUSIC_MODEL, "queue_id": queued.json()["queue_id"]}
    polls = [await client.post("/audio/retrieve", json=job) for _ in range(3)]
    done = await client.post("/audio/complete", json=job)
    gone = await client.post("/audio/retrieve", json=job)

    assert queued.json()["status"] == "QUEUED" and valid("/audio/queue", queued)
    assert [p.json()["status"] for p in polls[:2]] == ["PROCESSING", "PROCESSING"]
    assert all(valid("/audio/retrieve", p) for p in polls[:2])
    assert polls[2].headers["content-type"] == "audio/mpeg"
    assert MP3(io.BytesIO(polls[2].content)).info.length == pytest.approx(12, abs=0.1)
    assert done.json() == {"success": True} and valid("/audio/complete", done)
    assert gone.status_code == 404
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - MUSIC_USD_PER_SECOND * 12)


async def test_a_sound_effect_is_a_wav(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.music_polls_until_done = 0
    queued = await client.post("/audio/queue", json={"model": SOUND_MODEL, "prompt": "thunder", "loop": True})
    done = await client.post(
        "/audio/retrieve", json={"model": SOUND_MODEL, "queue_id": queued.json()["queue_id"]}
    )
    assert done.headers["content-type"] == "audio/wav"
    assert media_samples.wav_duration(done.content) == pytest.approx(10)  # the model's default


async def test_options_a_model_does_not_take_are_refused(client: httpx.AsyncClient) -> None:
    def queue(**body: object) -> dict[str, object]:
        return {"model": SOUND_MODEL, "prompt": "a bell", **body}

    refusals = [
        await client.post("/audio/queue", json=queue(lyrics_prompt="ding dong")),
        await client.post("/audio/queue", json=queue(force_instrumental=True)),
        await client.post("/audio/queue", json=queue(duration_seconds=7)),  # not one of its lengths
        await client.post("/audio/queue", json=queue(prompt="ab")),  # shorter than it needs
        await client.post("/audio/quote", json={"model": MUSIC_MODEL, "duration_seconds": 301}),
        await client.post("/audio/quote", json={"model": "tts-kokoro"}),  # not a music model
    ]
    policy = await client.post("/audio/queue", json={"model": MUSIC_MODEL, "prompt": "forbidden-violence"})
    assert [r.status_code for r in refusals] == [400] * len(refusals)
    assert policy.status_code == 422 and valid("/audio/queue", policy)


async def test_jobs_can_fail_or_never_finish(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    async def queued() -> dict[str, str]:
        answer = await client.post("/audio/queue", json={"model": MUSIC_MODEL, "prompt": "a hymn"})
        return {"model": MUSIC_MODEL, "queue_id": answer.json()["queue_id"]}

    fake.music_polls_until_done, fake.music_fail_job = 0, 422
    refused = await client.post("/audio/retrieve", json=await queued())
    fake.music_fail_job = 500
    crashed = await client.post("/audio/retrieve", json=await queued())
    fake.music_fail_job, fake.music_polls_until_done = None, None
    endless = await queued()
    waits = [await client.post("/audio/retrieve", json=endless) for _ in range(5)]

    assert refused.status_code == 422 and valid("/audio/retrieve", refused)
    assert crashed.status_code == 500 and valid("/audio/retrieve", crashed)
    assert {w.json()["status"] for w in waits} == {"PROCESSING"}
    # the refused job was refunded at Venice; the crashed and the endless ones were charged
    assert fake.balance["balances"]["usd"] == pytest.approx(12.5 - 2 * MUSIC_USD_PER_SECOND * 30)
