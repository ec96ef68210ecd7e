"""/music through the real core against the fake Venice: the offer the tool loop gets, the options
checked against the model before anything is paid, what is sent to Venice, and the refunds."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import BotError, InvalidInput
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_music_models import MUSIC_MODEL, SOUND_MODEL
from tests.helpers import ask, message
from tests.integration.test_media import FULL, USER, balance_of


async def test_the_tool_loop_gets_an_offer_with_buttons_and_nothing_is_made_or_paid(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        offer = await service.music.quote(message("", **USER), "a jazzy theme for a cooking show", {})
        confirm, cancel = (choice.command for choice in offer.choices)
        assert offer.text.startswith(f"🎵 A 30-second track with {MUSIC_MODEL} costs $")
        assert confirm.startswith("/musicconfirm ") and cancel.startswith("/musiccancel ")
        assert await balance_of(service) == FULL
        made = await ask(service, confirm, **USER)
        (track,) = made.reply.attachments
        assert (track.kind, track.mime_type, track.filename) == ("audio", "audio/mpeg", "venice-music.mp3")
        assert made.reply.text == "🎵 a jazzy theme for a cooking show"
        await service.music.wait_idle()
        job = await service.store.video_jobs.get(confirm.split()[-1])
        assert job is not None and (job.kind, job.status) == ("music", "done")
        assert await balance_of(service) == FULL - job.quote
    assert venice.calls_to("/audio/queue")[0].body["prompt"] == "a jazzy theme for a cooking show"


async def test_options_reach_venice_as_the_spec_names_them(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        offer = await ask(service, "/music a rock ballad --duration 45 --instrumental on", **USER)
        await ask(service, offer.reply.choices[0].command, **USER)
        lyrics = await ask(service, "/music a folk song --lyrics the river runs, the river sings", **USER)
        await ask(service, lyrics.reply.choices[0].command, **USER)
    first, second = (call.body for call in venice.calls_to("/audio/queue"))
    assert first == {
        "model": MUSIC_MODEL,
        "prompt": "a rock ballad",
        "duration_seconds": 45,
        "force_instrumental": True,
    }
    assert second["lyrics_prompt"] == "the river runs, the river sings" and second["duration_seconds"] == 30
    assert venice.calls_to("/audio/quote")[0].body == {"model": MUSIC_MODEL, "duration_seconds": 45}


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("/music a bell --duration 500", "makes 10 to 300 seconds"),
        ("/music a bell --duration 7 --model stable-audio-sfx", "takes --duration 5 | 10 | 20 | 30"),
        ("/music a bell --model stable-audio-sfx --lyrics ding", "does not take lyrics"),
        ("/music a bell --model stable-audio-sfx --instrumental on", "does not take --instrumental"),
        ("/music ab --model stable-audio-sfx", "at least 3 characters"),
        ("/music a bell --model no-such-model", f"Music models: {MUSIC_MODEL}, {SOUND_MODEL}"),
    ],
)
async def test_what_a_model_does_not_take_is_refused_before_a_quote(
    make_service: Any, venice: FakeVenice, command: str, said: str
) -> None:
    async with make_service() as service:
        with pytest.raises(InvalidInput, match=said.replace("|", r"\|")):
            await ask(service, command, **USER)
    assert venice.calls_to("/audio/quote") == []


async def test_a_model_priced_by_characters_is_quoted_with_the_count(
    make_service: Any, venice: FakeVenice
) -> None:
    narrator = next(m for m in venice.models if m["id"] == SOUND_MODEL)
    priced = {"per_thousand_characters": {"usd": 0.1, "diem": 0.1}}
    venice.models.append(
        narrator | {"id": "narrator", "model_spec": narrator["model_spec"] | {"pricing": priced}}
    )
    async with make_service() as service:
        await ask(service, "/music a long tale told slowly --model narrator", **USER)
    assert venice.calls_to("/audio/quote")[0].body["character_count"] == len("a long tale told slowly")


async def test_a_track_that_never_finishes_is_refunded_at_the_timeout(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.music_polls_until_done = None
    async with make_service(music_poll_seconds=5, music_timeout_seconds=60) as service:
        offer = await ask(service, "/music an endless drone", **USER)
        stream = await service.handle_message(message(offer.reply.choices[0].command, **USER))
        with pytest.raises(BotError, match="within 1 minute.*not charged"):
            await stream.reply()
        assert await balance_of(service) == FULL
    assert venice.calls_to("/audio/complete") == []


async def test_an_ephemeral_chats_prompt_is_sent_to_venice_but_never_stored(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await service.store.chat_settings.update("telegram", "chat-1", ephemeral=True)
        offer = await ask(service, "/music a secret birthday song", **USER)
        await ask(service, offer.reply.choices[0].command, **USER)
        job = await service.store.video_jobs.get(offer.reply.choices[0].command.split()[-1])
    assert job is not None and job.prompt == ""
    assert venice.calls_to("/audio/queue")[0].body["prompt"] == "a secret birthday song"


async def test_a_video_quotes_buttons_do_not_make_music(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        video = await ask(service, "/video a cat surfing", **USER)
        video_id = video.reply.choices[0].command.split()[-1]
        with pytest.raises(InvalidInput, match="no such track request"):
            await ask(service, f"/musicconfirm {video_id}", **USER)
    assert venice.calls_to("/audio/queue") == [] and venice.calls_to("/video/queue") == []
