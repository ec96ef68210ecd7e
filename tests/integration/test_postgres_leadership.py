"""One poller among the workers on one PostgreSQL database: a session-level advisory lock that
passes to another worker when the leader steps down or its connection dies."""

from __future__ import annotations

import asyncio

import asyncpg

from adapters.storage.postgres.leadership import AdvisoryLeadership
from adapters.telegram.receiving import POLLING
from tests.contract.conftest import Now
from tests.integration.test_postgres_workers import workers


async def test_one_worker_leads_and_another_takes_over_when_it_steps_down(postgres_url: str) -> None:
    first, second = AdvisoryLeadership(postgres_url), AdvisoryLeadership(postgres_url)
    try:
        assert await first.lead(POLLING) is True
        assert await second.lead(POLLING) is False
        assert await first.lead(POLLING) is True  # leading still
        assert await second.lead("another role") is True  # roles are apart
        await first.step_down(POLLING)
        assert await second.lead(POLLING) is True
        assert await first.lead(POLLING) is False
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_leader_whose_connection_dies_loses_the_role_to_the_next_worker(postgres_url: str) -> None:
    leader, waiting = AdvisoryLeadership(postgres_url), AdvisoryLeadership(postgres_url)
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await leader.lead(POLLING) is True
        assert await waiting.lead(POLLING) is False
        # The leader's process dies: the server ends its session (as when its socket closes).
        killed = await conn.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
        )
        assert killed == 1
        for _ in range(50):  # the server frees the lock as the session ends
            if await waiting.lead(POLLING):
                break
            await asyncio.sleep(0.1)
        assert await waiting.lead(POLLING) is True
        assert await leader.lead(POLLING) is False  # it learns it lost the role, and does not get it back
    finally:
        await conn.close()
        await leader.aclose()
        await waiting.aclose()


async def test_every_store_on_postgres_is_shared_and_wakes_waiting_workers(postgres_url: str) -> None:
    async with workers(postgres_url, Now(), count=2) as (poller, other):
        assert poller.leadership.shared and other.leadership.shared
        await other.inbox.wait_for_more("telegram", 0.01)  # starts listening
        waiting = asyncio.create_task(other.inbox.wait_for_more("telegram", 60))
        await asyncio.sleep(0.1)
        await poller.inbox.record("telegram", "1", "100", "{}", lease=0)
        await asyncio.wait_for(waiting, 10)  # told at once, not after its 60 s
