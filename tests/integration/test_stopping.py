"""Stopping an answer (``ReplyStream.stop()``, the console's Ctrl-C): what is kept, what is charged."""

from __future__ import annotations

from typing import Any

from core.events import Reply, ReplyStream
from core.ports.records import CUT_OFF_MARK
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask, message, stored_messages

STORY = " ".join(f"word{i}" for i in range(120))  # 40 chunks of three words
PAYING = {"platform": "telegram", "user_id": "7"}  # not an admin: pays from the ledger
OTHER = {"platform": "telegram", "user_id": "8", "chat_id": "chat-2"}
FULL = 1_000_000  # the default allowance, $1.00, in micro-USD


async def balance(service: Any, **who: str) -> int:
    return int(await service.store.ledger.balance(await service.account_of(message("", **who))))


async def read_stopping(stream: ReplyStream, *, after: int) -> tuple[str, Reply]:
    """Read the stream, stopping it once ``after`` deltas have arrived; the text shown and the reply."""
    shown: list[str] = []
    if after == 0:
        stream.stop()
    async for delta in stream:
        shown.append(delta)
        if len(shown) == after:
            stream.stop()
    return "".join(shown), await stream.reply()


async def test_a_stopped_answer_is_kept_marked_cut_off_and_charged_for_what_was_generated(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script += [ChatScript(content=STORY, chunk_delay=0.05), ChatScript(content=STORY)]
    async with make_service() as service:
        stream = await service.handle_message(message("Tell me a story", **PAYING))
        assert isinstance(stream, ReplyStream)
        shown, reply = await read_stopping(stream, after=1)
        await service.wait_idle()
        stopped_cost = FULL - await balance(service, **PAYING)
        await ask(service, "Tell me a story", **OTHER)  # the same answer, read to the end
        whole_cost = FULL - await balance(service, **OTHER)
        assert reply.text == shown and shown.startswith("word0") and "word119" not in shown
        assert "Stopped. The answer is kept as far as it got." in [n.text for n in reply.notices]
        # Venice's own cost comes with the last chunk, which never came: the bot charges the
        # prompt and the words that were generated, never nothing and never the whole answer.
        assert 0 < stopped_cost < whole_cost
        assert await service.store.ledger.check() == []  # every balance is the sum of its entries
        stored = await stored_messages(service)
        assert stored[:2] == [(1, "user", "Tell me a story", 0), (1, "assistant", shown, 1)]
        await ask(service, "Go on", **PAYING)
    history = venice.calls_to("/chat/completions")[2].body["messages"]
    assert [m["content"] for m in history[1:]] == ["Tell me a story", shown + CUT_OFF_MARK, "Go on"]


async def test_an_answer_stopped_before_it_began_costs_nothing_and_keeps_nothing(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        # At once: the turn never reaches Venice.
        stream = await service.handle_message(message("Tell me a story", **PAYING))
        assert isinstance(stream, ReplyStream)
        shown, reply = await read_stopping(stream, after=0)
        assert shown == "" and reply.text == ""
        assert [n.text for n in reply.notices] == ["Stopped before the answer began. Nothing was charged."]
        assert venice.calls_to("/chat/completions") == []
        # While Venice is being asked, before a word came back.
        asked: list[ReplyStream] = []

        def stop_on_arrival(body: dict[str, Any]) -> ChatScript:
            asked[0].stop()
            return ChatScript(content=STORY, chunk_delay=0.05)

        venice.responder = stop_on_arrival
        stream = await service.handle_message(message("Tell me a story", **PAYING))
        assert isinstance(stream, ReplyStream)
        asked.append(stream)
        shown, reply = await read_stopping(asked[0], after=-1)
        assert shown == "" and [n.text for n in reply.notices] == [
            "Stopped before the answer began. Nothing was charged."
        ]
        await service.wait_idle()
        assert await balance(service, **PAYING) == FULL
        assert await stored_messages(service) == []
        venice.responder = venice.default_responder
        again = await ask(service, "Hello?", **PAYING)  # the conversation is free for the next turn
        assert "Hello?" in again.text


async def test_a_picture_being_made_is_not_stopped(make_service: Any, venice: FakeVenice) -> None:
    """Venice bills a picture once asked for: the user gets what they pay for."""
    async with make_service() as service:
        stream = await service.handle_message(message("/imagine a red fox", **PAYING))
        assert isinstance(stream, ReplyStream)
        _shown, reply = await read_stopping(stream, after=0)
        assert len(reply.attachments) == 1
        await service.wait_idle()
        assert await balance(service, **PAYING) < FULL


async def test_a_question_waiting_for_its_turn_can_be_stopped_and_the_one_before_goes_on(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="The first answer, in full.", chunk_delay=0.05))
    async with make_service() as service:
        first = await service.handle_message(message("First?", **PAYING))
        second = await service.handle_message(message("Second?", **PAYING))
        assert isinstance(first, ReplyStream) and isinstance(second, ReplyStream)
        async for _ in first:  # the first answer has begun; the second waits for its turn
            second.stop()
            break
        assert [n.text for n in (await second.reply()).notices] == [
            "Stopped before the answer began. Nothing was charged."
        ]
        assert (await first.reply()).text == "The first answer, in full."
        await service.wait_idle()
        assert [row[2] for row in await stored_messages(service)] == ["First?", "The first answer, in full."]
    assert len(venice.calls_to("/chat/completions")) == 1
