"""What workers share besides storage, on a real PostgreSQL: two stores (or two services), each
with its own pool, are two processes of ``venice-bots run`` on one database. They see each
other alive, run one-at-a-time work one at a time, and hold the limits together."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.storage.postgres.store import PostgresStore
from bots.admin import _check
from bots.bootstrap import build_service
from core.app import App
from core.billing.guards import AtVeniceLimit, KeyRateLimiter, TooFast, UserRateLimit
from core.events import Destination, Reply
from core.money import AllowancePolicy
from core.settings import Settings
from core.venice.client import VeniceClient
from core.venice.retry import FailureBudget, RetryPolicy
from tests.conftest import TEST_KEY
from tests.fakes.venice import FakeVenice
from tests.helpers import ask, message

USER = {"platform": "telegram", "user_id": "7"}


@asynccontextmanager
async def workers(url: str, count: int = 2) -> AsyncIterator[list[PostgresStore]]:
    """``count`` workers' stores on one database, opened at once and beating."""
    stores = [
        PostgresStore(url, policy=AllowancePolicy(amount=0, period="none"), pool_size=4) for _ in range(count)
    ]
    async with AsyncExitStack() as stack:
        for store in stores:
            await stack.enter_async_context(store)
            await store.coordination.start()
        yield stores


