"""/metrics, /healthz and /readyz over real HTTP, beside a real service that talks to the fake Venice.

The console's routes are served by aiohttp on 127.0.0.1; the service is ``build_service`` with the
Prometheus metrics in; time is the test's clock (readiness and the database totals read it), so
"a while later" is a clock step, never a wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from adapters.storage.sqlite.store import SqliteStore
from adapters.web.metrics import PrometheusMetrics, add_metrics_route
from adapters.web.readiness import Readiness, add_health_routes
from bots.bootstrap import build_service
from core.app import App
from core.settings import Settings
from core.venice.errors import ServerError, VeniceUnreachable
from core.venice.retry import RetryPolicy
from core.version import version
from tests.conftest import TEST_KEY, FakeClock
from tests.fakes.local_server import serve_aiohttp
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask

INTERVAL = 5.0  # readiness' interval, and the database totals' age limit
RECENT = 60.0


@dataclass
class Console:
    """A running service with the console's metrics and health routes served beside it."""

    service: App
    metrics: PrometheusMetrics
    readiness: Readiness | None
    http: httpx.AsyncClient

    async def scrape(self) -> dict[str, list[Sample]]:
        """GET /metrics and parse it with prometheus_client's own parser: samples by family."""
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on 127.0.0.1 (port 0) and give an HTTP client pointed at it."""
    runner, port = await serve_aiohttp(app)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        await runner.cleanup()


@pytest.fixture
def console(
    make_settings: Callable[..., Settings], retry: RetryPolicy, clock: FakeClock
) -> Callable[..., Any]:
    """``async with console() as c``: the service with PrometheusMetrics, its routes served."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Console]:
        metrics = PrometheusMetrics(clock=clock.monotonic)
        async with build_service(make_settings(**overrides), retry=retry, metrics=metrics) as service:
            metrics.attach(service)
            readiness = Readiness(
                service.store.state,
                service.venice,
                seen=metrics,
                interval=INTERVAL,
                recent=RECENT,
                clock=clock.monotonic,
            )
            app = web.Application()
            add_metrics_route(app, metrics)
            add_health_routes(app, readiness)
            async with serve(app) as http:
                yield Console(service, metrics, readiness, http)

    return run


def value(families: dict[str, list[Sample]], sample: str, **labels: str) -> float:
    """The value of the one sample named ``sample`` whose labels include ``labels`` (0 if none)."""
    found = [
        s.value
        for samples in families.values()
        for s in samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{sample}{labels} matches several samples"
    return found[0] if found else 0.0


# ----- /metrics


async def test_metrics_parse_and_move_when_the_bot_answers_a_turn(console: Any, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="The sea is wide and deep."))
    async with console() as c:
        before = await c.scrape()
        assert value(before, "venice_bots_turns_total", outcome="answered") == 0
        assert value(before, "venice_bots_build_info", version=version()) == 1
        assert value(before, "venice_bots_active_turns") == 0

        answer = await ask(c.service, "Tell me about the sea")
        assert answer.text == "The sea is wide and deep."
        after = await c.scrape()

    assert after and all(name.startswith("venice_bots_") for name in after)
    assert value(after, "venice_bots_turns_total", platform="test", kind="chat", outcome="answered") == 1
    assert value(after, "venice_bots_turns_total", outcome="failed") == 0
    assert value(after, "venice_bots_tokens_total", kind="prompt") > 0
    assert value(after, "venice_bots_tokens_total", kind="completion") > 0
    assert value(after, "venice_bots_charged_usd_total", feature="chat") > 0
    chat = {"endpoint": "/chat/completions"}
    assert value(after, "venice_bots_venice_request_seconds_count", **chat) >= 1
    assert value(after, "venice_bots_venice_request_seconds_bucket", le="+Inf", **chat) >= 1
    assert value(after, "venice_bots_venice_errors_total", status="500") == 0
    # The live state and Venice's account headers, read at scrape time.
    assert value(after, "venice_bots_active_turns") == 0
    assert value(after, "venice_bots_queued_turns") == 0
    assert value(after, "venice_bots_venice_balance_usd") > 0
    assert value(after, "venice_bots_venice_remaining_requests") > 0


