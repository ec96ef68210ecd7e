"""What every storage backend's vector store does (long-term recall), through core/ports only."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.money import AllowancePolicy
from core.ports.records import ConversationKey
from core.ports.storage import Store
from core.ports.vectors import MemoryStats
from tests.contract.conftest import Now, open_backend
from tests.contract.recall import MODEL, chunk, privacy_of, remembered, turn, two_users, vector

KEY = ConversationKey("telegram", "chat-1")


async def test_a_search_finds_the_most_similar_chunks_best_first_above_the_floor(store: Store) -> None:
    conversation, question, answer = await turn(
        store, KEY, "my cat is called Miso", "Miso is a lovely name for a cat"
    )
    _, q2, a2 = await turn(store, KEY, "I live in Lisbon by the sea", "Lisbon is sunny")
    await store.vectors.add(conversation, MODEL, [chunk(question), chunk(answer), chunk(q2), chunk(a2)])
    found = await store.vectors.search(
        conversation, MODEL, vector("what is my cat called"), limit=3, floor=0.1, messages_before=1 << 62
    )
    assert [r.text for r in found][:2] == ["my cat is called Miso", "Miso is a lovely name for a cat"]
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    assert all(r.score >= 0.1 for r in found) and len(found) <= 3
    best = found[0]
    assert (best.message_id, best.kind, best.role, best.tokens) == (question.id, "message", "user", 5)
    assert best.created_at > 0
    assert await remembered(store, conversation, "what is my cat called", limit=1) == [
        "my cat is called Miso"
    ]
    nothing_alike = await store.vectors.search(
        conversation, MODEL, vector("quantum chromodynamics"), limit=3, floor=0.5, messages_before=1 << 62
    )
    assert nothing_alike == []


async def test_a_search_never_returns_another_conversations_chunks(store: Store) -> None:
    (mine, q1, _), (theirs, q2, _) = await two_users(store, "my PIN is 4242", "my PIN is 4242")
    await store.vectors.add(mine, MODEL, [chunk(q1)])
    await store.vectors.add(theirs, MODEL, [chunk(q2)])
    found = await store.vectors.search(
        mine, MODEL, vector("my PIN is 4242"), limit=10, floor=-1.0, messages_before=1 << 62
    )
    assert [r.message_id for r in found] == [q1.id]  # identical text, only this conversation's
    empty = await store.conversations.active(ConversationKey("telegram", "dm-3"))
    assert await remembered(store, empty, "my PIN is 4242") == []


async def test_the_verbatim_window_and_a_regenerated_answer_are_left_out_but_documents_are_not(
    store: Store,
) -> None:
    conversation, q1, a1 = await turn(store, KEY, "the boat is blue", "a blue boat")
    _, q2, a2 = await turn(store, KEY, "the boat is red", "a red boat")
    await store.vectors.add(
        conversation,
        MODEL,
        [chunk(q1), chunk(a1), chunk(q2, "report: the boat is green", kind="document"), chunk(q2), chunk(a2)],
    )
    # Only messages older than the verbatim window (here: the second turn is verbatim) ...
    older = await remembered(store, conversation, "the boat", messages_before=q2.id)
    assert sorted(older) == ["a blue boat", "report: the boat is green", "the boat is blue"]
    # ... and when regenerating the first answer, nothing of it or after it.
    assert await remembered(store, conversation, "the boat", before=a1.id) == ["the boat is blue"]


async def test_chunks_of_another_embedding_model_are_not_compared(store: Store) -> None:
    conversation, question, _ = await turn(store, KEY, "the code word is tangerine", "ok")
    await store.vectors.add(conversation, "another-embedding-model", [chunk(question)])
    assert await remembered(store, conversation, "the code word is tangerine") == []
    await store.vectors.add(conversation, MODEL, [chunk(question)])
    assert await remembered(store, conversation, "the code word is tangerine") == [
        "the code word is tangerine"
    ]


async def test_last_embedded_and_stats_say_what_is_remembered(store: Store) -> None:
    conversation, q1, a1 = await turn(store, KEY, "first question here", "first answer")
    assert await store.vectors.last_embedded(conversation) == 0
    assert await store.vectors.stats(conversation) == MemoryStats()
    _, q2, _ = await turn(store, KEY, "here is my report", "thanks")
    await store.vectors.add(conversation, MODEL, [chunk(q1), chunk(a1)])
    await store.vectors.add(
        conversation,
        MODEL,
        [chunk(q2, "part one of the report", "document"), chunk(q2, "part two of the report", "document")],
    )
    assert await store.vectors.last_embedded(conversation) == a1.id  # documents do not count
    assert await store.vectors.stats(conversation) == MemoryStats(
        chunks=4, messages=2, documents=1, tokens=15
    )


async def test_forget_deletes_the_users_chunks(store: Store, now: Now) -> None:
    alice = await store.conversations.user_id("telegram", "1", "Alice")
    key = ConversationKey("telegram", "dm-1")
    conversation, question, answer = await turn(store, key, "my secret is lavender", "kept", user=alice)
    await store.vectors.add(
        conversation, MODEL, [chunk(question), chunk(answer), chunk(question, "lavender memo", "document")]
    )
    assert len(await remembered(store, conversation, "my secret is lavender")) == 3  # cached now
    privacy = privacy_of(store, now)
    exported = await privacy.export("telegram", "1")
    assert exported["conversations"][0]["documents"][0]["text"] == "lavender memo"
    forgotten = await privacy.forget("telegram", "1")
    assert forgotten.messages == 2
    assert await remembered(store, conversation, "my secret is lavender") == []
    assert (await store.vectors.stats(conversation)).chunks == 0


async def test_forget_in_a_shared_chat_deletes_only_that_users_turns_chunks(store: Store, now: Now) -> None:
    alice = await store.conversations.user_id("telegram", "1", "Alice")
    bob = await store.conversations.user_id("telegram", "2", "Bob")
    group = ConversationKey("telegram", "group")
    conversation, q1, a1 = await turn(store, group, "alice likes tea", "tea noted", user=alice)
    _, q2, a2 = await turn(store, group, "bob likes coffee", "coffee noted", user=bob)
    await store.vectors.add(conversation, MODEL, [chunk(q1), chunk(a1), chunk(q2), chunk(a2)])
    await privacy_of(store, now).forget("telegram", "1")
    assert sorted(await remembered(store, conversation, "likes tea coffee")) == [
        "bob likes coffee",
        "coffee noted",
    ]


async def test_retention_deletes_old_chunks(store: Store, now: Now) -> None:
    conversation, q1, a1 = await turn(store, KEY, "the old fact is saffron", "saffron")
    now.advance(40 * 86_400)
    _, q2, _ = await turn(store, KEY, "the new fact is cumin", "cumin")
    await store.vectors.add(conversation, MODEL, [chunk(q1), chunk(a1), chunk(q2)])
    assert len(await remembered(store, conversation, "the fact is")) == 3  # cached now
    assert await privacy_of(store, now).sweep() == 2  # MESSAGE_RETENTION_DAYS: 30 by default
    assert await remembered(store, conversation, "the fact is") == ["the new fact is cumin"]
    assert (await store.vectors.stats(conversation)).chunks == 1


async def test_a_regenerated_turn_takes_its_chunks_along(store: Store) -> None:
    conversation, question, answer = await turn(store, KEY, "name a colour", "mauve")
    await store.vectors.add(conversation, MODEL, [chunk(question), chunk(answer)])
    assert len(await remembered(store, conversation, "colour mauve")) == 2
    await store.conversations.save_turn(
        conversation, user_id=None, question="name a colour", question_tokens=3, answer="teal",
        answer_tokens=1, replacing=(question, answer),
    )  # fmt: skip
    assert await remembered(store, conversation, "colour mauve") == []


async def test_chunks_of_a_message_that_is_gone_or_elsewhere_are_not_kept(store: Store) -> None:
    conversation, question, answer = await turn(store, KEY, "pick a fruit", "quince")
    other, elsewhere, _ = await turn(
        store, ConversationKey("telegram", "chat-2"), "pick a fruit elsewhere", "fig"
    )
    await store.vectors.add(conversation, MODEL, [chunk(question)])
    assert await remembered(store, conversation, "fruit") == ["pick a fruit"]  # cached now
    await store.conversations.save_turn(
        conversation, user_id=None, question="pick a fruit", question_tokens=3, answer="plum",
        answer_tokens=1, replacing=(question, answer),
    )  # fmt: skip
    regenerated = await store.conversations.last_turn(conversation)
    assert regenerated is not None
    # Embedded while the turn was being regenerated: the old answer is gone, not remembered.
    await store.vectors.add(conversation, MODEL, [chunk(answer), chunk(regenerated[1]), chunk(elsewhere)])
    assert await remembered(store, conversation, "fruit quince plum elsewhere") == ["plum"]
    assert (await store.vectors.stats(conversation)).chunks == 1
    assert await remembered(store, other, "fruit quince plum elsewhere") == []


async def test_chunks_added_in_a_unit_that_fails_are_not_kept(store: Store) -> None:
    conversation, question, answer = await turn(store, KEY, "the password is orchid", "ok")
    await store.vectors.add(conversation, MODEL, [chunk(question)])
    assert len(await remembered(store, conversation, "password orchid")) == 1  # cached now
    with pytest.raises(RuntimeError):
        async with store.atomic():
            await store.vectors.add(conversation, MODEL, [chunk(answer, "orchid password again")])
            raise RuntimeError("the power went out")
    assert await remembered(store, conversation, "password orchid") == ["the password is orchid"]
    assert (await store.vectors.stats(conversation)).chunks == 1


async def test_an_ephemeral_conversations_chunks_never_reach_the_disk(store: Store, tmp_path: Path) -> None:
    key = ConversationKey("telegram", "chat-e", ephemeral=True)
    conversation, question, answer = await turn(store, key, "marker zebra-quokka-7431", "seen")
    await store.vectors.add(
        conversation, MODEL, [chunk(question), chunk(answer, "doc zebra-quokka-7431", "document")]
    )
    assert sorted(await remembered(store, conversation, "zebra-quokka-7431")) == [
        "doc zebra-quokka-7431", "marker zebra-quokka-7431",
    ]  # fmt: skip
    assert await store.vectors.last_embedded(conversation) == question.id
    assert await store.vectors.stats(conversation) == MemoryStats(chunks=2, messages=1, documents=1, tokens=4)
    await store.privacy.checkpoint()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"zebra-quokka" not in path.read_bytes(), path
    store.vectors.drop(conversation.id)
    assert await remembered(store, conversation, "zebra-quokka-7431") == []
    assert await store.vectors.stats(conversation) == MemoryStats()


async def test_an_ephemeral_conversations_chunks_go_when_it_is_reset_or_forgotten(
    store: Store, now: Now
) -> None:
    key = ConversationKey("telegram", "chat-e", user_scope="1", ephemeral=True)
    conversation, question, _ = await turn(store, key, "ephemeral fact walnut", "ok")
    await store.vectors.add(conversation, MODEL, [chunk(question)])
    await store.conversations.reset(key)
    assert await remembered(store, conversation, "walnut") == []
    await store.conversations.user_id("telegram", "1", "Alice")
    again, question, _ = await turn(store, key, "ephemeral fact hazelnut", "ok")
    await store.vectors.add(again, MODEL, [chunk(question)])
    await privacy_of(store, now).forget("telegram", "1")
    assert await remembered(store, again, "hazelnut") == []


async def test_an_ephemeral_regenerated_turn_takes_its_chunks_along(store: Store) -> None:
    key = ConversationKey("telegram", "chat-e", ephemeral=True)
    conversation, question, answer = await turn(store, key, "name a colour", "mauve")
    await store.vectors.add(conversation, MODEL, [chunk(question), chunk(answer)])
    await store.conversations.save_turn(
        conversation, user_id=None, question="name a colour", question_tokens=3, answer="teal",
        answer_tokens=1, replacing=(question, answer),
    )  # fmt: skip
    assert await remembered(store, conversation, "colour mauve") == []


async def test_chunks_are_kept_across_a_reopen(backend: str, tmp_path: Path, now: Now) -> None:
    policy = AllowancePolicy(amount=0, period="none")
    async with open_backend(backend, tmp_path, policy=policy, clock=now) as store:
        conversation, question, _ = await turn(store, KEY, "the harbour is called Porto Mar", "ok")
        await store.vectors.add(conversation, MODEL, [chunk(question)])
    async with open_backend(backend, tmp_path, policy=policy, clock=now) as store:
        conversation = await store.conversations.active(KEY)
        found = await store.vectors.search(
            conversation,
            MODEL,
            vector("what is the harbour called"),
            limit=1,
            floor=0.2,
            messages_before=1 << 62,
        )
        assert [(r.message_id, r.text) for r in found] == [(question.id, "the harbour is called Porto Mar")]
        assert found[0].score == pytest.approx(
            sum(
                a * b
                for a, b in zip(vector("what is the harbour called"), vector(found[0].text), strict=True)
            ),
            abs=1e-5,
        )


async def test_a_keyword_search_finds_exact_words_and_word_forms_within_one_conversation_only(
    store: Store,
) -> None:
    conversation, q1, a1 = await turn(store, KEY, "I work night shifts on Tuesdays", "that sounds tiring")
    _, q2, a2 = await turn(store, KEY, "the lock code is 4471", "noted, 4471")
    _, q3, _ = await turn(store, KEY, "we talked about bread", "bread is good")
    await store.vectors.add(conversation, MODEL, [chunk(q1), chunk(a1), chunk(q2), chunk(a2), chunk(q3)])
    (other, theirs, _), _ = await two_users(store, "my lock code is 4471 too", "hello")
    await store.vectors.add(other, MODEL, [chunk(theirs)])

    async def words(*query: str, **filters: int) -> list[str]:
        found = await store.vectors.keyword_search(
            conversation, MODEL, list(query), limit=filters.pop("limit", 10),
            messages_before=filters.pop("messages_before", 1 << 62), **filters,
        )  # fmt: skip
        assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
        return [r.text for r in found]

    assert await words("which", "nights", "do", "i", "work") == ["I work night shifts on Tuesdays"]
    # The best match first: both words of the question beat one; another user's chunk never.
    assert await words("lock", "code", "4471") == ["the lock code is 4471", "noted, 4471"]
    assert await words("4471", messages_before=q2.id) == []  # still in the verbatim window
    assert await words("4471", before=a2.id) == ["the lock code is 4471"]  # regenerating the answer
    assert await words("zebra") == []
    assert len(await words("bread", "4471", limit=1)) == 1
