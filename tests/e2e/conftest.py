"""Fixtures of the end-to-end tests: the fake Telegram and the fake Discord, and the real bots started against them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from adapters.telegram.bot import TelegramAdapter, TelegramOptions
from adapters.telegram.sender import TelegramSender
from bots.bootstrap import build_service
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.browser import browser, browser_watch, page  # noqa: F401  (fixtures: a real Chromium)
from tests.conftest import FakeClock
from tests.e2e.telegram_support import FAST
from tests.fakes.discord import FakeDiscord
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
    async def start(
        *, options: TelegramOptions | None = None, sender: TelegramSender | None = None, **overrides: Any
    ) -> AsyncIterator[TelegramAdapter]:
        settings = make_settings(
            telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url,
            telegram_base_file_url=tg.base_file_url,
            **overrides,
        )
        sender = sender or TelegramSender(sleep=clock.sleep, clock=clock.monotonic)
        async with (
            build_service(settings, retry=retry) as service,
            TelegramAdapter(
                service,
                settings,
                sender=sender,
                options=options or TelegramOptions(poll_timeout=1, pace=FAST),
            ) as adapter,
        ):
            yield adapter

    return start


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with fake.patch_discord():
            yield fake
    assert fake.errors == [], "the fake Discord itself failed"


@pytest.fixture
def start_discord(
    dc: FakeDiscord, make_settings: Callable[..., Settings], retry: RetryPolicy
) -> Callable[..., Any]:
    """``async with start_discord(**settings) as adapter`` runs the Discord bot against the fake Discord."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[DiscordAdapter]:
        settings = make_settings(
            discord_bot_token=dc.token,
            discord_api_base_url=dc.api_base,
            discord_gateway_url=dc.gateway_url,
            **overrides,
        )
        options = DiscordOptions(edit_interval=0.05, ready_timeout=10, guild_ready_timeout=0.1)
        async with (
            build_service(settings, retry=retry) as service,
            DiscordAdapter(service, settings, options=options) as adapter,
        ):
            yield adapter
            await service.wait_idle()

    return start