@asynccontextmanager
async def services(settings: Settings, retry: RetryPolicy, count: int = 2) -> AsyncIterator[list[App]]:
    """``count`` services (workers) built as ``venice-bots run`` builds them, on one database."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(build_service(settings, retry=retry)) for _ in range(count)]


async def eventually(condition: Callable[[], Awaitable[bool]], *, seconds: float = 15.0) -> bool:
    """Whether ``condition`` comes true within ``seconds`` (real time: a background task runs)."""
    for _ in range(int(seconds / 0.1)):
        if await condition():
            return True
        await asyncio.sleep(0.1)
    return await condition()


async def test_each_worker_sees_the_other_alive_and_one_that_stopped_beating_gone(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        assert one.coordination.worker_id != two.coordination.worker_id
        assert await one.coordination.others_alive(within=15)
        assert await two.coordination.others_alive(within=15)
        await asyncio.sleep(1.2)  # no beat in the last second: as a killed worker
        assert not await one.coordination.others_alive(within=1)
        await two.coordination.beat()
        assert await one.coordination.others_alive(within=1)
    async with workers(postgres_url, count=1) as (alone,):
        # The two before closed: they said they were gone, nobody waits for their beats to age.
        assert not await alone.coordination.others_alive(within=15)


async def test_exclusive_work_is_granted_to_one_worker_at_a_time(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        async with one.coordination.exclusively("retention-sweep") as first:
            async with two.coordination.exclusively("retention-sweep") as second:
                assert (first, second) == (True, False)
            async with two.coordination.exclusively("video-resume") as other:
                assert other  # another name is another lock
        async with two.coordination.exclusively("retention-sweep") as after:
            assert after  # released when its holder left the block


async def test_exclusive_work_is_released_when_its_holders_connection_dies(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        async with one.coordination.exclusively("retention-sweep") as first:
            assert first
            pids = await two.database.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
            assert len(pids) == 1
            # The holder's connection dies (its process killed, the network gone).
            assert await two.database.fetchval("SELECT pg_terminate_backend($1)", pids[0][0])
            assert await eventually(lambda: _granted(two))
        assert await _granted(one)  # its block ended quietly; the lock is free for anyone


async def _granted(store: PostgresStore) -> bool:
    async with store.coordination.exclusively("retention-sweep") as got:
        return got


async def test_a_video_lease_is_held_by_one_worker_until_released_or_run_out(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        assert await one.coordination.claim("video-job:a", 60)
        assert not await two.coordination.claim("video-job:a", 60)
        assert await one.coordination.claim("video-job:a", 60)  # renewed by its holder
        await one.coordination.release("video-job:a")
        assert await two.coordination.claim("video-job:a", 0.2)
        await asyncio.sleep(0.5)  # its holder stopped renewing it
        assert await one.coordination.claim("video-job:a", 60)


async def test_the_per_user_limit_counts_requests_through_every_worker(
    make_settings: Callable[..., Settings], retry: RetryPolicy, postgres_url: str, venice: FakeVenice
) -> None:
    settings = make_settings(database_url=postgres_url, rate_limit_per_minute=3)
    async with services(settings, retry) as (one, two):
        await ask(one, "first", **USER)
        await ask(two, "second", **USER)
        await ask(one, "third", **USER)
        with pytest.raises(TooFast) as info:
            await ask(two, "one too many", **USER)  # the other worker saw the three
        assert "too fast" in info.value.user_message
        await ask(two, "someone else", platform="telegram", user_id="8")  # others are served
        assert await one.store.ledger.check() == []
    assert len(venice.calls_to("/chat/completions")) == 4


async def test_a_refused_request_is_not_counted_and_the_limit_is_per_user(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        first, second = (UserRateLimit(2, workers=w.coordination) for w in (one, two))
        await first.acquire("telegram:7")
        await second.acquire("telegram:7")
        for limit in (first, second, first):
            with pytest.raises(TooFast) as info:
                await limit.acquire("telegram:7")
            assert 0 < info.value.retry_after <= 60
        assert await one.database.fetchval("SELECT sum(hits) FROM rate_hits") == 2
        await second.acquire("telegram:8")


async def test_the_keys_request_rate_is_paced_across_workers(
    postgres_url: str, venice: FakeVenice, retry: RetryPolicy
) -> None:
    async with workers(postgres_url) as (one, two), httpx.AsyncClient() as http:
        client = VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)
        body = await client.api_key_rate_limits()
        for entry in body["data"]["rateLimits"]:
            if entry["apiModelId"] == "venice-uncensored":
                entry["rateLimits"] = [{"amount": 2, "type": "RPM"}]
        venice.rate_limits = body
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        first, second = (
            KeyRateLimiter(client, max_wait=0.0, sleep=sleep, workers=w.coordination) for w in (one, two)
        )
        await first.acquire("venice-uncensored")
        await second.acquire("venice-uncensored")
        with pytest.raises(AtVeniceLimit):
            await first.acquire("venice-uncensored")  # the minute is full, whoever sent them
        await second.acquire("llama-3.3-70b")  # other models have their own limits
        assert slept == []


async def test_failures_in_one_worker_stop_the_others_retrying_and_sending(postgres_url: str) -> None:
    async with workers(postgres_url) as (one, two):
        mine = FailureBudget(shared=one.coordination.failures)
        theirs = FailureBudget(shared=two.coordination.failures)
        assert theirs.may_send() and theirs.may_retry()
        for _ in range(mine.retry_limit):
            mine.record_failure()
        assert not mine.may_retry()  # at once in the worker that failed
        assert await eventually(lambda: _not(theirs.may_retry))  # the other reads them within a second
        assert theirs.may_send()
        for _ in range(mine.hard_limit - mine.retry_limit):
            mine.record_failure()
        assert await eventually(lambda: _not(theirs.may_send))
        assert 0 < theirs.seconds_until_room() <= theirs.window
        assert mine.recent == mine.hard_limit  # its own are not counted twice


async def _not(check: Callable[[], bool]) -> bool:
    return not check()


async def test_a_queued_video_is_resumed_by_exactly_one_worker_and_delivered_once(
    make_settings: Callable[..., Settings], retry: RetryPolicy, postgres_url: str, venice: FakeVenice
) -> None:
    venice.video_polls_until_done = 3
    settings = make_settings(database_url=postgres_url, video_poll_seconds=5)
    async with build_service(settings, retry=retry) as service:
        quote = await ask(service, "/video a cat surfing", **USER)
        confirm = next(c.command for c in quote.reply.choices if c.command.startswith("/videoconfirm"))
        stream: Any = await service.handle_message(message(confirm, **USER))
        async for _ in stream:  # one progress update, then the worker stops
            break
    delivered: list[tuple[str, Destination, Reply]] = []
    # Both workers start, each resuming what is queued; neither can deliver until its
    # Telegram adapter is up, so both are running when the job could be followed twice.
    async with services(settings, retry) as (one, two):
        for name, worker in (("one", one), ("two", two)):

            async def deliver(destination: Destination, reply: Reply, name: str = name) -> None:
                delivered.append((name, destination, reply))

            worker.deliverers["telegram"] = deliver
        await one.videos.wait_idle()
        await two.videos.wait_idle()
        assert len(delivered) == 1
        _, destination, reply = delivered[0]
        assert (destination.chat_id, destination.user_id) == ("chat-1", "7")
        assert reply.attachments[0].mime_type == "video/mp4"
        assert len(venice.calls_to("/video/queue")) == 1
        assert await one.store.video_jobs.queued() == []
        assert await one.store.ledger.check() == []
        assert await one.store.ledger.open_reservations() == []
    assert len(venice.calls_to("/video/complete")) == 1


async def test_the_retention_sweep_runs_in_one_worker_at_a_time(
    make_settings: Callable[..., Settings], retry: RetryPolicy, postgres_url: str
) -> None:
    settings = make_settings(database_url=postgres_url)
    async with services(settings, retry) as (one, two):
        # Each worker's first round runs as it starts; the next is an hour away.
        assert await eventually(lambda: _swept(two))
        async with one.store.coordination.exclusively("retention-sweep") as sweeping:
            assert sweeping  # as one worker's sweep round holds it
            assert await two.privacy.sweep_round() is None  # the other skips its round
        assert await two.privacy.sweep_round() == 0  # then sweeps (nothing is old yet)


async def test_a_starting_worker_leaves_a_live_workers_holds_and_refunds_a_dead_ones(
    make_settings: Callable[..., Settings], retry: RetryPolicy, postgres_url: str
) -> None:
    settings = make_settings(database_url=postgres_url)
    async with build_service(settings, retry=retry) as one:
        owner = await one.account_of(message("", **USER))
        before = await one.store.ledger.balance(owner)
        held = await one.store.ledger.reserve(owner, 5_000, feature="chat")  # a turn running in one
        async with build_service(settings, retry=retry) as two:  # starts while one beats
            assert [r.request_id for r in await two.store.ledger.open_reservations()] == [held.request_id]
    # Both stopped (as if killed: nobody beats); the next worker to start is alone and refunds it.
    async with build_service(settings, retry=retry) as three:
        assert await three.store.ledger.open_reservations() == []
        assert await three.store.ledger.balance(owner) == before
        assert await three.store.ledger.check() == []


async def _swept(worker: App) -> bool:
    return await worker.privacy.sweep_round() is not None


async def test_admin_check_counts_a_live_workers_fresh_hold_as_live_and_a_dead_ones_as_orphaned(
    make_settings: Callable[..., Settings], retry: RetryPolicy, postgres_url: str
) -> None:
    settings = make_settings(database_url=postgres_url)
    admin = PostgresStore(postgres_url, policy=AllowancePolicy(amount=0, period="none"), pool_size=2)
    async with admin:  # as `venice-bots admin check` opens it: not a worker itself
        async with build_service(settings, retry=retry) as worker:
            owner = await worker.account_of(message("", **USER))
            await worker.store.ledger.reserve(owner, 5_000, feature="chat")
            out = io.StringIO()
            assert await _check(admin, settings, out) == 0
            assert "1 open holds ($0.005), 0 orphaned.\n" in out.getvalue()
        out = io.StringIO()
        await _check(admin, settings, out)  # the worker stopped: nobody can own it now
        assert "ORPHANED hold" in out.getvalue() and "1 orphaned; the bot is not running" in out.getvalue()


async def test_a_model_chosen_through_one_worker_answers_the_next_turn_served_by_another(
    make_service: Any, venice: FakeVenice, postgres_url: str
) -> None:
    async with (
        make_service(database_url=postgres_url) as one,
        make_service(database_url=postgres_url) as two,
    ):
        await ask(two, "Hello")  # the other worker has read this chat's settings once already
        await ask(one, "/model llama-3.3-70b")
        await ask(two, "And now?")
        await ask(one, "/model qwen3-vl-235b-a22b")
        await ask(two, "And back?")
    models = [c.body["model"] for c in venice.calls_to("/chat/completions") if c.body.get("stream")]
    assert models == ["venice-uncensored", "llama-3.3-70b", "qwen3-vl-235b-a22b"]
