"""Prometheus metrics for ``/metrics``: what the core counts as it works, the live state of a bot in
this process, and the totals a console without a bot (``venice-bots web``) reads from the database.

Every family is prefixed ``venice_bots_`` and lives in a registry of its own (never the process-wide
one): a process, or a test, may build several.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.errors import StorageUnavailable
from core.ports.metrics import Outcome, TokenKind, TurnKind
from core.version import version as package_version

if TYPE_CHECKING:
    from core.app import App

log = logging.getLogger(__name__)

# Venice's answers take from ~50 ms (a catalogue) to two minutes (a long answer, a video's step).
VENICE_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
MICRO = 1_000_000


@dataclass(frozen=True)
class VeniceRequestSeen:
    """The last request to Venice: when it ended (by the metrics' clock) and its status."""

    at: float
    status: str  # "200", "503", ... or "unreachable"


class PrometheusMetrics:
    """The core's ``Metrics`` on a Prometheus registry of its own, plus what /metrics reads at
    scrape time: the live bot (``attach``) and the database's totals (``read_database``).

    ``clock`` dates the last Venice request (``last_venice_request``); readiness reads it with
    the same clock.
    """

    def __init__(self, *, version: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self.last_venice_request: VeniceRequestSeen | None = None
        self._turns = Counter(
            "venice_bots_turns",
            "Messages answered or failed, by platform and kind.",
            ["platform", "kind", "outcome"],
            registry=self.registry,
        )
        self._tokens = Counter(
            "venice_bots_tokens",
            "Tokens Venice reported, prompt or completion.",
            ["kind"],
            registry=self.registry,
        )
        self._charged = Counter(
            "venice_bots_charged_usd",
            "US dollars charged to users for actions that worked, by feature.",
            ["feature"],
            registry=self.registry,
        )
        self._venice_seconds = Histogram(
            "venice_bots_venice_request_seconds",
            "Time from sending a request to Venice to its response headers, by endpoint.",
            ["endpoint"],
            buckets=VENICE_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._venice_errors = Counter(
            "venice_bots_venice_errors",
            'Venice requests that failed, by HTTP status (>= 400) or "unreachable".',
            ["status"],
            registry=self.registry,
        )
        Gauge(
            "venice_bots_build_info",
            "The running version of venice-bots.",
            ["version"],
            registry=self.registry,
        ).labels(version or package_version()).set(1)
        self._live = _LiveState()
        self.registry.register(self._live)
        self._database: DatabaseTotals | None = None

    # ----- the core's Metrics

    def turn(self, platform: str, kind: TurnKind, outcome: Outcome) -> None:
        """Count a message answered or failed."""
        self._turns.labels(platform, kind, outcome).inc()

    def tokens(self, kind: TokenKind, count: int) -> None:
        """Count the tokens of one Venice request."""
        if count > 0:  # a Counter raises on a negative step, and must not on the turn's path
            self._tokens.labels(kind).inc(count)

    def charged(self, feature: str, micro_usd: int) -> None:
        """Count a charge, in US dollars."""
        if micro_usd > 0:
            self._charged.labels(feature).inc(micro_usd / MICRO)

    def venice_request(self, endpoint: str, seconds: float, status: str) -> None:
        """Time an answered request, count a failed one, and remember the last one for readiness."""
        self.last_venice_request = VeniceRequestSeen(self._clock(), status)
        code = int(status) if status.isdigit() else None
        if code is not None:
            self._venice_seconds.labels(endpoint).observe(max(0.0, seconds))
        if code is None or code >= 400:
            self._venice_errors.labels(status).inc()

    # ----- what /metrics reads at scrape time

    def attach(self, app: App) -> None:
        """Show the state of the bot running in this process (active and queued turns, Venice's
        balance and rate-limit headroom)."""
        self._live.app = app

    def read_database(self, ledger: TotalsReader, inbox: UnansweredReader, *, max_age: float = 5.0) -> None:
        """Show the database's totals, read at most every ``max_age`` seconds by ``refresh``."""
        self._database = DatabaseTotals(ledger, inbox, max_age=max_age, clock=self._clock)
        self.registry.register(self._database)

    async def refresh(self) -> None:
        """Read the database's totals again if they are older than their ``max_age``."""
        if self._database is not None:
            await self._database.refresh()

    async def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, the database's totals refreshed if stale."""
        await self.refresh()
        return generate_latest(self.registry)


class _LiveState(Collector):
    """Gauges read from the live bot at scrape time (none without one)."""

    def __init__(self) -> None:
        self.app: App | None = None

    def collect(self) -> Iterable[Metric]:
        app = self.app
        if app is None:
            return
        yield GaugeMetricFamily(
            "venice_bots_active_turns", "Turns and media actions running or waiting now.", app.runner.active
        )
        yield GaugeMetricFamily(
            "venice_bots_queued_turns",
            "Turns waiting behind another turn of their conversation.",
            app.runner.turns.waiting,
        )
        limits = app.venice.rate_limits
        if limits.balance_usd is not None:
            yield GaugeMetricFamily(
                "venice_bots_venice_balance_usd",
                "The Venice account's US dollar balance, from its latest answer.",
                limits.balance_usd,
            )
        if limits.remaining_requests is not None:
            yield GaugeMetricFamily(
                "venice_bots_venice_remaining_requests",
                "Requests the API key may still send in Venice's current window, from its latest answer.",
                limits.remaining_requests,
            )


class LedgerTotals(Protocol):
    """What the ledger holds in all, in micro-USD (``LedgerStore.totals()``)."""

    @property
    def charged(self) -> Mapping[str, int]: ...
    @property
    def actions(self) -> Mapping[str, int]: ...
    @property
    def granted(self) -> int: ...
    @property
    def open_holds(self) -> int: ...
    @property
    def accounts(self) -> int: ...


class TotalsReader(Protocol):
    """The ledger's totals (``store.ledger``)."""

    async def totals(self) -> LedgerTotals:
        """Charged and actions by feature, granted, open holds, accounts."""
        ...


class UnansweredReader(Protocol):
    """The inbox's count of messages waiting (``store.inbox``)."""

    async def unanswered(self) -> int:
        """How many messages wait for an answer."""
        ...


@dataclass(frozen=True)
class _Snapshot:
    totals: LedgerTotals
    unanswered: int


class DatabaseTotals(Collector):
    """The database's totals as of the last ``refresh``: collectors are synchronous, so the
    database is read beforehand, at most every ``max_age`` seconds and never twice at once."""

    def __init__(
        self,
        ledger: TotalsReader,
        inbox: UnansweredReader,
        *,
        max_age: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._inbox = inbox
        self._max_age = max_age
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._read_at: float | None = None
        self._reading: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read the totals again unless the last read is recent; join a read under way."""
        if self._reading is None:
            if self._read_at is not None and self._clock() - self._read_at < self._max_age:
                return
            self._reading = asyncio.create_task(self._read(), name="metrics-database-totals")
        # Shielded: a scraper that hangs up does not cancel the read the others wait for.
        await asyncio.shield(self._reading)

    async def _read(self) -> None:
        try:
            totals = await self._ledger.totals()
            self._snapshot = _Snapshot(totals, await self._inbox.unanswered())
        except StorageUnavailable as exc:  # the families go missing, which Prometheus can alert on
            log.warning("Metrics: cannot read the database's totals: %s", exc.cause)
            self._snapshot = None
        except Exception:
            log.warning("Metrics: cannot read the database's totals", exc_info=True)
            self._snapshot = None
        finally:
            self._read_at = self._clock()  # a failing database is not asked on every scrape
            self._reading = None

    def collect(self) -> Iterable[Metric]:
        snapshot = self._snapshot
        if snapshot is None:
            return
        totals = snapshot.totals
        charged = CounterMetricFamily(
            "venice_bots_db_charged_usd",
            "US dollars charged, by feature, as the database records it.",
            labels=["feature"],
        )
        for feature, micro in sorted(totals.charged.items()):
            charged.add_metric([feature], micro / MICRO)
        yield charged
        actions = CounterMetricFamily(
            "venice_bots_db_actions", "Paid actions charged, by feature, in the database.", labels=["feature"]
        )
        for feature, count in sorted(totals.actions.items()):
            actions.add_metric([feature], count)
        yield actions
        yield CounterMetricFamily(
            "venice_bots_db_granted_usd", "US dollars granted to accounts by admins.", totals.granted / MICRO
        )
        yield GaugeMetricFamily(
            "venice_bots_db_open_holds_usd",
            "US dollars held now for actions under way.",
            totals.open_holds / MICRO,
        )
        yield GaugeMetricFamily("venice_bots_db_accounts", "Accounts in the database.", totals.accounts)
        yield GaugeMetricFamily(
            "venice_bots_db_unanswered_messages", "Messages that wait for an answer.", snapshot.unanswered
        )


def add_metrics_route(app: web.Application, metrics: PrometheusMetrics) -> None:
    """Serve ``GET /metrics`` in Prometheus' text format (no login: scrapers have none)."""

    async def handle(_request: web.Request) -> web.Response:
        body = await metrics.exposition()
        return web.Response(
            body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
        )

    app.router.add_get("/metrics", handle)
