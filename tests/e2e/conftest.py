"""Fixtures of the end-to-end tests: the fake Telegram, and the real bot started against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.telegram.bot import TelegramAdapter, TelegramOptions
from adapters.telegram.sender import TelegramSender
from bots.bootstrap import build_service
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.conftest import FakeClock
from tests.e2e.telegram_support import FAST
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def start_bot(
    tg: FakeTelegram, make_settings: Callable[..., Settings], retry: RetryPolicy, clock: FakeClock
) -> Callable[..., Any]:
    """``async with start_bot(**settings) as adapter`` runs the Telegram bot until the block ends."""

    @asynccontextmanager
    async def start(*, options: TelegramOptions | None = None, **overrides: Any) -> AsyncIterator[TelegramAdapter]:
        settings = make_settings(
            telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url,
            telegram_base_file_url=tg.base_file_url,
            **overrides,
        )
        sender = TelegramSender(sleep=clock.sleep, clock=clock.monotonic)
        async with build_service(settings, retry=retry) as service:
            async with TelegramAdapter(
                service, settings, sender=sender,
                options=options or TelegramOptions(poll_timeout=1, pace=FAST),
            ) as adapter:
                yield adapter

    return start
