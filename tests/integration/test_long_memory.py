"""Long chats: a verbatim history budget, summaries now and then on the summary model, a prefix
that stays the same between folds, and long-term recall within one conversation only."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from core.chat.recall import RECALL_HEADER
from core.errors import InvalidInput
from core.ports.records import ConversationKey
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_catalogue import cache_write_model
from tests.fakes.venice_chat import ChatScript, default_reply, estimate_tokens
from tests.helpers import ask, message

_VOCABULARY = (
    "weather garden project deadline meeting email kitchen bread coffee running doctor invoice "
    "spreadsheet holiday flight museum chapter guitar lesson neighbour parcel heating window paint "
    "shelf drill cable router backup photo camera battery charger recipe budget train"
)
WORDS = _VOCABULARY.split()


@pytest.fixture(autouse=True)
def unlimited(venice: FakeVenice) -> None:
    """Long chats in a few seconds: no per-minute limits on the key."""
    venice.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}


def filler(rng: random.Random, words: int) -> str:
    """Sentences of everyday words, about ``words`` long."""
    out = []
    while len(out) < words:
        out += [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
        out[-1] += "."
    return " ".join(out)


def chatty(venice: FakeVenice, answer_words: int = 60) -> random.Random:
    """Make the fake answer every chat message with ``answer_words`` of filler (summaries as usual)."""
    rng = random.Random(7)

    def respond(body: dict[str, Any]) -> ChatScript:
        if body.get("stream"):
            return ChatScript(content=filler(rng, answer_words))
        return default_reply(body)

    venice.responder = respond
    return rng


def answers(venice: FakeVenice) -> list[list[dict[str, Any]]]:
    """The messages of every answer request (streamed), in order."""
    return [c.body["messages"] for c in venice.calls_to("/chat/completions") if c.body.get("stream")]


def summaries(venice: FakeVenice) -> list[dict[str, Any]]:
    """Every summary request's body."""
    return [c.body for c in venice.calls_to("/chat/completions") if not c.body.get("stream")]


