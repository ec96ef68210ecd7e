"""Telegram's flood control (429 retry_after) end to end: answers keep their order, an answer held
back too long is refunded and the user told, other chats go on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from adapters.telegram.bot import TelegramAdapter, TelegramOptions
from adapters.telegram.render import MAX_MESSAGE
from adapters.telegram.sender import TelegramSender
from adapters.telegram.undelivered import Missed, notice
from core.events import IncomingMessage
from tests.conftest import FakeClock
from tests.e2e.telegram_support import ALICE, BOB, FAST, slow, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice


class HeldBack:
    """The sender's sleep: a flood wait of ``hold`` seconds or more lasts until the test ends it."""

    def __init__(self, clock: FakeClock, hold: float = 60.0) -> None:
        self._clock = clock
        self._hold = hold
        self.waiting = asyncio.Event()  # some send is waiting out a long flood wait
        self.over = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if seconds >= self._hold:
            self.waiting.set()
            await self.over.wait()
        await self._clock.sleep(seconds)

    @contextlib.asynccontextmanager
    async def until_the_end(self) -> AsyncIterator[None]:
        """End the wait however the block ends: a failing assertion inside must fail the test,
        not leave the bot's shutdown waiting for a flood wait nobody will end."""
        try:
            yield
        finally:
            self.over.set()


async def _alice_account(adapter: TelegramAdapter) -> tuple[Any, str, int]:
    """Alice's ledger, her account, and its balance now."""
    ledger = adapter._service.store.ledger
    owner = await adapter._service.account_of(IncomingMessage("telegram", str(ALICE), str(ALICE), ""))
    return ledger, owner, await ledger.balance(owner)


def _impatient(clock: FakeClock, sleep: Any = None) -> TelegramSender:
    """A sender that waits out no flood wait over a minute."""
    return TelegramSender(sleep=sleep or clock.sleep, clock=clock.monotonic, max_flood_wait=60)


async def _refunds(ledger: Any, owner: str, count: int) -> None:
    """Wait until ``count`` answers of ``owner`` have been refunded as undelivered."""
    while len([e for e in await ledger.entries(owner) if e.kind in ("refund", "adjustment")]) < count:
        await asyncio.sleep(0.01)


