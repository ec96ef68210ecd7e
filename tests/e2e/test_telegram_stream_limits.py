"""A runaway or stalled Venice stream seen from Telegram: the real Application against the fake Bot
API server, the real core, and the fake Venice server sending raw SSE."""

from __future__ import annotations

import itertools
from typing import Any

from adapters.telegram.render import MAX_MESSAGE
from tests.e2e.telegram_support import ALICE, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_chat import KEEP_ALIVE, content_events, huge_answer


async def test_a_5_mb_answer_arrives_as_a_few_messages_cut_short_with_one_note(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(raw=huge_answer()))
    async with start_bot(user_allowance_usd=1.0) as adapter:
        tg.push_message("Talk forever", chat_id=ALICE)
        await tg.wait_for(lambda: any("cut short" in t for t in texts(tg, ALICE)), timeout=10)
        await adapter._service.wait_idle()
        assert await adapter._service.store.ledger.check() == []
    shown = texts(tg, ALICE)
    # REPLY_MAX_TOKENS 2048 at most 6 characters a token: 12,288 characters, 4 messages at most.
    assert 3 <= len(shown) <= 4
    assert all(len(t) <= MAX_MESSAGE for t in shown)
    assert sum(t.count("cut short") for t in shown) == 1


async def test_a_stream_of_keep_alives_is_given_up_at_the_deadline_and_the_next_message_answered(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(raw=itertools.repeat(KEEP_ALIVE), chunk_delay=0.02))
    venice.script.append(ChatScript(raw=content_events(["Here", " at last."])))
    async with start_bot(user_allowance_usd=1.0, venice_timeout_seconds=0.5) as adapter:
        tg.push_message("First", chat_id=ALICE)
        tg.push_message("Second", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2, timeout=10)
        await adapter._service.wait_idle()
        assert await adapter._service.store.ledger.check() == []
    first, second = texts(tg, ALICE)
    assert first.startswith("⚠️ Venice did not finish answering within 0.5 seconds")
    assert "You were not charged." in first
    assert second == "Here at last."
