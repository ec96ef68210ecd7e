"""Several workers on one PostgreSQL database: two ``PostgresStore`` instances, each with its own
pool, as two processes of ``venice-bots run`` have. What one writes the other reads at once, a
message is claimed by one worker at a time, and a live lease of another worker is left alone."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.storage.postgres.store import PostgresStore
from core.characters.cards import Persona
from core.money import AllowancePolicy
from core.ports.records import ConversationKey, VideoJob
from tests.contract.conftest import Now

KEY = ConversationKey("telegram", "chat-1")
LEASE = 60


@asynccontextmanager
async def workers(url: str, now: Now, count: int = 2) -> AsyncIterator[list[PostgresStore]]:
    """``count`` workers on one database, opened (and migrated) at once."""
    stores = [
        PostgresStore(url, policy=AllowancePolicy(amount=0, period="none"), clock=now, pool_size=4)
        for _ in range(count)
    ]
    opened = await asyncio.gather(*(store.__aenter__() for store in stores))
    try:
        yield list(opened)
    finally:
        for store in stores:
            await store.__aexit__(None, None, None)


async def test_workers_taking_over_at_once_never_get_the_same_message(postgres_url: str) -> None:
    now = Now()
    async with workers(postgres_url, now, count=4) as (dead, *alive):
        for n in range(120):  # recorded by a worker that then died, its leases running out
            await dead.inbox.record("telegram", str(n), f"chat-{n % 30}", f'{{"n": {n}}}', lease=LEASE)
        now.advance(LEASE + 1)
        rounds = await asyncio.gather(
            *(w.inbox.take_over("telegram", window=3600, lease=LEASE) for w in alive for _ in range(3))
        )
    keys = [item.key for taken in rounds for item in taken]
    assert sorted(keys, key=int) == [str(n) for n in range(120)]  # every one, and once only


async def test_a_live_lease_of_another_worker_is_left_alone_and_an_expired_one_taken(
    postgres_url: str,
) -> None:
    now = Now()
    async with workers(postgres_url, now) as (one, two):
        assert await one.inbox.record("telegram", "1", "chat-a", '{"n": 1}', lease=LEASE) is True
        assert await two.inbox.record("telegram", "1", "chat-a", '{"n": 1}', lease=LEASE) is False
        await two.inbox.record("telegram", "2", "chat-b", '{"n": 2}', lease=LEASE)
        now.advance(LEASE / 2)
        assert await two.inbox.take_over("telegram", window=3600, lease=LEASE) == []  # both held
        now.advance(LEASE)  # the first worker is gone: its lease (and the second's) ran out
        taken = await two.inbox.take_over("telegram", window=3600, lease=LEASE)
        assert [item.key for item in taken] == ["1", "2"]
        assert await one.inbox.take_over("telegram", window=3600, lease=LEASE) == []  # two holds them now
        await two.inbox.answered("telegram", ["1", "2"])
        assert await one.inbox.unanswered() == 0


async def test_a_chats_next_message_waits_while_another_worker_answers_the_one_before(
    postgres_url: str,
) -> None:
    now = Now()
    async with workers(postgres_url, now, count=3) as (busy, dead, other):
        await busy.inbox.record("telegram", "1", "chat-a", '{"n": 1}', lease=10 * LEASE)
        await dead.inbox.record("telegram", "2", "chat-a", '{"n": 2}', lease=LEASE)
        await dead.inbox.record("telegram", "3", "chat-b", '{"n": 3}', lease=LEASE)
        now.advance(LEASE + 1)
        # 2 would overtake 1, still being answered elsewhere: only the other chat's message.
        assert [i.key for i in await other.inbox.take_over("telegram", window=3600, lease=LEASE)] == ["3"]
        await busy.inbox.answered("telegram", ["1"])
        assert [i.key for i in await other.inbox.take_over("telegram", window=3600, lease=LEASE)] == ["2"]


async def test_setdefault_from_many_workers_at_once_keeps_the_first_value(postgres_url: str) -> None:
    now = Now()
    async with workers(postgres_url, now, count=3) as stores:
        results = await asyncio.gather(
            *(store.state.setdefault("poller", f"worker-{n}") for n in range(12) for store in stores)
        )
        assert len(set(results)) == 1 and results[0].startswith("worker-")
        assert await stores[0].state.get("poller") == results[0]


async def test_a_turn_saved_by_one_worker_is_in_the_next_window_of_another(postgres_url: str) -> None:
    now = Now()
    async with workers(postgres_url, now) as (one, two):
        mine = await one.conversations.active(KEY)
        await one.conversations.save_turn(
            mine, user_id=None, question="q1", question_tokens=1, answer="a1", answer_tokens=1
        )
        assert [m.content for m in await one.conversations.newest(mine, 100)] == ["q1", "a1"]  # cached
        theirs = await two.conversations.active(KEY)
        await two.conversations.save_turn(
            theirs, user_id=None, question="q2", question_tokens=1, answer="a2", answer_tokens=1
        )
        again = await one.conversations.active(KEY)  # its cache is stale: read again
        assert [m.content for m in await one.conversations.newest(again, 100)] == ["q1", "a1", "q2", "a2"]
        assert again.unsummarized_tokens == 4
        # A summary folded by the other worker, then a regenerated turn, are seen the same way.
        oldest = await two.conversations.oldest_unsummarized(theirs, 2)
        await two.conversations.save_summary(
            theirs, summary="They met.", summary_tokens=2, upto_id=oldest[-1].id, folded_tokens=2
        )
        again = await one.conversations.active(KEY)
        assert again.summary == "They met."
        assert [m.content for m in await one.conversations.newest(again, 100)] == ["q2", "a2"]
        turn = await one.conversations.last_turn(again)
        await one.conversations.save_turn(
            again,
            user_id=None,
            question="q2",
            question_tokens=1,
            answer="a2'",
            answer_tokens=1,
            replacing=turn,
        )
        assert (await one.conversations.active(KEY)) is again  # its own write keeps its cache
        latest = await two.conversations.active(KEY)
        assert [m.content for m in await two.conversations.newest(latest, 100)] == ["q2", "a2'"]
        # A reset through one worker starts a new conversation for both.
        assert await two.conversations.reset(KEY) is True
        fresh = await one.conversations.active(KEY)
        assert fresh.id != again.id and await one.conversations.newest(fresh, 100) == []


async def test_a_setting_or_persona_changed_through_one_worker_applies_in_the_other_at_once(
    postgres_url: str,
) -> None:
    now = Now()
    async with workers(postgres_url, now) as (one, two):
        assert (await two.chat_settings.get("telegram", "9")).model is None
        await one.chat_settings.update("telegram", "9", model="llama")
        assert (await two.chat_settings.get("telegram", "9")).model == "llama"
        # Two workers changing different settings of one chat at once both keep their change.
        await asyncio.gather(
            *(
                store.chat_settings.update("telegram", "9", **change)
                for store, change in ((one, {"web_search": "on"}), (two, {"voice_mode": "on"}))
            )
        )
        both = await one.chat_settings.get("telegram", "9")
        assert (both.model, both.web_search, both.voice_mode) == ("llama", "on", "on")
        ada = await one.personas.create(Persona(name="Ada", system_prompt="You are Ada."), actor="admin")
        assert ada.id is not None
        assert (await two.personas.get(ada.id)) == ada
        await two.personas.update(dataclasses.replace(ada, system_prompt="You are Ada, changed."))
        changed = await one.personas.get(ada.id)
        assert changed is not None and changed.system_prompt == "You are Ada, changed."


async def test_of_two_workers_resuming_one_video_job_exactly_one_moves_it(postgres_url: str) -> None:
    now = Now()
    job = VideoJob(
        id="j1", status="queued", platform="telegram", chat_id="c", thread_id=None, user_id="5",
        owner="user:1", model="m", request={"prompt": "a cat"}, quote=1000, reservation="r1",
        queue_id="q1", created_at=now(), queued_at=now(), finished_at=None,
    )  # fmt: skip
    async with workers(postgres_url, now) as (one, two):
        await one.video_jobs.create(job)
        moved = await asyncio.gather(
            *(store.video_jobs.move("j1", "queued", "done", finished_at=now()) for store in (one, two))
        )
        assert sorted(moved) == [False, True]
        done = await two.video_jobs.get("j1")
        assert done is not None and (done.status, done.finished_at, done.request) == (
            "done",
            now(),
            job.request,
        )


async def test_a_turn_saved_through_an_older_copy_of_a_conversation_is_not_lost_from_the_window(
    postgres_url: str,
) -> None:
    now = Now()
    async with workers(postgres_url, now) as (one, two):
        older = await one.conversations.active(KEY)
        await one.conversations.newest(older, 100)  # its window cached
        theirs = await two.conversations.active(KEY)
        await two.conversations.save_turn(
            theirs, user_id=None, question="q1", question_tokens=1, answer="a1", answer_tokens=1
        )
        newer = await one.conversations.active(KEY)  # read again: a new copy
        assert newer is not older
        await one.conversations.newest(newer, 100)
        await one.conversations.save_turn(  # a task still holding the older copy
            older, user_id=None, question="q2", question_tokens=1, answer="a2", answer_tokens=1
        )
        latest = await one.conversations.active(KEY)
        assert [m.content for m in await one.conversations.newest(latest, 100)] == ["q1", "a1", "q2", "a2"]
