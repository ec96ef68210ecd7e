"""What every storage backend does, through the Protocols of core/ports/storage.py only."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.characters.cards import Persona
from core.errors import InvalidInput
from core.events import Charge
from core.money import MICRO, AllowancePolicy, InsufficientCredit
from core.ports.records import ConversationKey, Reservation, VideoJob
from core.ports.storage import LedgerStore, Store
from tests.contract.conftest import Now, open_backend

KEY = ConversationKey("telegram", "chat-1")


# ----- conversations


async def test_a_turn_is_stored_whole_and_read_back_newest_last(store: Store) -> None:
    conversations = store.conversations
    alice = await conversations.user_id("telegram", "1", "Alice")
    assert await conversations.user_id("telegram", "1", None) == alice  # seen once, same id
    conversation = await conversations.active(KEY)
    await conversations.save_turn(
        conversation, user_id=alice, question="hi", question_tokens=1, answer="hello", answer_tokens=2
    )
    again = await conversations.active(KEY)
    assert [(m.role, m.content) for m in await conversations.newest(again, 100)] == [
        ("user", "hi"),
        ("assistant", "hello"),
    ]
    turn = await conversations.last_turn(again)
    assert turn is not None and (turn[0].content, turn[1].content) == ("hi", "hello")
    assert await conversations.count_messages(again) == 2
    assert await conversations.counts() == {"users": 1, "conversations": 1, "messages": 2}


async def test_a_regenerated_turn_replaces_the_old_one(store: Store) -> None:
    conversations = store.conversations
    conversation = await conversations.active(KEY)
    await conversations.save_turn(
        conversation, user_id=None, question="q", question_tokens=1, answer="a1", answer_tokens=1
    )
    old = await conversations.last_turn(conversation)
    await conversations.save_turn(
        conversation,
        user_id=None,
        question="q",
        question_tokens=1,
        answer="a2",
        answer_tokens=1,
        interrupted=True,
        replacing=old,
    )
    messages = await conversations.newest(conversation, 100)
    assert [(m.content, m.interrupted) for m in messages] == [("q", False), ("a2", True)]
    assert await conversations.count_messages(conversation) == 2


async def test_reset_starts_a_new_conversation_only_when_the_old_one_has_messages(store: Store) -> None:
    conversations = store.conversations
    first = await conversations.active(KEY)
    assert await conversations.reset(KEY) is False  # nothing in it: kept
    await conversations.save_turn(
        first, user_id=None, question="q", question_tokens=1, answer="a", answer_tokens=1
    )
    assert await conversations.reset(KEY) is True
    second = await conversations.active(KEY)
    assert second.id != first.id and await conversations.newest(second, 100) == []


async def test_a_greeting_opens_only_an_empty_conversation_and_can_be_swapped(store: Store) -> None:
    conversations = store.conversations
    conversation = await conversations.active(KEY)
    assert await conversations.save_greeting(conversation, "Greetings.", 2) is True
    assert await conversations.save_greeting(conversation, "Again?", 1) is False
    assert await conversations.replace_opening(conversation, "Hello there.", 3) is True
    assert [m.content for m in await conversations.newest(conversation, 100)] == ["Hello there."]


async def test_a_summary_covers_the_oldest_messages(store: Store) -> None:
    conversations = store.conversations
    conversation = await conversations.active(KEY)
    for n in range(3):
        await conversations.save_turn(
            conversation, user_id=None, question=f"q{n}", question_tokens=5, answer=f"a{n}", answer_tokens=5
        )
    oldest = await conversations.oldest_unsummarized(conversation, 10)
    assert [m.content for m in oldest] == ["q0", "a0"]
    await conversations.save_summary(
        conversation, summary="They said hello.", summary_tokens=4, upto_id=oldest[-1].id, folded_tokens=10
    )
    conversations.drop_cached({conversation.id})
    again = await conversations.active(KEY)
    assert again.summary == "They said hello."
    assert [m.content for m in await conversations.newest(again, 100)] == ["q1", "a1", "q2", "a2"]


# ----- chat settings, personas, state, updates


async def test_chat_settings_default_change_and_persist(store: Store) -> None:
    chat_settings = store.chat_settings
    assert (await chat_settings.get("discord", "9")).model is None
    changed = await chat_settings.update("discord", "9", model="m", retention_days=3)
    assert (changed.model, changed.retention_days) == ("m", 3)
    chat_settings.drop_cached("discord", "9")
    assert await chat_settings.get("discord", "9") == changed


async def test_persona_names_are_unique_whatever_their_case(store: Store) -> None:
    personas = store.personas
    made = await personas.create(Persona(name="Ada", system_prompt="You are Ada."), actor="admin")
    assert made.id is not None
    with pytest.raises(InvalidInput, match="There is a persona called"):
        await personas.create(Persona(name="ada"), actor="admin")
    found = await personas.by_name(" ADA ")
    assert found is not None and found.id == made.id
    await personas.update(dataclasses.replace(made, system_prompt="You are Ada, changed."))
    fetched = await personas.get(made.id)
    assert fetched is not None and fetched.system_prompt == "You are Ada, changed."
    await personas.create(Persona(name="Bob"), actor="admin")
    assert [p.name for p in await personas.all()] == ["Ada", "Bob"]
    await personas.delete(made.id)
    assert await personas.get(made.id) is None


async def test_state_keeps_the_last_value(store: Store) -> None:
    assert await store.state.get("k") is None
    await store.state.set("k", "v1")
    await store.state.set("k", "v2")
    assert await store.state.get("k") == "v2"


async def test_the_inbox_records_once_and_gives_back_what_a_crash_left_unanswered(
    backend: str, tmp_path: Path, now: Now
) -> None:
    policy = AllowancePolicy(amount=0, period="none")
    async with open_backend(backend, tmp_path, policy=policy, clock=now) as store:
        inbox = store.inbox
        assert await inbox.record("telegram", "7", "100", '{"n": 7}', lease=60) is True
        assert await inbox.record("telegram", "7", "100", '{"n": 7}', lease=60) is False  # a redelivery
        assert await inbox.record("discord", "7", "200", '{"n": 7}', lease=60) is True  # per platform
        now.advance(1)
        await inbox.record("telegram", "8", "101", '{"n": 8}', lease=60)
        await inbox.record("telegram", "9", "100", '{"n": 9}', lease=60)
        await inbox.answered("telegram", ["8"])
        assert await inbox.unanswered() == 3
    # The next process takes over what the last one (it crashed) left, oldest first, once that
    # one's leases ran out (SQLite's one process may take them sooner: see test_sqlite_inbox).
    now.advance(61)
    async with open_backend(backend, tmp_path, policy=policy, clock=now) as store:
        items = await store.inbox.take_over("telegram", window=600, lease=60)
        assert [(i.key, i.chat, i.payload) for i in items] == [
            ("7", "100", '{"n": 7}'),
            ("9", "100", '{"n": 9}'),
        ]
        assert await store.inbox.take_over("telegram", window=600, lease=60) == []  # claimed now
        assert await store.inbox.record("telegram", "9", "100", "{}", lease=60) is False  # still known
        await store.inbox.answered("telegram", ["7", "9"])
        assert await store.inbox.unanswered() == 1  # discord's


async def test_the_inbox_gives_up_messages_older_than_the_window(store: Store, now: Now) -> None:
    await store.inbox.record("telegram", "1", "100", '{"old": true}', lease=60)
    now.advance(3600)
    await store.inbox.record("telegram", "2", "100", '{"new": true}', lease=60)
    now.advance(61)
    assert [i.key for i in await store.inbox.take_over("telegram", window=1800, lease=60)] == ["2"]
    assert await store.inbox.take_over("telegram", window=86_400, lease=60) == []  # its content is gone


async def test_what_is_done_atomically_is_kept_whole_or_not_at_all(store: Store) -> None:
    conversations, ledger = store.conversations, store.ledger
    await ledger.grant("user:1", 1000, actor="test")
    conversation = await conversations.active(KEY)
    await store.inbox.record("telegram", "5", "chat-1", "{}", lease=60)
    held = await ledger.reserve("user:1", 400, feature="chat")
    with pytest.raises(RuntimeError):
        async with store.atomic():
            await conversations.save_turn(
                conversation, user_id=None, question="q", question_tokens=1, answer="a", answer_tokens=1
            )
            await ledger.settle(held, 100)
            await store.inbox.answered("telegram", ["5"])
            raise RuntimeError("the power went out")
    conversations.drop_cached({conversation.id})
    conversation = await conversations.active(KEY)  # as the database has it
    assert await conversations.newest(conversation, 100) == []
    assert [r.request_id for r in await ledger.open_reservations()] == [held.request_id]
    assert await store.inbox.unanswered() == 1
    async with store.atomic():
        await conversations.save_turn(
            conversation, user_id=None, question="q", question_tokens=1, answer="a", answer_tokens=1
        )
        assert await ledger.settle(held, 100) == 100
        await store.inbox.answered("telegram", ["5"])
    assert await ledger.open_reservations() == []
    assert await ledger.balance("user:1") == 900
    assert await store.inbox.unanswered() == 0
    assert len(await conversations.newest(await conversations.active(KEY), 100)) == 2


# ----- users and video jobs


async def test_the_user_directory_finds_without_creating(store: Store) -> None:
    users = store.users
    assert await users.find("telegram", "5") is None and await users.get("telegram", "5") is None
    uid = await store.conversations.user_id("telegram", "5", "Eve")
    found = await users.get("telegram", "5")
    assert found is not None and (found.id, found.name, found.owner) == (uid, "telegram:5", f"user:{uid}")
    page = await users.search("ev")
    assert [u.name for u in page.users] == ["telegram:5"] and page.total == 1
    assert await users.sharing(f"user:{uid}") == ["telegram:5"]
    assert await users.chat_seen("telegram", "chat-9") is False
    await store.chat_settings.update("telegram", "chat-9", model="m")
    assert await users.chat_seen("telegram", "chat-9") is True


async def test_a_video_job_moves_only_from_the_state_it_is_in(store: Store, now: Now) -> None:
    job = VideoJob(
        id="j1", status="quoted", platform="telegram", chat_id="c", thread_id=None, user_id="5",
        owner="user:1", model="m", request={"prompt": "a cat"}, quote=1000, reservation=None,
        queue_id=None, created_at=now(), queued_at=None, finished_at=None,
    )  # fmt: skip
    await store.video_jobs.create(job)
    assert await store.video_jobs.move("j1", "quoted", "queued", queue_id="q1", queued_at=now()) is True
    assert await store.video_jobs.move("j1", "quoted", "cancelled") is False  # someone moved it first
    stored = await store.video_jobs.get("j1")
    assert stored is not None and (stored.status, stored.queue_id, stored.prompt) == ("queued", "q1", "a cat")
    assert [j.id for j in await store.video_jobs.queued()] == ["j1"]


# ----- privacy


async def test_expired_messages_go_and_a_users_content_can_be_deleted(store: Store, now: Now) -> None:
    uid = await store.conversations.user_id("telegram", "1", "Alice")
    conversation = await store.conversations.active(KEY)
    await store.conversations.save_turn(
        conversation, user_id=uid, question="old", question_tokens=1, answer="reply", answer_tokens=1
    )
    now.advance(2 * 86_400)
    await store.conversations.save_turn(
        conversation, user_id=uid, question="new", question_tokens=1, answer="reply2", answer_tokens=1
    )
    assert await store.privacy.delete_expired(1, now(), 200) == [conversation.id, conversation.id]
    assert await store.privacy.delete_expired(1, now(), 200) == []
    user = await store.privacy.user("telegram", "1")
    assert user is not None and (user.id, user.display_name) == (uid, "Alice")
    assert await store.privacy.conversations_of(uid, "telegram", "1", [""]) == {conversation.id}
    assert await store.privacy.others_spoke(conversation.id, uid) is False
    held = await store.privacy.messages([conversation.id], [])
    assert [(m.role, m.content, m.author) for m in held] == [
        ("user", "new", uid),
        ("assistant", "reply2", None),
    ]
    deleted, spread = await store.privacy.delete_user_content(
        uid, "telegram", "1", whole=[conversation.id], shared=[], touched={conversation.id}
    )
    assert (deleted, spread) == (2, {conversation.id})
    gone = await store.privacy.user("telegram", "1")
    assert gone is not None and gone.display_name is None
    await store.privacy.checkpoint()


# ----- the ledger


async def test_a_reservation_closes_once_and_overspend_never_goes_below_zero(store: Store) -> None:
    ledger = store.ledger
    await ledger.grant("user:1", 10_000, actor="test")
    first = await ledger.reserve("user:1", 4_000, feature="chat")
    await ledger.refund(first)
    await ledger.refund(first)  # a second refund is ignored
    await ledger.settle(first, 4_000)  # and so is a settle after it
    assert await ledger.balance("user:1") == 10_000
    second = await ledger.reserve("user:1", 4_000, feature="chat")
    assert await ledger.settle(second, 50_000) == 10_000  # capped by the balance
    assert await ledger.balance("user:1") == 0
    with pytest.raises(InsufficientCredit):
        await ledger.reserve("user:1", 1, feature="chat")
    await ledger.set_unlimited("user:admin", True)
    unlimited = await ledger.reserve("user:admin", 5 * MICRO, feature="chat")
    await ledger.settle(unlimited, 6 * MICRO)
    assert await ledger.balance("user:admin") == -6 * MICRO  # admins spend the operator's money
    await _assert_invariant(ledger, ["user:1", "user:admin"])


async def test_an_undelivered_answer_is_given_back_once_and_only_what_it_cost(store: Store) -> None:
    ledger = store.ledger
    await ledger.grant("user:1", 10_000, actor="test")
    held = await ledger.reserve("user:1", 4_000, feature="chat")
    charge = Charge.of(held, await ledger.settle(held, 3_000))
    assert await ledger.balance("user:1") == 7_000
    assert await ledger.refund_undelivered(charge) is True
    assert await ledger.refund_undelivered(charge) is False  # refused by the database, not the code
    assert await ledger.balance("user:1") == 10_000
    other = await ledger.reserve("user:1", 1_000, feature="image")
    assert await ledger.refund_undelivered(Charge.of(other, await ledger.settle(other, 1_000))) is True
    assert await ledger.balance("user:1") == 10_000
    newest = await ledger.entries("user:1", limit=1)
    assert (
        newest[0].kind == "adjustment"
        and newest[0].feature == "image"
        and "not be delivered" in str(newest[0].note)
    )
    await _assert_invariant(ledger, ["user:1"])


async def _assert_invariant(ledger: LedgerStore, owners: list[str]) -> None:
    """Balance = the sum of the entries; every settle or refund closes a reservation made
    before it, at most once."""
    assert await ledger.check() == []
    for owner in owners:
        balance = await ledger.balance(owner)  # first: it books an allowance that is due
        entries = list(reversed(await ledger.entries(owner, limit=10_000)))
        assert sum(e.amount for e in entries) == balance
        reserved: set[str] = set()
        closed: set[str] = set()
        for entry in entries:
            if entry.kind == "reserve":
                assert entry.request_id is not None
                reserved.add(entry.request_id)
            elif entry.kind in ("settle", "refund"):
                assert entry.request_id in reserved, f"{entry.kind} without a reservation"
                assert entry.request_id not in closed, f"{entry.request_id} closed twice"
                closed.add(entry.request_id)


operation = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(["user:1", "user:2"]), st.integers(1, 50_000)),
    st.tuples(st.just("take"), st.sampled_from(["user:1", "user:2"]), st.integers(1, 50_000)),
    st.tuples(st.just("reserve"), st.sampled_from(["user:1", "user:2"]), st.integers(0, 30_000)),
    st.tuples(st.just("settle"), st.integers(0, 20), st.integers(0, 60_000)),
    st.tuples(st.just("refund"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("day"), st.just(""), st.integers(1, 3)),
)


async def run_ledger_ops(ledger: LedgerStore, now: Now, ops: list[tuple[str, object, int]]) -> None:
    """Apply a sequence of ledger operations, checking the invariant after each and at the end."""
    open_reservations: list[Reservation] = []
    for kind, target, amount in ops:
        if kind == "grant":
            await ledger.grant(str(target), amount, actor="test")
        elif kind == "take":
            await ledger.grant(str(target), -amount, actor="test")
        elif kind == "reserve":
            before = await ledger.balance(str(target))
            try:
                open_reservations.append(await ledger.reserve(str(target), amount, feature="chat"))
            except InsufficientCredit:
                assert before < amount  # refused only when it truly did not fit
        elif kind in ("settle", "refund") and open_reservations:
            reservation = open_reservations[int(str(target)) % len(open_reservations)]
            if kind == "settle":
                await ledger.settle(reservation, amount)
            else:
                await ledger.refund(reservation)
        elif kind == "day":
            now.advance(86_400 * amount)
        assert await ledger.check() == []
    await _assert_invariant(ledger, ["user:1", "user:2"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, max_size=40), st.booleans())
def test_the_ledger_invariant_holds_under_any_sequence(
    backend: str, ops: list[tuple[str, object, int]], roll_over: bool
) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            now = Now()
            policy = AllowancePolicy(amount=20_000, period="daily", roll_over=roll_over)
            async with open_backend(backend, Path(tmp), policy=policy, clock=now) as store:
                await run_ledger_ops(store.ledger, now, ops)

    asyncio.run(run())
