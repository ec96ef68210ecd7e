"""The read queries of the operator's console (issue 19), on every backend: users page by page,
spending per day, the ledger's totals, a user's conversations by count, the models in use.

Data is made through the stores' own APIs; the shared clock (``now``) dates it."""

from __future__ import annotations

import datetime

from core.events import Charge
from core.ports.records import ConversationCount, ConversationKey, DayFigures, LedgerTotals
from core.ports.storage import Store
from tests.contract.conftest import START, Now

DAY = 86_400
DAY0 = START - START % DAY  # midnight UTC of the day START falls in
HOUR = 3_600


def day_name(midnight: float) -> str:
    """The "YYYY-MM-DD" of a UTC midnight, computed apart from the code under test."""
    return datetime.datetime.fromtimestamp(midnight, datetime.UTC).date().isoformat()


async def pay(store: Store, now: Now, at: float, owner: str, feature: str, held: int, cost: int) -> Charge:
    """Hold at ``at`` and settle the real cost a second later; the charge made."""
    now.value = at
    reservation = await store.ledger.reserve(owner, held, feature=feature)
    now.value = at + 1
    charged = await store.ledger.settle(reservation, cost)
    return Charge.of(reservation, charged)


async def test_user_pages_are_disjoint_cover_every_match_and_keep_the_order(store: Store, now: Now) -> None:
    conversations = store.conversations
    for number in range(7):
        now.advance(10)
        user = await conversations.user_id("telegram", str(number), f"Reader {number}")
        if number % 3 == 0:  # some have written (their activity is then their newest message)
            conversation = await conversations.active(ConversationKey("telegram", f"chat-{number}"))
            await conversations.save_turn(
                conversation, user_id=user, question="q", question_tokens=1, answer="a", answer_tokens=1
            )
    await conversations.user_id("discord", "99", "Someone else")
    for text in (None, "reader"):
        everyone = await store.users.search(text, limit=100)
        pages = [await store.users.search(text, limit=3, offset=start) for start in (0, 3, 6, 9)]
        paged = [user.id for page in pages for user in page.users]
        assert paged == [user.id for user in everyone.users]  # in order, none twice, none missing
        assert len(set(paged)) == len(paged) == everyone.total == (8 if text is None else 7)
        assert all(page.total == everyone.total for page in pages)
        assert pages[-1].users == []
    newest_first = [u.platform_user_id for u in (await store.users.search("reader", limit=3)).users]
    assert newest_first == ["6", "5", "4"]


async def test_daily_groups_settled_actions_by_utc_day_without_grants_refunds_or_holds(
    store: Store, now: Now
) -> None:
    ledger = store.ledger
    now.value = DAY0 + HOUR
    await ledger.grant("user:1", 50_000, actor="admin")  # credit, not spending
    await ledger.grant("user:2", 50_000, actor="admin")
    await pay(store, now, DAY0 + 2 * HOUR, "user:1", "chat", 1_000, 600)
    await pay(store, now, DAY0 + 3 * HOUR, "user:1", "image", 5_000, 5_000)
    await pay(store, now, DAY0 + DAY - 10, "user:1", "summary", 0, 300)  # charged after, beyond its hold
    now.value = DAY0 + 4 * HOUR
    failed = await ledger.reserve("user:1", 2_000, feature="chat")
    await ledger.refund(failed)
    # Day 1: only a hold, settled just after midnight: the day it is charged counts.
    now.value = DAY0 + 2 * DAY - 60
    late = await ledger.reserve("user:1", 900, feature="chat")
    now.value = DAY0 + 2 * DAY + 60
    await ledger.settle(late, 700)
    undelivered = await pay(store, now, DAY0 + 2 * DAY + HOUR, "user:1", "chat", 1_000, 800)
    assert await ledger.refund_undelivered(undelivered)
    await pay(store, now, DAY0 + 2 * DAY + 2 * HOUR, "user:2", "speech", 400, 400)
    now.value = DAY0 + 2 * DAY + 3 * HOUR
    await ledger.reserve("user:1", 3_000, feature="video")  # still held: not spent yet
    # Earlier than the first day asked for: left out.
    await pay(store, now, DAY0 - HOUR, "user:1", "chat", 100, 100)

    figures = await ledger.daily(DAY0 + 5 * HOUR)  # from the start of that day
    assert figures == [
        DayFigures(day_name(DAY0), spent=5_900, turns=1, actions=3),
        DayFigures(day_name(DAY0 + 2 * DAY), spent=1_100, turns=1, actions=2),
    ]
    assert await ledger.daily(DAY0 + DAY + HOUR) == figures[1:]
    assert await ledger.daily(DAY0 + 3 * DAY) == []