async def test_a_flood_wait_keeps_the_chats_answers_in_order_and_other_chats_go_on(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    held = HeldBack(clock)
    sender = TelegramSender(sleep=held.sleep, clock=clock.monotonic)
    # The first answer takes two messages: Telegram holds the chat back at its first one.
    first = " ".join(f"word{i}" for i in range(MAX_MESSAGE // 4))
    venice.script.append(ChatScript(content=first))
    tg.fail("sendMessage", retry_after=120, chat_id=ALICE)
    async with (
        start_bot(sender=sender, options=TelegramOptions(poll_timeout=1, pace=FAST)),
        held.until_the_end(),  # exits first: the wait ends before the bot shuts down
    ):
        tg.push_message("Tell me everything", chat_id=ALICE)
        await asyncio.wait_for(held.waiting.wait(), 5)
        tg.push_message("/help", chat_id=ALICE)
        tg.push_message("And the second question?", chat_id=ALICE)
        tg.push_message("Hi from Bob", chat_id=BOB)
        # Bob's chat is not held back by Alice's flood wait.
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)
        assert "Hi from Bob" in texts(tg, BOB)[0]
        await asyncio.sleep(0.2)  # /help is ready: nothing of it is shown yet
        assert texts(tg, ALICE) == [] and tg.drafts(ALICE) == []
        # The second question waits for the first answer to arrive (it is paid and kept
        # then): Venice is not asked for an answer that could not be shown anyway.
        assert len(venice.calls_to("/chat/completions")) == 2
        held.over.set()  # the 120 s have passed
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 4)
    shown = texts(tg, ALICE)
    assert " ".join(shown[:2]).split() == first.split()  # both parts of the first answer, first
    assert "/model" in shown[2]  # then /help
    assert "And the second question?" in shown[3]  # then the second answer
    later = [c for c in tg.calls if c.params.get("chat_id") == ALICE and "second" in str(c.params)]
    first_done = max(
        i for i, c in enumerate(tg.calls) if c.params.get("chat_id") == ALICE and "word" in str(c.params)
    )
    assert all(tg.calls.index(c) > first_done for c in later)  # no draft of it came before


async def test_an_answer_ready_first_waits_behind_an_earlier_one_that_a_flood_wait_hit_mid_stream(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    answer = " ".join(f"piece{i}" for i in range(60))
    venice.script.append(slow(answer))
    tg.fail("sendMessageDraft", retry_after=5, chat_id=ALICE)  # the story's first draft
    async with start_bot():
        tg.push_message("Tell me a story", chat_id=ALICE)
        await tg.wait_for(lambda: len(tg.calls_to("sendMessageDraft")) == 1)
        tg.push_message("/help", chat_id=ALICE)  # answered at once, and the 5 s pass for it
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
    assert texts(tg, ALICE)[0] == answer and "/model" in texts(tg, ALICE)[1]


async def test_an_answer_held_back_longer_than_the_sender_waits_is_refunded_and_the_user_told(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    sender = _impatient(clock)
    tg.fail("sendMessage", retry_after=600, chat_id=ALICE)
    async with start_bot(sender=sender) as adapter:
        ledger, owner, before = await _alice_account(adapter)
        tg.push_message("What is the capital of France?", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        await adapter._service.wait_idle()
        told = texts(tg, ALICE)[0]
        entries = await ledger.entries(owner)
        assert await ledger.balance(owner) == before
        # A chat answer is paid once it arrived: this one's hold went back whole.
        hold = next(e for e in entries if e.kind == "reserve" and e.feature == "chat")
        assert sorted(e.kind for e in entries if e.request_id == hold.request_id) == ["refund", "reserve"]
        assert await ledger.open_reservations() == []
        assert await ledger.check() == []  # what `venice-bots admin check` reports
        assert await adapter._service.store.conversations.counts() == {
            "users": 1,
            "conversations": 1,
            "messages": 0,  # nor kept: the model will not remember an answer she never saw
        }
    assert told == (
        "⚠️ Your answer to “What is the capital of France?” could not be delivered in time "
        "(Telegram held this chat back); you were not charged for it."
    )
    refused = tg.calls_to("sendMessage")[0]  # the answer Telegram would not take
    assert refused.params["text"].startswith("(offline fake Venice) You said")
    assert 600 in [round(s) for s in clock.sleeps]  # told once the chat was free again


async def test_a_voiced_answer_held_back_too_long_gives_back_the_answer_and_the_voice(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    sender = _impatient(clock)
    async with start_bot(sender=sender) as adapter:
        tg.push_message("/voicemode on", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        ledger, owner, before = await _alice_account(adapter)
        tg.fail("sendMessage", retry_after=600, chat_id=ALICE)
        tg.push_message("Tell me a short story.", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        await adapter._service.wait_idle()
        given_back = {(e.kind, e.feature) for e in await ledger.entries(owner) if e.kind != "reserve"}
        # The answer's hold went back whole; the voice, paid as it was made, came back too.
        assert {("refund", "chat"), ("adjustment", "speech")} <= given_back
        assert await ledger.balance(owner) == before
        assert await ledger.check() == []
    assert "you were not charged for it" in texts(tg, ALICE)[1]
    assert not tg.sent_files(ALICE)  # the voice went nowhere either


async def test_a_picture_that_cannot_be_delivered_in_time_is_refunded(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    sender = _impatient(clock)
    tg.fail("sendPhoto", retry_after=900, chat_id=ALICE)
    async with start_bot(sender=sender) as adapter:
        ledger, owner, before = await _alice_account(adapter)
        tg.push_message("/imagine a red fox", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        assert await ledger.balance(owner) == before
        assert await ledger.open_reservations() == []  # the picture's hold went back whole
        assert sorted(e.kind for e in await ledger.entries(owner) if e.feature == "image") == [
            "refund",
            "reserve",
        ]
    assert tg.sent_files(ALICE) == []
    assert texts(tg, ALICE)[0].startswith("⚠️ Your answer to “/imagine a red fox” could not be delivered")
    assert texts(tg, ALICE)[0].endswith("you were not charged for it.")


async def test_answers_missed_during_one_long_flood_wait_are_all_refunded_and_told_in_one_message(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    held = HeldBack(clock)
    sender = _impatient(clock, held.sleep)
    tg.fail("sendMessage", retry_after=3600, chat_id=ALICE)
    async with start_bot(sender=sender) as adapter, held.until_the_end():
        ledger, owner, before = await _alice_account(adapter)
        tg.push_message("First question", chat_id=ALICE)
        await asyncio.wait_for(held.waiting.wait(), 5)  # the notice waits for the chat to be free
        tg.push_message("Second question", chat_id=ALICE)
        # The second answer is refunded without being tried: the chat is held back for an hour.
        await asyncio.wait_for(_refunds(ledger, owner, 2), 5)
        assert texts(tg, ALICE) == []
        held.over.set()  # the hour has passed
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        assert await ledger.balance(owner) == before
    assert texts(tg, ALICE) == [
        "⚠️ Your answers to “First question” and “Second question” could not be delivered in time "
        "(Telegram held this chat back); you were not charged for them."
    ]


def test_one_notice_names_every_answer_missed_and_shortens_long_questions() -> None:
    missed = [Missed("first  question", True), Missed("x" * 100, True), Missed("", True)]
    text = notice(missed)
    assert text.startswith("⚠️ Your answers to “first question”, “" + "x" * 59 + "…” and your message ")
    assert text.endswith("you were not charged for them.")
    assert "Giving the charge back failed" in notice([Missed("q", False), Missed("r", True)])
    # A command's answer costs nothing known: the notice claims nothing about charges.
    assert notice([Missed("/help", None)]).endswith("delivered in time (Telegram held this chat back).")
