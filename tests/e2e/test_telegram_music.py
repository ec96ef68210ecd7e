"""/music on Telegram end to end: the real python-telegram-bot Application against the fake Bot
API, the real core, and the fake Venice's /audio/quote|queue|retrieve|complete."""

from __future__ import annotations

import io
from typing import Any

import mutagen.mp3

from core.app import App
from tests.e2e.telegram_support import ALICE, texts
from tests.e2e.test_telegram_media import EDITS
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_music_models import MUSIC_MODEL

FAST_POLLS = {"music_poll_seconds": 0.05}


async def music_quote(
    tg: FakeTelegram, prompt: str = "a calm piano piece for a rainy evening"
) -> dict[str, Any]:
    """Ask for a track; the quote as the chat shows it, with its buttons."""
    before = len(texts(tg, ALICE))
    tg.push_message(f"/music {prompt}", chat_id=ALICE)
    await tg.wait_for(lambda: len(texts(tg, ALICE)) == before + 1)
    return tg.visible(ALICE)[-1]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


async def music_charges(service: App, command: str) -> tuple[int, list[tuple[str, int]]]:
    """The price quoted for the job a button's ``command`` names, and the music lines of its
    payer's ledger history: (status, amount)."""
    await service.music.wait_idle()
    job = await service.store.video_jobs.get(command.rsplit(" ", 1)[-1])
    assert job is not None and job.kind == "music"
    history = await service.store.ledger.activity(job.owner)
    return job.quote, [(a.status, a.amount) for a in history if a.feature == "music"]


async def test_music_is_quoted_confirmed_shown_while_composed_and_sent_as_audio_charged_once(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.music_polls_until_done = 3
    async with start_bot(options=EDITS, **FAST_POLLS) as adapter:
        quote = await music_quote(tg)
        assert quote["text"].startswith(f"🎵 A 30-second track with {MUSIC_MODEL} costs $")
        make, cancel = buttons(quote)
        assert make["text"].startswith("✅ Make it ($") and cancel["text"] == "✖ Cancel"
        assert make["callback_data"].startswith("c:/musicconfirm ")
        assert venice.music_jobs == {}  # nothing is made (or paid) before the user agrees
        tg.push_callback(make["callback_data"], chat_id=ALICE, message_id=quote["message_id"])
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1, timeout=10)
        price, charged = await music_charges(adapter._service, make["callback_data"])
    [track] = tg.sent_files(ALICE)
    assert (track.method, track.field) == ("sendAudio", "audio")
    assert abs(mutagen.mp3.MP3(io.BytesIO(track.data)).info.length - 30) < 1  # the asked length
    progress = next(m for m in tg.calls_to("sendMessage") if m.params["text"].startswith("⏳"))
    shown = tg.edits_of(ALICE, progress.response["result"]["message_id"])  # type: ignore[index]
    assert shown[0] == "⏳ Track queued at Venice…"
    assert any(line.startswith("⏳ Composing the track…") for line in shown[1:])  # it moved on
    assert charged == [("charged", -price)]  # the quoted price, once
    [job] = venice.music_jobs.values()
    assert job.completed  # Venice was told to delete its copy once it was sent
    assert len(venice.calls_to("/audio/queue")) == 1


async def test_cancelling_a_music_quote_costs_nothing(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(**FAST_POLLS) as adapter:
        quote = await music_quote(tg)
        make, cancel = buttons(quote)
        tg.push_callback(cancel["callback_data"], chat_id=ALICE, message_id=quote["message_id"])
        await tg.wait_for(lambda: any("Nothing was charged" in t for t in texts(tg, ALICE)))
        tg.push_callback(make["callback_data"], chat_id=ALICE, message_id=quote["message_id"])
        await tg.wait_for(lambda: any("request was cancelled" in t for t in texts(tg, ALICE)))
        _, charged = await music_charges(adapter._service, make["callback_data"])
    assert charged == []
    assert venice.calls_to("/audio/queue") == [] and venice.music_jobs == {}
    assert tg.sent_files(ALICE) == []


async def test_a_track_venice_fails_to_make_is_refunded_and_the_user_told(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.music_polls_until_done, venice.music_fail_job = 1, 422  # the provider refuses it late
    async with start_bot(**FAST_POLLS) as adapter:
        quote = await music_quote(tg)
        make, _ = buttons(quote)
        tg.push_callback(make["callback_data"], chat_id=ALICE, message_id=quote["message_id"])
        await tg.wait_for(lambda: any("could not be made" in t for t in texts(tg, ALICE)), timeout=10)
        _, charged = await music_charges(adapter._service, make["callback_data"])
    failure = next(t for t in texts(tg, ALICE) if "could not be made" in t)
    assert failure.startswith("⚠️ The track could not be made:") and "not charged" in failure
    assert charged == [("refunded", 0)]
    assert tg.sent_files(ALICE) == []
