"""/music on Discord end to end: the real discord.py client against the fake Discord (REST and
gateway), the real core, and the fake Venice's /audio/quote|queue|retrieve|complete."""

from __future__ import annotations

import io
from typing import Any

import mutagen.mp3

from tests.e2e.test_discord_media import answered, bot_messages, file_sent, files_of, server
from tests.e2e.test_telegram_music import music_charges
from tests.fakes.discord import FakeDiscord
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_music_models import MUSIC_MODEL, SOUND_MODEL

FAST_POLLS = {"music_poll_seconds": 0.05}


def offer_buttons(offer: dict[str, Any]) -> dict[str, str]:
    """The quote's buttons: label -> custom id."""
    return {b["label"]: b["custom_id"] for row in offer["components"] for b in row["components"]}


async def test_music_is_quoted_confirmed_and_the_track_attached_charged_once(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    venice.music_polls_until_done = 3
    _guild, channel, alice = server(dc)
    async with start_discord(**FAST_POLLS) as adapter:
        asked = dc.send_slash(channel, alice, "music", {"prompt": "an upbeat jingle", "duration": 20})
        offer = await answered(dc, asked.id)
        assert offer["content"].startswith(f"🎵 A 20-second track with {MUSIC_MODEL} costs $")
        confirm = next(custom_id for label, custom_id in offer_buttons(offer).items() if "$" in label)
        assert confirm.startswith("venice:cmd:/musicconfirm ")
        dc.send_component(channel, alice, int(offer["id"]), confirm)
        await file_sent(dc, channel, ".mp3")
        price, charged = await music_charges(adapter._service, confirm)
    track = next(m for m in bot_messages(dc, channel) if m["attachments"])
    assert track["attachments"][0]["filename"] == "venice-music.mp3"
    assert abs(mutagen.mp3.MP3(io.BytesIO(files_of(dc, track)[0])).info.length - 20) < 1
    assert any("⏳" in shown for shown in dc.edits_of(channel, int(track["id"]))[:-1])  # progress showed
    offer_now = next(m for m in dc.messages(channel) if m["id"] == offer["id"])
    assert offer_now["components"] == []  # pressed: the buttons are gone
    assert charged == [("charged", -price)]
    assert [job.completed for job in venice.music_jobs.values()] == [True]


async def test_a_sound_effect_model_is_chosen_and_an_option_it_lacks_is_refused_for_free(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server(dc)
    async with start_discord(**FAST_POLLS):
        refused = dc.send_slash(
            channel, alice, "music", {"prompt": "a door creaks", "model": SOUND_MODEL, "lyrics": "la la"}
        )
        refusal = await answered(dc, refused.id)
        asked = dc.send_slash(channel, alice, "music", {"prompt": "a door creaks", "model": SOUND_MODEL})
        offer = await answered(dc, asked.id)
    assert "⚠️" in refusal["content"] and "does not take lyrics" in refusal["content"]
    assert offer["content"].startswith(f"🎵 A 10-second track with {SOUND_MODEL} costs $0.02.")
    assert len(venice.calls_to("/audio/quote")) == 1 and venice.calls_to("/audio/queue") == []


async def test_cancel_costs_nothing_and_a_failed_track_is_refunded_on_discord(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    venice.music_polls_until_done, venice.music_fail_job = 0, 500  # Venice's worker keeps failing
    _guild, channel, alice = server(dc)
    async with start_discord(**FAST_POLLS) as adapter:
        first = await answered(dc, dc.send_slash(channel, alice, "music", {"prompt": "a lullaby"}).id)
        cancel = next(c for label, c in offer_buttons(first).items() if "Cancel" in label)
        dc.send_component(channel, alice, int(first["id"]), cancel)
        await dc.wait_for(
            lambda: any("Nothing was charged" in m["content"] for m in bot_messages(dc, channel))
        )
        _, cancelled = await music_charges(adapter._service, cancel)
        second = await answered(dc, dc.send_slash(channel, alice, "music", {"prompt": "a march"}).id)
        confirm = next(c for label, c in offer_buttons(second).items() if "$" in label)
        dc.send_component(channel, alice, int(second["id"]), confirm)
        await dc.wait_for(
            lambda: any("could not be made" in m["content"] for m in bot_messages(dc, channel)), timeout=15
        )
        _, failed = await music_charges(adapter._service, confirm)
    assert cancelled == [] and len(venice.calls_to("/audio/queue")) == 1
    failure = next(m["content"] for m in bot_messages(dc, channel) if "could not be made" in m["content"])
    assert "not charged" in failure
    assert failed == [("refunded", 0)]  # the reservation was given back in full
    assert not any(m["attachments"] for m in bot_messages(dc, channel))
