"""The one place that builds the core from settings: the store (by DATABASE_URL), HTTP client,
Venice, services. Nothing else picks a storage backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from adapters.mcp.servers import McpServers
from adapters.storage.postgres.database import is_postgres_url
from adapters.storage.sqlite.database import sqlite_path
from adapters.storage.sqlite.store import SqliteStore
from bots.health import check, heartbeat_path
from core.app import App
from core.billing.guards import AccountGuard, KeyRateLimiter, UserRateLimit
from core.billing.pricing import Prices
from core.catalogue import Catalogue
from core.chat.memory import Memory
from core.chat.recall import Recall
from core.money import AllowancePolicy, micro_usd
from core.ports.metrics import NO_METRICS, Metrics
from core.ports.storage import Store
from core.settings import Settings
from core.venice.client import VeniceClient
from core.venice.retry import FailureBudget, RetryPolicy
from core.version import version

# A worker that has not beaten for this long (three of its 5-second beats) is gone.
OTHERS_BEAT_WITHIN = 15.0

USER_AGENT = f"venice-bots/{version()} (+https://github.com/venice-bots)"


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client for Venice: long reads for slow models, bounded everything else."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=settings.venice_timeout_seconds, write=30.0, pool=30.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
    )


def venice_client(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    retry: RetryPolicy,
    metrics: Metrics = NO_METRICS,
    failures: FailureBudget | None = None,
) -> VeniceClient:
    """The Venice client as the bot (or its console) uses it, over ``http``."""
    return VeniceClient(
        http,
        api_key=settings.venice_api_key,
        base_url=settings.venice_base_url,
        retry=retry,
        failures=failures,
        metrics=metrics,
        models_ttl=settings.models_cache_seconds,
        stream_seconds=settings.venice_timeout_seconds,
    )


def allowance_policy(settings: Settings) -> AllowancePolicy:
    """The allowance every user gets, from the settings."""
    return AllowancePolicy(
        amount=micro_usd(settings.user_allowance_usd, up=False),
        period=settings.allowance_period,
        roll_over=settings.allowance_rollover,
    )


def open_store(settings: Settings, *, clock: Callable[[], float] = time.time) -> Store:
    """The store that DATABASE_URL names, to open with ``async with`` (it migrates on opening):
    PostgreSQL for ``postgresql://`` (several workers may share it), else the SQLite file."""
    policy = allowance_policy(settings)
    if is_postgres_url(settings.database_url):
        from adapters.storage.postgres.store import PostgresStore

        return PostgresStore(
            settings.database_url, policy=policy, clock=clock, pool_size=settings.database_pool_size
        )
    return SqliteStore(sqlite_path(settings.database_url), policy=policy, clock=clock)


async def others_running(store: Store, settings: Settings) -> bool:
    """Whether another bot serves the store's database now (and may hold live payments):
    PostgreSQL: a worker that beat lately; SQLite: a fresh heartbeat file beside it."""
    if store.coordination.shared:
        return await store.coordination.others_alive(within=OTHERS_BEAT_WITHIN)
    alive, _ = check(heartbeat_path(settings.database_url))
    return alive


def memory(settings: Settings, store: Store, venice: VeniceClient, policy: RetryPolicy) -> Memory:
    """The conversation memory: a verbatim budget, summaries, and long-term recall."""
    catalogue = Catalogue(settings, venice)
    recall = Recall(
        store.vectors, venice, catalogue, token_budget=settings.recall_token_budget, clock=policy.monotonic
    )
    return Memory(
        store.conversations,
        venice,
        recall,
        catalogue,
        reply_max_tokens=settings.reply_max_tokens,
        history_budget=settings.history_token_budget,
        history_budget_max=settings.history_token_budget_max,
    )


@asynccontextmanager
async def build_service(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    http: httpx.AsyncClient | None = None,
    metrics: Metrics = NO_METRICS,
) -> AsyncIterator[App]:
    """Build the chat service and everything it needs; close it all on exit.

    ``metrics``: what counts turns, tokens, charges and Venice requests (the web console's).
    """
    policy = retry or RetryPolicy(max_attempts=settings.venice_max_attempts)
    async with open_store(settings, clock=policy.wall) as store, http or http_client(settings) as client:
        workers = store.coordination
        await workers.start()  # beat from now on: the other workers know this one runs
        failures = FailureBudget(monotonic=policy.monotonic, shared=workers.failures)
        venice = venice_client(settings, client, retry=policy, metrics=metrics, failures=failures)
        # MCP servers first: a bad MCP_CONFIG stops the start before anything runs (exit 2);
        # they close after the service, once no turn can call them.
        async with McpServers.open(settings) as mcp:
            service = App(
                settings,
                store=store,
                venice=venice,
                memory=memory(settings, store, venice, policy),
                prices=Prices(markup=settings.price_markup, feature_markups=settings.feature_markups),
                rate_limit=UserRateLimit(settings.rate_limit_per_minute, workers=workers),
                account=AccountGuard(venice, floor_usd=settings.venice_balance_floor_usd),
                key_limits=KeyRateLimiter(venice, workers=workers),
                clock=policy.wall,
                sleep=policy.sleep,
                metrics=metrics,
            )
            for source in mcp.sources():  # their tools, next to the built-in ones
                service.tools.add(source)
            for jobs in service.queued_jobs:  # videos and tracks
                await jobs.resume()  # jobs that were running when the bot stopped
                jobs.start()  # and those another worker stops following (it died)
            # Then the holds a crash left open: none is live unless another bot shares the database.
            await service.recover(others_running=await others_running(store, settings))
            service.privacy.start()  # retention sweeps, in the background
            try:
                yield service
            finally:
                await service.aclose()