def verbatim(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored turns sent word for word (not the new message)."""
    return [m for m in messages[:-1] if m["role"] in ("user", "assistant")]


def prefix(messages: list[dict[str, Any]]) -> list[str]:
    """What should stay byte-identical: everything before the recalled block and the new message."""
    kept = messages[:-1]
    if kept and kept[-1]["role"] == "system" and str(kept[-1]["content"]).startswith(RECALL_HEADER):
        kept = kept[:-1]
    return [json.dumps(m, ensure_ascii=False) for m in kept]


async def test_the_verbatim_history_stays_within_its_budget_and_the_prompt_stops_growing(
    make_service: Any, venice: FakeVenice
) -> None:
    rng = chatty(venice)
    async with make_service(rate_limit_per_minute=0, history_token_budget=500) as service:
        for i in range(40):
            await ask(service, f"Note {i}: {filler(rng, 30)}")
        await service.wait_idle()
    sent = answers(venice)
    assert len(sent) == 40
    for messages in sent:
        turns = verbatim(messages)
        tokens = sum(len(m["content"]) for m in turns) / 4
        # Within the budget (estimates are estimates), unless only the newest exchange is left.
        assert tokens <= 500 * 1.15 or len(turns) <= 2, tokens
    sizes = [sum(len(json.dumps(m)) for m in messages) for messages in sent]
    assert max(sizes[20:]) <= 1.3 * max(sizes[5:20]), "the prompt must stop growing"
    assert verbatim(sent[-1])[0]["content"] != "Note 0", "old turns leave the window"


async def test_summaries_are_rewritten_now_and_then_on_the_summary_model_and_paid(
    make_service: Any, venice: FakeVenice
) -> None:
    rng = chatty(venice, answer_words=120)
    async with make_service(
        rate_limit_per_minute=0, history_token_budget=400, summary_model="llama-3.3-70b"
    ) as service:
        for i in range(30):
            await ask(service, f"Note {i}: {filler(rng, 40)}")
        await service.wait_idle()
        spent = await service.store.ledger.spending(await service.account_of(message("")), 0)
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
    written = summaries(venice)
    # ~220 tokens a turn and a rewrite once 4,000 have left the window: a few, not one a turn.
    assert 1 <= len(written) <= 30 // 8
    assert {body["model"] for body in written} == {"llama-3.3-70b"}
    assert "Note 0:" in written[0]["messages"][1]["content"]
    assert conversation.summary.startswith("Summary:")
    assert spent["summary"] > 0 and spent["chat"] > 0
    # The summary rides in every later prompt, right after the system prompt.
    last = answers(venice)[-1]
    assert last[1]["role"] == "system" and "Summary:" in last[1]["content"]


async def test_the_summary_model_defaults_to_the_cheapest_private_text_model(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(default_chat_model="llama-3.3-70b") as service:
        chat_model = await service.venice.model("llama-3.3-70b")
        assert chat_model is not None
        picked = await service.catalogue.summary_model(chat_model)
    # venice-uncensored: private, $0.20 in / $0.90 out (qwen3-vl is cheaper to read, but not private)
    assert picked.id == "venice-uncensored"


async def test_the_prompt_prefix_stays_byte_identical_between_folds(
    make_service: Any, venice: FakeVenice
) -> None:
    rng = chatty(venice)
    async with make_service(rate_limit_per_minute=0, history_token_budget=800) as service:
        for i in range(30):
            await ask(service, f"Note {i}: {filler(rng, 20)}")
        await service.wait_idle()
    sent = answers(venice)
    kept, folds = 0, 0
    for before, after in itertools.pairwise(sent):
        old, new = prefix(before), prefix(after)
        if new[: len(old)] == old:
            kept += 1
            continue
        folds += 1
        # A break only where the window's start moved (a fold) or the summary was rewritten.
        assert verbatim(before)[0] != verbatim(after)[0] or before[1] != after[1]
    assert folds >= 1 and kept > folds, (kept, folds)


async def test_recall_brings_back_a_fact_from_200_turns_ago_and_nothing_of_another_user(
    make_service: Any, venice: FakeVenice
) -> None:
    rng = chatty(venice, answer_words=25)
    async with make_service(rate_limit_per_minute=0, history_token_budget=200) as service:
        await ask(service, "By the way, my bike lock code is 4471. " + filler(rng, 10))
        await ask(service, "My bike lock code is 9999, remember it.", chat_id="bob", user_id="bob")
        for i in range(200):
            await ask(service, f"Note {i}: {filler(rng, 12)}")
        await ask(service, "What was my bike lock code again?")
        await ask(service, "What was my bike lock code again?", chat_id="bob", user_id="bob")
        await service.wait_idle()
    alice, bob = answers(venice)[-2], answers(venice)[-1]
    recalled = alice[-2]
    assert recalled["role"] == "system" and recalled["content"].startswith(RECALL_HEADER)
    assert "4471" in recalled["content"]
    assert "9999" not in json.dumps(alice) and "4471" not in json.dumps(bob)
    embedded = venice.calls_to("/embeddings")
    assert embedded and all(c.body["model"] == "text-embedding-bge-m3" for c in embedded)


async def test_forget_and_recall_off_leave_nothing_to_recall(make_service: Any, venice: FakeVenice) -> None:
    rng = chatty(venice, answer_words=25)
    async with make_service(rate_limit_per_minute=0, history_token_budget=200) as service:
        await ask(service, "My bike lock code is 4471. " + filler(rng, 10))
        for i in range(12):
            await ask(service, f"Note {i}: {filler(rng, 12)}")
        await service.wait_idle()
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
        assert (await service.memory.recall.stats(conversation)).chunks > 0
        shown = await ask(service, "/memory")
        assert "Long-term recall: on" in shown.reply.text and "can be recalled" in shown.reply.text
        await ask(service, "/memory recall off")
        await ask(service, "What was my bike lock code?")
        await ask(service, "/memory recall on")
        await ask(service, "/forget confirm")
        await service.wait_idle()
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
        assert (await service.memory.recall.stats(conversation)).chunks == 0
        await ask(service, "What was my bike lock code?")
    off, forgotten = answers(venice)[-2], answers(venice)[-1]
    assert "4471" not in json.dumps(off) and "4471" not in json.dumps(forgotten)


async def test_memory_budget_is_set_per_chat_within_the_operators_cap(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(
        rate_limit_per_minute=0, history_token_budget=1000, history_token_budget_max=4000
    ) as service:
        shown = await ask(service, "/memory")
        assert "up to 1,000 tokens" in shown.reply.text and "the bot's default" in shown.reply.text
        with pytest.raises(InvalidInput) as refused:
            await ask(service, "/memory budget 9000")
        assert "from 200 to 4,000 tokens" in refused.value.user_message
        await ask(service, "/memory budget 2500")
        chat = await service.store.chat_settings.get("test", "chat-1")
        assert chat.history_budget == 2500 and service.memory.budget_of(chat) == 2500
        await ask(service, "/memory budget default")
        chat = await service.store.chat_settings.get("test", "chat-1")
        assert chat.history_budget is None


async def test_a_conversation_keeps_one_cache_key_and_cached_tokens_are_charged_at_the_cached_price(
    make_service: Any, venice: FakeVenice
) -> None:
    # A system prompt long enough to be cached (1,024 tokens at least), an answer of known length.
    system = "You answer about gardens. " + "Keep every answer short and kind. " * 140
    venice.responder = lambda body: ChatScript(content="Water them at dawn.", send_cost=False)
    user = {"platform": "telegram", "user_id": "7"}  # pays from the ledger
    async with make_service(default_chat_model="qwen3-vl-235b-a22b", default_system_prompt=system) as service:
        await ask(service, "How often should I water tomatoes?", **user)
        await ask(service, "And basil?", **user)
        await ask(service, "Hello from another chat", chat_id="chat-2", **user)
        await service.wait_idle()
        owner = await service.account_of(message("", **user))
        charged = [a for a in await service.store.ledger.activity(owner, limit=10) if a.status == "charged"]
        usage = (await ask(service, "/usage", **user)).reply.text
    calls = [c.body for c in venice.calls_to("/chat/completions") if c.body.get("stream")]
    keys = [body["prompt_cache_key"] for body in calls]
    assert keys[0] == keys[1] != keys[2] and all(len(k) >= 16 for k in keys)
    assert not any(str(v) in "".join(keys) for v in ("7", "chat-1", "chat-2") if len(str(v)) > 3)
    second = next(a for a in reversed(charged) if a.tokens and a.tokens.cached_tokens)  # the second answer
    assert second.tokens is not None
    prompt, cached = second.tokens.prompt_tokens, second.tokens.cached_tokens
    assert cached >= 1024 and prompt > cached
    completion = estimate_tokens("Water them at dawn.")  # as the fake counts the answer
    # qwen3-vl: $0.25 in, $0.125 cached, $1.50 out per 1M tokens; micro-USD rounded up
    expected = -(-((prompt - cached) * 25 + cached * 12.5 + completion * 150) // 100)
    assert -second.amount in (expected, expected + 1)
    assert "cached" in usage and "Prompt caching saved you" in usage


async def test_what_left_the_window_while_embeddings_failed_is_embedded_later_and_recalled(
    make_service: Any, venice: FakeVenice, clock: Any
) -> None:
    rng = chatty(venice, answer_words=25)
    async with make_service(rate_limit_per_minute=0, history_token_budget=200) as service:
        venice.fail("/embeddings", 503, times=10_000)  # every request, until it is back
        await ask(service, "My bike lock code is 4471. " + filler(rng, 10))
        for i in range(15):
            await ask(service, f"Note {i}: {filler(rng, 12)}")
        await service.wait_idle()
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
        assert (await service.memory.recall.stats(conversation)).chunks == 0
        assert conversation.summary == "", "nothing is summarized that could not be embedded"
        tried = len(venice.calls_to("/embeddings"))
        assert tried <= 4, "recall pauses after a failure: it does not use up the failure budget"
        venice._scripted.clear()  # Venice is back
        await clock.sleep(61)  # and recall's pause is over
        await ask(service, "Note 16: " + filler(rng, 12))
        await service.wait_idle()
        await ask(service, "What was my bike lock code?")
        spent = await service.store.ledger.spending(await service.account_of(message("")), 0)
    assert "4471" in json.dumps(answers(venice)[-1])
    assert spent.get("memory", 0) > 0


async def test_a_model_that_caches_only_at_breakpoints_gets_them_on_the_stable_part_and_the_prefix_end(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.models.append(cache_write_model())
    chatty(venice)
    async with make_service(rate_limit_per_minute=0, default_chat_model="claude-sonnet-fake") as service:
        for i in range(3):
            await ask(service, f"Note {i}: tell me about the garden.")
    sent = answers(venice)[-1]

    def marked(message: dict[str, Any]) -> bool:
        content = message["content"]
        return isinstance(content, list) and "cache_control" in content[-1]

    # The system prompt (the part that stays) and the last stored turn (where the repeated prefix
    # ends); never the newest message, which the next turn does not repeat.
    assert [i for i, m in enumerate(sent) if marked(m)] == [0, len(sent) - 2]
    assert sent[-1]["content"].startswith("Note 2:")
    assert venice.spec_errors == []