async def test_a_failed_turn_counts_as_failed_with_the_venice_error_by_status(
    console: Any, venice: FakeVenice
) -> None:
    async with console() as c:
        await ask(c.service, "Hello")
        venice.fail("/chat/completions", 500)
        with pytest.raises(ServerError):
            await ask(c.service, "Hello again")
        venice.drop_connection("/chat/completions", times=10)  # never answers, even retried
        with pytest.raises(VeniceUnreachable) as unreachable:
            await ask(c.service, "Are you there?")
        families = await c.scrape()
    assert "cannot reach Venice" in unreachable.value.user_message
    turns = "venice_bots_turns_total"
    assert value(families, turns, platform="test", kind="chat", outcome="answered") == 1
    assert value(families, turns, platform="test", kind="chat", outcome="failed") == 2
    assert value(families, "venice_bots_venice_errors_total", status="500") == 1
    assert value(families, "venice_bots_venice_errors_total", status="unreachable") >= 1
    assert "venice_bots_venice_errors" in families and all(
        s.labels["status"] in ("500", "unreachable") for s in families["venice_bots_venice_errors"]
    )
    assert value(families, "venice_bots_charged_usd_total", feature="chat") > 0  # the first turn only


@dataclass(frozen=True)
class Totals:
    """``LedgerTotals`` as ``store.ledger.totals()`` returns it, in micro-USD."""

    charged: dict[str, int]
    actions: dict[str, int]
    granted: int
    open_holds: int
    accounts: int


@dataclass
class FakeLedgerTotals:
    """A ledger that only adds up (``totals()``), counting how often it is asked; ``gate``, when
    set, holds each read until the test opens it."""

    totals_now: Totals
    reads: int = 0
    gate: asyncio.Event | None = None
    fails: bool = False
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    async def totals(self) -> Totals:
        self.reads += 1
        self.waiting.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fails:
            raise OSError("disk I/O error")
        return self.totals_now


async def test_a_console_without_a_bot_shows_the_database_totals_read_at_most_every_few_seconds(
    make_service: Any, clock: FakeClock
) -> None:
    ledger = FakeLedgerTotals(
        Totals(
            charged={"chat": 1_250_000, "image": 40_000},
            actions={"chat": 12, "image": 1},
            granted=5_000_000,
            open_holds=30_000,
            accounts=3,
        )
    )
    async with make_service() as service:
        assert isinstance(service.store, SqliteStore)
        await service.inbox.record("telegram", "update-1", "chat-1", "{}", lease=60.0)  # unanswered
        metrics = PrometheusMetrics(clock=clock.monotonic)  # no attach: a `venice-bots web` process
        metrics.read_database(ledger, service.store.inbox, max_age=INTERVAL)
        app = web.Application()
        add_metrics_route(app, metrics)
        async with serve(app) as http:
            c = Console(service, metrics, None, http)
            families = await c.scrape()
            assert all(name.startswith("venice_bots_") for name in families)
            assert value(families, "venice_bots_db_charged_usd_total", feature="chat") == 1.25
            assert value(families, "venice_bots_db_charged_usd_total", feature="image") == 0.04
            assert value(families, "venice_bots_db_actions_total", feature="chat") == 12
            assert value(families, "venice_bots_db_granted_usd_total") == 5.0
            assert value(families, "venice_bots_db_open_holds_usd") == 0.03
            assert value(families, "venice_bots_db_accounts") == 3
            assert value(families, "venice_bots_db_unanswered_messages") == 1
            assert "venice_bots_turns" not in families or not families["venice_bots_turns"]
            assert "venice_bots_active_turns" not in families  # no bot in this process

            await c.scrape()
            assert ledger.reads == 1  # fresh enough: not read again
            clock.now += INTERVAL
            ledger.gate = asyncio.Event()
            ledger.waiting.clear()
            scrapes = [asyncio.create_task(c.scrape()) for _ in range(3)]
            await ledger.waiting.wait()
            await asyncio.sleep(0.05)  # let the other scrapes arrive while the read is held
            ledger.gate.set()
            await asyncio.gather(*scrapes)
            assert ledger.reads == 2  # stale: read once, for all three scrapes at once

            ledger.fails, ledger.gate = True, None
            clock.now += INTERVAL
            families = await c.scrape()  # still served, without the totals it cannot read
            assert "venice_bots_db_accounts" not in families
            assert value(families, "venice_bots_build_info", version=version()) == 1


