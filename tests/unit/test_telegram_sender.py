"""The Telegram sender's flood control: short waits are waited out, long ones are not."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.error import RetryAfter

from adapters.telegram.sender import FloodWaitTooLong, TelegramSender
from tests.conftest import FakeClock


class Chat:
    """A send that Telegram answers with a flood wait the first ``floods`` times."""

    def __init__(self, *retry_after: int) -> None:
        self.floods = list(retry_after)
        self.sent: list[str] = []

    async def __call__(self, *, chat_id: int, text: str) -> str:
        if self.floods:
            raise RetryAfter(self.floods.pop(0))
        self.sent.append(text)
        return text


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


def sender(clock: FakeClock, **options: Any) -> TelegramSender:
    return TelegramSender(sleep=clock.sleep, clock=clock.monotonic, **options)


async def test_a_short_flood_wait_is_waited_out(clock: FakeClock) -> None:
    chat = Chat(30)
    assert await sender(clock).send(1, chat, text="hello") == "hello"
    assert clock.sleeps == [30.0]


async def test_a_flood_wait_longer_than_the_limit_is_not_waited_and_the_chat_stays_held(
    clock: FakeClock,
) -> None:
    telegram, chat = sender(clock, max_flood_wait=60), Chat(600)
    with pytest.raises(FloodWaitTooLong) as caught:
        await telegram.send(1, chat, text="answer")
    assert caught.value.retry_after == 600 and caught.value.chat_id == 1
    # Later sends to that chat know without asking Telegram: essential ones fail at once,
    # optional ones are skipped; other chats are not held back at all.
    with pytest.raises(FloodWaitTooLong):
        await telegram.send(1, chat, text="next answer")
    assert await telegram.send(1, chat, essential=False, text="a draft") is None
    assert await telegram.send(2, chat, text="to another chat") == "to another chat"
    assert clock.sleeps == [] and chat.sent == ["to another chat"]
    await telegram.wait_free(1)  # what the notice of the missed answers waits for
    assert clock.sleeps == [600.0]
    assert await telegram.send(1, chat, text="after the wait") == "after the wait"
