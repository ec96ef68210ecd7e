"""The one place that builds the core from settings: database, HTTP client, Venice, services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from adapters.storage.sqlite.ledger import Ledger
from adapters.storage.sqlite.privacy import PrivacyStore
from core.app import App, Services
from core.billing.guards import AccountGuard, KeyRateLimiter, UserRateLimit
from core.billing.pricing import Prices
from core.chat.memory import Memory
from core.money import MICRO, AllowancePolicy
from core.settings import Settings
from core.storage.chat_settings import ChatSettingsStore
from core.storage.conversations import ConversationStore
from core.storage.database import Database, sqlite_path
from core.storage.migrations import migrate
from core.storage.personas import PersonaStore
from core.storage.state import StateStore
from core.storage.updates import UpdateLog
from core.storage.users import UserDirectory
from core.storage.video_jobs import VideoJobStore
from core.venice.client import VeniceClient
from core.venice.retry import RetryPolicy
from core.version import version

USER_AGENT = f"venice-bots/{version()} (+https://github.com/venice-bots)"


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client for Venice: long reads for slow models, bounded everything else."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=settings.venice_timeout_seconds, write=30.0, pool=30.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
    )


def allowance_policy(settings: Settings) -> AllowancePolicy:
    """The allowance every user gets, from the settings."""
    return AllowancePolicy(
        amount=round(settings.user_allowance_usd * MICRO),
        period=settings.allowance_period,
        roll_over=settings.allowance_rollover,
    )


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Open the database and bring its schema up to date."""
    async with Database.open(sqlite_path(settings.database_url)) as db:
        await migrate(db)
        yield db


@asynccontextmanager
async def build_service(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[App]:
    """Build the chat service and everything it needs; close it all on exit."""
    async with open_database(settings) as db, http or http_client(settings) as client:
        policy = retry or RetryPolicy(max_attempts=settings.venice_max_attempts)
        venice = VeniceClient(
            client,
            api_key=settings.venice_api_key,
            base_url=settings.venice_base_url,
            retry=policy,
            models_ttl=settings.models_cache_seconds,
        )
        conversations = ConversationStore(db, clock=policy.wall)
        service = App(
            Services(
                settings=settings,
                venice=venice,
                conversations=conversations,
                chat_settings=ChatSettingsStore(db, clock=policy.wall),
                memory=Memory(conversations, venice, reply_max_tokens=settings.reply_max_tokens),
                updates=UpdateLog(db),
                state=StateStore(db),
                ledger=Ledger(db, policy=allowance_policy(settings)),
                prices=Prices(markup=settings.price_markup, feature_markups=settings.feature_markups),
                rate_limit=UserRateLimit(settings.rate_limit_per_minute),
                account=AccountGuard(venice, floor_usd=settings.venice_balance_floor_usd),
                key_limits=KeyRateLimiter(venice),
                video_jobs=VideoJobStore(db),
                personas=PersonaStore(db),
                users=UserDirectory(db),
                privacy_store=PrivacyStore(db),
                clock=policy.wall,
                sleep=policy.sleep,
            )
        )
        await service.videos.resume()  # jobs that were running when the bot stopped
        service.privacy.start()  # retention sweeps, in the background
        try:
            yield service
        finally:
            await service.aclose()