# ----- /healthz and /readyz


async def test_healthz_answers_while_the_process_serves(console: Any) -> None:
    async with console() as c:
        response = await c.http.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


async def test_readyz_follows_a_venice_outage_and_its_recovery(
    console: Any, venice: FakeVenice, clock: FakeClock
) -> None:
    async with console() as c:
        await ask(c.service, "Hello")
        probes = len(venice.calls_to("/models"))
        ready = await c.http.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        assert len(venice.calls_to("/models")) == probes  # Venice just answered a turn: no probe

        clock.now += RECENT + 1  # nothing asked of Venice for a while: readiness asks it once
        venice.fail("/models", 503)
        down = await c.http.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("text/plain")
        assert "Venice is unreachable: it answers HTTP 503" in down.text
        assert "database" not in down.text
        assert TEST_KEY not in down.text
        again = await c.http.get("/readyz")  # within the interval: the same answer, Venice not asked
        assert (again.status_code, again.text) == (503, down.text)
        assert len(venice.calls_to("/models")) == probes + 1

        clock.now += INTERVAL
        venice.drop_connection("/models")
        gone = await c.http.get("/readyz")
        assert gone.status_code == 503
        assert "Venice is unreachable: the server closed the connection without an answer" in gone.text

        clock.now += INTERVAL
        venice.fail("/models", 401)
        refused = await c.http.get("/readyz")
        assert refused.status_code == 503
        assert "Venice rejects the API key (HTTP 401): check VENICE_API_KEY" in refused.text
        assert c.service.venice.failures.recent == 0  # a probe's failure costs the bot nothing

        clock.now += INTERVAL  # Venice is back
        recovered = await c.http.get("/readyz")
        assert (recovered.status_code, recovered.text) == (200, "ready\n")
        assert len(venice.calls_to("/models")) == probes + 4


async def test_concurrent_readiness_checks_share_one_probe(
    console: Any, venice: FakeVenice, clock: FakeClock
) -> None:
    async with console() as c:
        clock.now += RECENT + 1
        probes = len(venice.calls_to("/models"))
        hold = venice.hold_answer("/models")
        asked = [asyncio.create_task(c.http.get("/readyz")) for _ in range(3)]
        await hold.arrived.wait()
        await asyncio.sleep(0.05)  # the other requests arrive while the probe is held
        hold.release()
        answers = await asyncio.gather(*asked)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(venice.calls_to("/models")) == probes + 1


async def test_readyz_says_when_the_database_cannot_be_written_and_recovers(
    console: Any, clock: FakeClock
) -> None:
    async with console() as c:
        assert isinstance(c.service.store, SqliteStore)
        database = c.service.store.database
        assert (await c.http.get("/readyz")).status_code == 200

        await database.fetchall("PRAGMA query_only = ON")
        clock.now += INTERVAL
        down = await c.http.get("/readyz")
        assert down.status_code == 503
        assert "the database is not writable: read-only" in down.text
        assert (await c.http.get("/healthz")).status_code == 200  # alive, just not ready

        await database.fetchall("PRAGMA query_only = OFF")
        clock.now += INTERVAL
        recovered = await c.http.get("/readyz")
        assert (recovered.status_code, recovered.text) == (200, "ready\n")
