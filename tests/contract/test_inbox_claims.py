"""Several workers sharing one inbox: each claims what nobody holds, and a chat's messages are
answered one after another whichever worker takes them (both backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.money import AllowancePolicy
from core.ports.storage import Store
from tests.contract.conftest import Now, open_backend

POLICY = AllowancePolicy(amount=0, period="none")


@asynccontextmanager
async def two_workers(backend: str, folder: Path, now: Now) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two workers open them."""
    async with (
        open_backend(backend, folder, policy=POLICY, clock=now) as first,
        open_backend(backend, folder, policy=POLICY, clock=now) as second,
    ):
        yield first, second


async def test_workers_share_the_inbox_and_keep_each_chats_messages_in_order(
    backend: str, tmp_path: Path, now: Now
) -> None:
    async with two_workers(backend, tmp_path, now) as (first, second):
        # The poller records each message for anyone to claim (lease 0).
        for key, chat in (("1", "100"), ("2", "100"), ("3", "101"), ("4", "102")):
            assert await first.inbox.record("telegram", key, chat, f'{{"n": {key}}}', lease=0)
        now.advance(0.01)
        mine = await first.inbox.claim_next("telegram", window=600, lease=60, limit=1)
        assert [(i.key, i.payload) for i in mine] == [("1", '{"n": 1}')]
        # The second worker skips chat 100: its first message is still being answered.
        theirs = await second.inbox.claim_next("telegram", window=600, lease=60, limit=5)
        assert [i.key for i in theirs] == ["3", "4"]
        assert await second.inbox.claim_next("telegram", window=600, lease=60, limit=5) == []
        # The worker answering a chat may take that chat's next message (it answers them in order).
        assert [i.key for i in await first.inbox.claim_next("telegram", window=600, lease=60, limit=5)] == [
            "2"
        ]

        await first.inbox.record("telegram", "5", "100", '{"n": 5}', lease=0)
        now.advance(0.01)
        assert await second.inbox.claim_next("telegram", window=600, lease=60, limit=5) == []
        await first.inbox.answered("telegram", ["1", "2"])
        assert [i.key for i in await second.inbox.claim_next("telegram", window=600, lease=60, limit=5)] == [
            "5"
        ]


async def test_a_dead_workers_messages_are_claimed_once_its_lease_runs_out(
    backend: str, tmp_path: Path, now: Now
) -> None:
    async with open_backend(backend, tmp_path, policy=POLICY, clock=now) as dead:
        await dead.inbox.record("telegram", "1", "100", '{"n": 1}', lease=0)
        await dead.inbox.record("telegram", "2", "100", '{"n": 2}', lease=0)
        now.advance(0.01)
        assert len(await dead.inbox.claim_next("telegram", window=600, lease=60, limit=5)) == 2
    async with open_backend(backend, tmp_path, policy=POLICY, clock=now) as alive:
        now.advance(30)
        assert await alive.inbox.claim_next("telegram", window=600, lease=60, limit=5) == []  # still held
        now.advance(31)
        assert [i.key for i in await alive.inbox.claim_next("telegram", window=600, lease=60, limit=5)] == [
            "1",
            "2",
        ]
        await alive.inbox.answered("telegram", ["1", "2"])
        # A message recorded without its content (an ephemeral chat) is its receiver's alone.
        await alive.inbox.record("telegram", "3", "200", None, lease=60)
        now.advance(61)
        assert await alive.inbox.claim_next("telegram", window=600, lease=60, limit=5) == []


async def test_a_waiting_worker_hears_of_a_new_message_for_anyone(
    backend: str, tmp_path: Path, now: Now
) -> None:
    async with open_backend(backend, tmp_path, policy=POLICY, clock=now) as store:
        await store.inbox.wait_for_more("telegram", 0.01)  # nothing yet: it returns after the timeout
        await store.inbox.record("telegram", "1", "100", "{}", lease=0)
        await store.inbox.wait_for_more("telegram", 30)  # returns at once: a message came


async def test_a_worker_keeps_what_it_answers_by_renewing_its_claims(
    backend: str, tmp_path: Path, now: Now
) -> None:
    async with two_workers(backend, tmp_path, now) as (busy, other):
        await busy.inbox.record("telegram", "1", "100", "{}", lease=0)
        now.advance(0.01)
        assert len(await busy.inbox.claim_next("telegram", window=600, lease=45, limit=5)) == 1
        now.advance(40)
        await busy.inbox.renew("telegram", ["1"], lease=45)
        await other.inbox.renew("telegram", ["1"], lease=3600)  # not its claim: nothing changes
        now.advance(40)  # past the first lease: the renewed one holds
        assert await other.inbox.claim_next("telegram", window=600, lease=45, limit=5) == []
        now.advance(10)  # its worker stopped renewing (it died): another takes it
        assert [i.key for i in await other.inbox.claim_next("telegram", window=600, lease=45, limit=5)] == [
            "1"
        ]
