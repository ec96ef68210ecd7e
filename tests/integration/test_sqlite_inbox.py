"""SQLite's inbox is served by one process: after a restart, every claim of the process before
it is void at once (it is gone), where PostgreSQL's workers wait for each other's leases."""

from __future__ import annotations

from pathlib import Path

from adapters.storage.sqlite.store import SqliteStore
from core.money import AllowancePolicy
from tests.contract.conftest import Now


async def test_a_restarted_process_takes_over_the_last_ones_claims_at_once(tmp_path: Path) -> None:
    now = Now()
    policy = AllowancePolicy(amount=0, period="none")
    path = str(tmp_path / "bot.db")
    async with SqliteStore(path, policy=policy, clock=now) as store:
        await store.inbox.record("telegram", "7", "100", '{"n": 7}', lease=600)
    async with SqliteStore(path, policy=policy, clock=now) as store:  # the same moment: lease live
        items = await store.inbox.take_over("telegram", window=600, lease=60)
        assert [item.key for item in items] == ["7"]
        assert await store.inbox.take_over("telegram", window=600, lease=60) == []  # its own claim now
