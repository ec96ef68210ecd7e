"""Prompt caching: the conversation's cache key, breakpoints Venice's spec accepts, cached and
written tokens read from Venice's usage and charged at their own prices, the extended tier,
and what caching saved shown in /usage. Venice is the fake over real HTTP, validated against
the spec; the ledger is the real SQLite store."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.billing.pricing import Prices
from core.chat.caching import (
    SECRET_STATE_KEY,
    PromptCacheKeys,
    cache_key,
    mark_cache_breakpoint,
    supports_cache_control,
)
from core.money import usd
from core.ports.records import TokenUse
from core.venice.client import VeniceClient
from core.venice.types import ChatMessage, ChatRequest, EncodedMessage, ModelInfo, Usage, dumps
from tests.conftest import TEST_KEY
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_catalogue import CACHE_WRITE_MODEL_ID, cache_write_model
from tests.helpers import ask, message

CACHED_MODEL = "qwen3-vl-235b-a22b"  # input $0.25, cache_input $0.125, output $1.50 per 1M tokens
SYSTEM = "S" * 40_000  # 10,000 tokens as the fake counts them (four characters a token)
ANSWER = "A" * 400  # 100 tokens
NO_ESTIMATES: dict[str, Any] = {
    "estimated_prompt": 0,
    "completion_estimate": 0,
    "web_search": False,
    "scraped_urls": 0,
}
TG = {"platform": "telegram", "user_id": "7"}


def ask_about(question: str, *, system: ChatMessage | None = None) -> tuple[ChatMessage, ...]:
    """The long system prompt, then one question of 100 tokens."""
    return (system or {"role": "system", "content": SYSTEM}, {"role": "user", "content": question * 400})


async def catalogue(client: VeniceClient) -> dict[str, ModelInfo]:
    return {m.id: m for m in await client.models("text")}


def client_for(http: httpx.AsyncClient, venice: FakeVenice, retry: Any) -> VeniceClient:
    return VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)


async def test_cached_tokens_are_charged_at_the_cached_price(venice: FakeVenice, retry: Any) -> None:
    venice.responder = lambda body: ChatScript(content=ANSWER)
    async with httpx.AsyncClient() as http:
        client = client_for(http, venice, retry)
        model = (await catalogue(client))[CACHED_MODEL]
        key = cache_key(b"secret", 1)
        # The first request writes the system prompt to the cache; the next ones read it.
        first = await client.chat(ChatRequest(CACHED_MODEL, ask_about("U"), prompt_cache_key=key))
        whole = await client.chat(ChatRequest(CACHED_MODEL, ask_about("V"), prompt_cache_key=key))
        deltas = [
            d
            async for d in client.chat_stream(ChatRequest(CACHED_MODEL, ask_about("W"), prompt_cache_key=key))
        ]
    streamed = next(d.usage for d in deltas if d.usage)
    streamed_cost = next(d.cost_usd for d in deltas if d.cost_usd is not None)
    assert first.usage == Usage(10_100, 100, 10_200, cached_tokens=0)
    assert whole.usage == streamed == Usage(10_100, 100, 10_200, cached_tokens=10_000)
    for call in venice.calls_to("/chat/completions"):
        assert call.body["prompt_cache_key"] == key
    prices = Prices()
    # 100 uncached × $0.25 + 10,000 cached × $0.125 + 100 answer × $1.50, per 1M tokens
    assert prices.chat_cost(model, whole.usage, cost_usd=None, **NO_ESTIMATES) == 1_425
    # Without the cache: 10,100 × $0.25 + 100 × $1.50
    assert prices.chat_cost(model, first.usage, cost_usd=None, **NO_ESTIMATES) == 2_675
    # Venice's own cost, when it sends one, wins, and says the same.
    assert prices.chat_cost(model, whole.usage, cost_usd=whole.cost_usd, **NO_ESTIMATES) == 1_425
    assert prices.chat_cost(model, streamed, cost_usd=streamed_cost, **NO_ESTIMATES) == 1_425
    # Caching saved 10,000 × ($0.25 - $0.125) per 1M tokens; with a markup, the user saved that more.
    assert prices.token_use(model, whole.usage) == TokenUse(10_100, 10_000, 0, saved=1_250)
    assert Prices(markup=2.0).token_use(model, whole.usage) == TokenUse(10_100, 10_000, 0, saved=2_500)
    assert prices.token_use(model, first.usage) == TokenUse(10_100, 0, 0, saved=0)


async def test_the_extended_tier_prices_the_whole_request_above_its_threshold(
    venice: FakeVenice, retry: Any
) -> None:
    venice.models.append(cache_write_model())
    usage = {
        "prompt_tokens": 250_000,
        "completion_tokens": 1_000,
        "total_tokens": 251_000,
        "prompt_tokens_details": {"cached_tokens": 200_000, "cache_creation_input_tokens": 10_000},
    }
    venice.script += [ChatScript(content="Long.", usage=usage), ChatScript(content="Long.", usage=usage)]
    async with httpx.AsyncClient() as http:
        client = client_for(http, venice, retry)
        model = (await catalogue(client))[CACHE_WRITE_MODEL_ID]
        request = ChatRequest(CACHE_WRITE_MODEL_ID, ask_about("U"))
        result = await client.chat(request)
        streamed = [d async for d in client.chat_stream(request)]
    assert result.usage == Usage(250_000, 1_000, 251_000, cached_tokens=200_000, cache_write_tokens=10_000)
    assert next(d.usage for d in streamed if d.usage) == result.usage
    prices = Prices()
    # All of it at the extended prices: 40,000 × $6 + 200,000 cached × $0.60 + 10,000 written
    # × $7.50 + 1,000 answer × $22.50, per 1M tokens (the base prices would make $0.2325).
    assert prices.chat_cost(model, result.usage, cost_usd=None, **NO_ESTIMATES) == 457_500
    assert prices.chat_cost(model, result.usage, cost_usd=result.cost_usd, **NO_ESTIMATES) == 457_500
    # Reads saved 200,000 × $5.40; writes cost 10,000 × $1.50 more than plain input.
    assert prices.token_use(model, result.usage) == TokenUse(250_000, 200_000, 10_000, saved=1_065_000)
    # The tier applies above the threshold, not at it: the base $3 vs the extended $6 per 1M.
    at, above = Usage(200_000, 0, 200_000), Usage(200_001, 0, 200_001)
    assert prices.chat_cost(model, at, cost_usd=None, **NO_ESTIMATES) == 600_000
    assert prices.chat_cost(model, above, cost_usd=None, **NO_ESTIMATES) == 1_200_006
    # A hold is an upper bound: nothing read from the cache, everything written at $7.50.
    assert prices.chat_estimate(model, 200_001, 0, web_search=False, scraped_urls=0) == 1_500_008


async def test_breakpoints_pass_the_spec_and_cache_writes_are_charged_at_their_price(
    venice: FakeVenice, retry: Any
) -> None:
    venice.models.append(cache_write_model())  # $3 input, $0.30 cached, $3.75 written, $15 output
    venice.responder = lambda body: ChatScript(content=ANSWER)
    system: dict[str, Any] = {"role": "system", "content": SYSTEM}
    async with httpx.AsyncClient() as http:
        client = client_for(http, venice, retry)
        models = await catalogue(client)
        model = models[CACHE_WRITE_MODEL_ID]
        assert supports_cache_control(model)
        assert not supports_cache_control(models[CACHED_MODEL])  # caches by itself, no marks
        key = cache_key(b"secret", 7)
        first = ask_about("U", system=mark_cache_breakpoint(system))
        one = await client.chat(ChatRequest(CACHE_WRITE_MODEL_ID, first, prompt_cache_key=key))
        # The next turn moves the breakpoint to its newest answer; the system prompt is unmarked.
        turn = (
            system,
            first[1],
            mark_cache_breakpoint(EncodedMessage(dumps({"role": "assistant", "content": ANSWER}))),
        )
        two = await client.chat(
            ChatRequest(
                CACHE_WRITE_MODEL_ID, (*turn, {"role": "user", "content": "V" * 400}), prompt_cache_key=key
            )
        )
    sent = venice.calls_to("/chat/completions")[0].body["messages"][0]
    assert sent == {
        "role": "system",
        "content": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
    }
    # The first writes the system prompt (to its breakpoint); the second reads all it shares with
    # the first (the moved mark changed no prompt text) and writes up to its new breakpoint.
    assert one.usage == Usage(10_100, 100, 10_200, cached_tokens=0, cache_write_tokens=10_000)
    assert two.usage == Usage(10_300, 100, 10_400, cached_tokens=10_100, cache_write_tokens=100)
    prices = Prices()
    # 100 × $3 + 10,000 written × $3.75 + 100 × $15
    assert prices.chat_cost(model, one.usage, cost_usd=None, **NO_ESTIMATES) == 39_300
    # 100 × $3 + 10,100 cached × $0.30 + 100 written × $3.75 + 100 × $15
    assert prices.chat_cost(model, two.usage, cost_usd=None, **NO_ESTIMATES) == 5_205
    assert prices.chat_cost(model, two.usage, cost_usd=two.cost_usd, **NO_ESTIMATES) == 5_205
    # A first write costs more than plain input: caching has cost, not saved, so far.
    assert prices.token_use(model, one.usage) == TokenUse(10_100, 0, 10_000, saved=-7_500)
    assert prices.token_use(model, two.usage) == TokenUse(10_300, 10_100, 100, saved=27_195)


def test_a_breakpoint_marks_the_last_part_of_a_message_the_spec_lets_carry_one() -> None:
    mark = {"type": "ephemeral"}
    assert mark_cache_breakpoint({"role": "user", "content": "Hi"}) == {
        "role": "user",
        "content": [{"type": "text", "text": "Hi", "cache_control": mark}],
    }
    picture = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = {"role": "user", "content": [{"type": "text", "text": "What is this?"}, picture]}
    assert mark_cache_breakpoint(parts) == {
        "role": "user",
        "content": [{"type": "text", "text": "What is this?"}, {**picture, "cache_control": mark}],
    }
    assert parts["content"][1] == picture  # the message given is left as it was
    encoded = mark_cache_breakpoint(EncodedMessage(dumps({"role": "assistant", "content": "Sure."})))
    assert encoded == EncodedMessage(
        '{"role":"assistant","content":[{"type":"text","text":"Sure.","cache_control":{"type":"ephemeral"}}]}'
    )
    for unmarkable in (
        {"role": "tool", "content": "42", "tool_call_id": "c"},
        {"role": "user", "content": ""},
    ):
        assert mark_cache_breakpoint(unmarkable) is unmarkable


async def test_a_conversation_keeps_its_cache_key_across_restarts_and_reveals_no_id(
    make_service: Any,
) -> None:
    ids = (123_456_789, 987_654_321)
    async with make_service() as service:
        keys = [PromptCacheKeys(service.state) for _ in range(3)]
        # Workers starting together agree on one secret: the first one written.
        first = await asyncio.gather(*(k.key(ids[0]) for k in keys))
        other = await keys[0].key(ids[1])
        stored = await service.state.get(SECRET_STATE_KEY)
        ephemeral = await keys[0].key(-1)
        assert await keys[0].key(-1) == ephemeral
    async with make_service() as restarted:  # the same database
        again = PromptCacheKeys(restarted.state)
        assert await again.key(ids[0]) == first[0]
        assert await again.key(-1) != ephemeral  # kept in memory only: a new process, a new key
    assert len(set(first)) == 1 and first[0] != other
    for key in (first[0], other):
        assert len(key) == 32 and int(key, 16) >= 0
        assert not any(str(i) in key for i in ids) and stored and stored not in key
    assert cache_key(b"another secret", ids[0]) != first[0]  # nobody without the secret can make it


async def test_usage_shows_cached_tokens_and_what_caching_saved(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.responder = lambda body: ChatScript(content=ANSWER, send_cost=False)
    async with make_service(user_allowance_usd=1.0) as service:
        model = {m.id: m for m in await service.venice.models("text")}[CACHED_MODEL]
        asking = message("", **TG)
        key = await PromptCacheKeys(service.state).key(1)
        for question in ("U", "V", "W"):
            async with service.cashier.paying(asking, 10_000, feature="chat", model_id=CACHED_MODEL) as held:
                result = await service.venice.chat(
                    ChatRequest(CACHED_MODEL, ask_about(question), prompt_cache_key=key)
                )
            cost = service.prices.chat_cost(model, result.usage, cost_usd=result.cost_usd, **NO_ESTIMATES)
            await service.cashier.settle(held, cost, tokens=service.prices.token_use(model, result.usage))
        # Charged after the work (above the nothing held), as a summary is.
        summary = Usage(10_100, 100, 10_200, cached_tokens=10_000)
        cost = service.prices.chat_cost(model, summary, cost_usd=None, feature="summary", **NO_ESTIMATES)
        tokens = service.prices.token_use(model, summary, feature="summary")
        assert await service.cashier.charge_after(asking, cost, feature="summary", tokens=tokens) == 1_425
        text = (await ask(service, "/usage", **TG)).text
        assert await service.store.ledger.check() == []
        owner = await service.account_of(asking)
        assert await service.store.ledger.balance(owner) == 1_000_000 - 2_675 - 3 * 1_425
    lines = [line.split("UTC  ", 1)[-1] for line in text.splitlines()]
    cheap, full = usd(-1_425), usd(-2_675)
    assert lines[1:5] == [
        f"conversation summary: {cheap} (10,100 prompt tokens, 10,000 cached)",
        f"answer: {cheap} (10,100 prompt tokens, 10,000 cached)",
        f"answer: {cheap} (10,100 prompt tokens, 10,000 cached)",
        f"answer: {full} (10,100 prompt tokens)",  # the first: nothing cached yet
    ]
    assert lines[-1] == f"Prompt caching saved you {usd(3 * 1_250)} on the requests above."


def test_usage_without_token_records_shows_no_caching_line() -> None:
    from core.money import format_activity
    from core.ports.records import Activity

    text = format_activity([Activity(1_800_000_000.0, "charged", -1_000, 2_000, feature="chat")])
    assert text.endswith("answer: -$0.001") and "caching" not in text
    costly = Activity(
        1_800_000_000.0, "charged", -39_300, 50_000, "chat", tokens=TokenUse(10_100, 0, 10_000, -7_500)
    )
    assert format_activity([costly]).splitlines()[-1] == (
        "Prompt caching cost you $0.0075 more than it saved on the requests above."
    )


@pytest.mark.parametrize("details", [None, {}, {"cached_tokens": None}, {"cached_tokens": "many"}])
def test_usage_without_cache_details_has_no_cached_tokens(details: Any) -> None:
    usage = Usage.from_json({"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": details})
    assert usage == Usage(10, 2, 12)
    # A provider never reports more cached than the whole prompt; if one did, it is capped.
    odd = {
        "prompt_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 8, "cache_creation_input_tokens": 9},
    }
    assert Usage.from_json(odd) == Usage(10, 0, 10, cached_tokens=8, cache_write_tokens=2)