async def test_a_refunded_action_adds_nothing(store: Store, now: Now) -> None:
    ledger = store.ledger
    await ledger.grant("user:1", 10_000, actor="admin")
    failed = await ledger.reserve("user:1", 4_000, feature="chat")
    await ledger.refund(failed)
    assert await ledger.daily(START - DAY) == []
    totals = await ledger.totals()
    assert (totals.charged, totals.actions, totals.open_holds) == ({}, {}, 0)
    assert await ledger.balance("user:1") == 10_000


async def test_totals_count_what_was_charged_settled_granted_and_held(store: Store, now: Now) -> None:
    ledger = store.ledger
    assert await ledger.totals() == LedgerTotals({}, {}, 0, 0, 0)
    await ledger.grant("user:1", 50_000, actor="admin")
    await ledger.grant("user:2", 20_000, actor="admin")
    await ledger.grant("user:2", -5_000, actor="admin", note="taken back")
    await pay(store, now, START, "user:1", "chat", 1_000, 600)
    await pay(store, now, START + DAY, "user:2", "chat", 1_000, 1_000)
    await pay(store, now, START + DAY, "user:1", "image", 3_000, 2_500)
    undelivered = await pay(store, now, START + 2 * DAY, "user:1", "chat", 1_000, 900)
    assert await ledger.refund_undelivered(undelivered)
    refunded = await ledger.reserve("user:1", 7_000, feature="image")
    await ledger.refund(refunded)
    await ledger.reserve("user:1", 2_000, feature="video")
    await ledger.reserve("user:2", 300, feature="chat")
    await ledger.account("chat:telegram:g1")  # opened, never used

    totals = await ledger.totals()
    assert totals == LedgerTotals(
        charged={"chat": 1_600, "image": 2_500},
        actions={"chat": 2, "image": 1},
        granted=65_000,
        open_holds=2_300,
        accounts=3,
    )
    assert await ledger.check() == []


async def test_a_users_conversations_are_counted_per_chat_and_never_anyone_elses(
    store: Store, now: Now
) -> None:
    conversations = store.conversations
    alice = await conversations.user_id("telegram", "1", "Alice")
    bob = await conversations.user_id("telegram", "2", "Bob")

    async def turn(key: ConversationKey, user: int | None) -> None:
        now.advance(60)
        conversation = await conversations.active(key)
        await conversations.save_turn(
            conversation, user_id=user, question="secret", question_tokens=1, answer="reply", answer_tokens=1
        )

    group = ConversationKey("telegram", "group")
    assert await conversations.save_greeting(await conversations.active(group), "Hello all", 2)
    await turn(group, alice)
    await turn(group, bob)
    await turn(ConversationKey("telegram", "group", thread_id="7"), alice)  # a thread of the same chat
    await turn(ConversationKey("telegram", "alice-dm"), alice)
    await turn(ConversationKey("telegram", "bob-dm"), bob)
    await turn(group, alice)
    group_last = now.value
    await conversations.reset(ConversationKey("telegram", "alice-dm"))
    await turn(ConversationKey("telegram", "alice-dm"), alice)  # a new conversation, same chat
    await turn(ConversationKey("discord", "group"), bob)

    counts = await conversations.counts_of_user(alice)
    assert counts == [
        ConversationCount("telegram", "alice-dm", 4, now.value - 60),
        ConversationCount("telegram", "group", 6, group_last),
    ]
    assert await conversations.counts_of_user(bob) == [
        ConversationCount("discord", "group", 2, now.value),
        ConversationCount("telegram", "bob-dm", 2, group_last - 60),
        ConversationCount("telegram", "group", 2, START + 120),
    ]
    assert await conversations.counts_of_user(12345) == []


async def test_models_in_use_count_the_chats_that_pin_each_model(store: Store) -> None:
    settings = store.chat_settings
    assert await settings.models_in_use() == {}
    await settings.update("telegram", "a", model="llama-3.3-70b")
    await settings.update("discord", "a", model="llama-3.3-70b")
    await settings.update("telegram", "b", model="qwen3-235b")
    await settings.update("telegram", "c", web_search="on")  # the default model
    await settings.update("telegram", "d", model="qwen3-235b")
    await settings.update("telegram", "d", model=None)  # back to the default
    assert await settings.models_in_use() == {"llama-3.3-70b": 2, "qwen3-235b": 1}
