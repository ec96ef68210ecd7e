"""Tests of the fake Venice server itself, through plain httpx over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import openapi
from tests.fakes.venice import ChatScript, FakeVenice

AUTH = {"Authorization": "Bearer test-key"}
# The fake speaks plain HTTP, but every httpx client builds a TLS context (~50 ms) unless given one.
TLS = ssl.create_default_context()
HELLO = {"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "Hello"}]}

# Without the spec these skip, or fail under CI (the openapi_spec fixture in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("openapi_spec")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVenice]:
    async with FakeVenice(validate=True) as server:
        yield server


@pytest.fixture
async def client(fake: FakeVenice) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH, timeout=5, verify=TLS) as http:
        yield http


async def read_sse(response: httpx.Response) -> AsyncIterator[tuple[float, Any]]:
    """Yield (arrival time, parsed data) for each SSE event; "[DONE]" is yielded as the string."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            yield time.monotonic(), data if data == "[DONE]" else json.loads(data)


# ---- catalogue, characters, money ------------------------------------------------------------


async def test_models_are_filtered_by_type_and_match_the_spec(fake: FakeVenice) -> None:
    # No Authorization: the model list is public.
    async with httpx.AsyncClient(base_url=fake.base_url, verify=TLS) as http:
        default = (await http.get("/models")).json()
        tts = (await http.get("/models", params={"type": "tts"})).json()
        asr = (await http.get("/models", params={"type": "asr"})).json()
        everything = (await http.get("/models", params={"type": "all"})).json()

    assert default["type"] == "text"
    assert [m["id"] for m in default["data"]] == ["venice-uncensored", "llama-3.3-70b", "qwen3-vl-235b-a22b"]
    contexts = {m["id"]: m["model_spec"]["availableContextTokens"] for m in default["data"]}
    assert contexts == {"venice-uncensored": 32768, "llama-3.3-70b": 65536, "qwen3-vl-235b-a22b": 131072}
    [kokoro] = tts["data"]
    assert kokoro["id"] == "tts-kokoro" and "af_sky" in kokoro["model_spec"]["voices"]
    assert kokoro["model_spec"]["pricing"]["input"]["usd"] == 3.50
    assert [m["type"] for m in asr["data"]] == ["asr"]
    assert len(everything["data"]) == len(fake.models)
    for body in (default, tts, asr, everything):
        assert openapi.validate_response("GET", "/models", 200, body) == []
    assert fake.spec_errors == []


async def test_unknown_model_type_is_a_validation_error(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    response = await client.get("/models", params={"type": "hologram"})
    assert response.status_code == 400
    assert response.json()["issues"][0]["path"] == ["type"]
    assert len(fake.spec_errors) == 1


async def test_characters_search_get_and_not_found(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    listed = (await client.get("/characters")).json()
    found = (await client.get("/characters", params={"search": "detective", "limit": 10})).json()
    one = await client.get("/characters/alan-watts")
    missing = await client.get("/characters/nobody")

    assert [c["slug"] for c in listed["data"]][:2] == ["alan-watts", "sherlock-holmes"]
    assert len(listed["data"]) == 14
    assert [c["slug"] for c in found["data"]] == ["sherlock-holmes"]
    assert one.json()["data"]["name"] == "Alan Watts"
    assert missing.status_code == 404
    assert missing.json() == {"error": "Character not found", "code": "CHARACTER_NOT_FOUND"}
    assert openapi.validate_response("GET", "/characters", 200, listed) == []
    assert openapi.validate_response("GET", "/characters/{slug}", 200, one.json()) == []
    assert openapi.validate_response("GET", "/characters/{slug}", 404, missing.json()) == []
    assert fake.spec_errors == []


async def test_balance_and_rate_limits_match_the_spec(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    balance = (await client.get("/billing/balance")).json()
    limits = (await client.get("/api_keys/rate_limits")).json()

    assert balance == {
        "canConsume": True,
        "consumptionCurrency": "USD",
        "balances": {"usd": 12.5, "diem": 3.0},
        "diemEpochAllocation": 10,
    }
    assert limits["data"]["balances"] == {"USD": 12.5, "DIEM": 3.0}
    assert openapi.validate_response("GET", "/billing/balance", 200, balance) == []
    assert openapi.validate_response("GET", "/api_keys/rate_limits", 200, limits) == []
    assert fake.spec_errors == []


# ---- chat ------------------------------------------------------------------------------------


async def test_chat_answer_matches_the_spec_and_remembers(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    body = {
        "model": "llama-3.3-70b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hi Ada."},
            {"role": "user", "content": "What is my name?"},
        ],
        "venice_parameters": {"enable_web_search": "on", "include_venice_system_prompt": False},
    }
    response = await client.post("/chat/completions", json=body)

    assert response.status_code == 200
    answer = response.json()
    assert openapi.validate_response("POST", "/chat/completions", 200, answer) == []
    content = answer["choices"][0]["message"]["content"]
    assert content.startswith("(offline fake Venice) You said: “What is my name?”.")
    assert "1 earlier user message: “My name is Ada.”" in content
    assert "[REF]0[/REF]" in content
    assert len(answer["venice_parameters"]["web_search_citations"]) == 2
    assert (
        answer["usage"]["total_tokens"]
        == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
    )
    assert answer["cost"]["usd"] > 0
    assert fake.calls_to("/chat/completions")[0].body == body
    assert fake.spec_errors == []


async def test_summarizer_request_gets_a_summary(client: httpx.AsyncClient) -> None:
    body = {
        "model": "venice-uncensored",
        "messages": [
            {"role": "system", "content": "You keep notes.\nSummarize the conversation below."},
            {"role": "user", "content": "We talked about sailing boats and the weather in Brest today"},
        ],
    }
    answer = (await client.post("/chat/completions", json=body)).json()
    assert answer["choices"][0]["message"]["content"] == "Summary: We talked about sailing boats and."


async def test_scripted_answers_are_used_in_order(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.script += [ChatScript(content="first", cost_usd=0.5), ChatScript(content="second", reasoning="hmm")]
    first = (await client.post("/chat/completions", json=HELLO)).json()
    second = (await client.post("/chat/completions", json=HELLO)).json()
    third = (await client.post("/chat/completions", json=HELLO)).json()

    assert first["choices"][0]["message"]["content"] == "first"
    assert first["cost"] == {"usd": 0.5, "diem": 0.0}
    assert second["choices"][0]["message"]["reasoning_content"] == "hmm"
    assert third["choices"][0]["message"]["content"].startswith("(offline fake Venice)")
    assert fake.balance["balances"]["usd"] < 12.0  # the scripted cost was charged
    fake.balance["canConsume"] = False
    assert (await client.post("/chat/completions", json=HELLO)).status_code == 402


async def test_stream_arrives_incrementally(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    citation = {"title": "Source", "url": "https://example.com/a"}
    fake.script.append(
        ChatScript(
            content="one two three four five six seven eight nine",
            reasoning="thinking hard",
            citations=[citation],
            chunk_delay=0.05,
        )
    )
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    started = time.monotonic()
    events: list[tuple[float, Any]] = []
    async with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in read_sse(response):
            events.append(event)

    first_at, first = events[0]
    # The first chunk arrived before the server had even slept once; the whole stream took longer.
    assert first_at - started < 0.05 * (len(events) - 2)
    assert events[-1][0] - first_at >= 0.05 * (len(events) - 2) * 0.8
    assert first["venice_parameters"]["web_search_citations"] == [citation]
    chunks = [data for _, data in events[:-1]]
    kinds = [next(iter(c["choices"][0]["delta"]), None) if c["choices"] else "usage" for c in chunks]
    assert kinds.index("reasoning_content") < kinds.index("content", 1)  # chunk 0 carries role + ""
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == "one two three four five six seven eight nine"
    assert sum(1 for k in kinds if k == "content") == 3  # three words per chunk
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert events[-1][1] == "[DONE]"
    assert fake.spec_errors == []


async def test_cut_after_breaks_the_stream_mid_way(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.script.append(ChatScript(content="a b c d e f g h i j k l", cut_after=2))
    contents: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", "/chat/completions", json={**HELLO, "stream": True}) as response:
            async for _, data in read_sse(response):
                assert data != "[DONE]"
                contents += [data["choices"][0]["delta"].get("content", "")]
    assert "".join(contents) == "a b c d e f "
    # The server survives and keeps answering.
    assert (await client.post("/chat/completions", json=HELLO)).status_code == 200


async def test_unknown_and_non_text_models(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    unknown = await client.post("/chat/completions", json={**HELLO, "model": "gpt-17"})
    image = await client.post("/chat/completions", json={**HELLO, "model": "venice-sd35"})
    by_trait = await client.post("/chat/completions", json={**HELLO, "model": "default:enable_web_search=on"})

    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Specified model not found", "code": "MODEL_NOT_FOUND"}
    assert image.status_code == 400 and image.json()["code"] == "INVALID_MODEL"
    assert by_trait.json()["model"] == "llama-3.3-70b"
    assert len(by_trait.json()["venice_parameters"]["web_search_citations"]) == 2
    assert fake.spec_errors == []


async def test_context_length_exceeded_is_openai_style(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    huge = {"model": "venice-uncensored", "messages": [{"role": "user", "content": "word " * 30000}]}
    response = await client.post("/chat/completions", json=huge)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_invalid_body_is_a_spec_error(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    response = await client.post("/chat/completions", json={"model": "llama-3.3-70b", "messages": "Hello"})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request parameters"
    assert body["details"]["messages"]["_errors"] == ["'Hello' is not of type 'array'"]
    assert body["issues"][0]["path"] == ["messages"]
    assert openapi.validate_response("POST", "/chat/completions", 400, body) == []
    assert fake.spec_errors == ["POST /chat/completions: $.messages: 'Hello' is not of type 'array'"]


async def test_unknown_fields_and_paths_are_spec_errors(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    extra = await client.post("/chat/completions", json={**HELLO, "temprature": 0.5})
    nowhere = await client.get("/no/such/thing")
    assert (extra.status_code, nowhere.status_code) == (400, 404)
    assert "temprature" in fake.spec_errors[0]
    assert fake.spec_errors[1] == "GET /no/such/thing: not a path in the Venice spec"


# ---- failures ----------------------------------------------------------------------------------


async def test_fail_gives_status_body_headers_then_normal_service(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    fake.fail("/chat/completions", 503, times=2)
    fake.fail("/models", 429, headers={"retry-after": "2"})
    fake.fail("/billing/balance", 402, body={"error": "custom"})
    fake.fail("/characters", 502)

    unavailable = [await client.post("/chat/completions", json=HELLO) for _ in range(3)]
    limited = await client.get("/models")
    broke = await client.get("/billing/balance")
    gateway = await client.get("/characters")

    assert [r.status_code for r in unavailable] == [503, 503, 200]
    assert unavailable[0].json() == {"error": "The model is at capacity. Please try again later."}
    assert limited.status_code == 429 and limited.json() == {"error": "Rate limit exceeded"}
    assert limited.headers["retry-after"] == "2" and limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert (broke.status_code, broke.json()) == (402, {"error": "custom"})
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")
    assert "cloudflare" in gateway.text
    assert (await client.get("/models")).status_code == 200
    assert len(fake.calls) == 7  # failures are recorded too


async def test_drop_connection_is_a_transport_error(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.drop_connection("/chat/completions")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/chat/completions", json=HELLO)
    assert (await client.post("/chat/completions", json=HELLO)).status_code == 200
    assert len(fake.calls_to("/api/v1/chat/completions")) == 2


async def test_delay_slows_every_answer(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.delay = 0.1
    started = time.monotonic()
    await client.get("/billing/balance")
    assert time.monotonic() - started >= 0.1


# ---- auth and headers --------------------------------------------------------------------------


async def test_auth_rules(fake: FakeVenice) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, verify=TLS) as http:
        missing = await http.get("/billing/balance")
        anyone = await http.get("/billing/balance", headers={"Authorization": "Bearer whatever"})
        fake.api_key = "secret"
        wrong = await http.get("/billing/balance", headers={"Authorization": "Bearer whatever"})
        basic = await http.get("/billing/balance", headers={"Authorization": "Basic secret"})
        right = await http.get("/billing/balance", headers={"Authorization": "Bearer secret"})

    assert missing.status_code == 401 and missing.json() == {"error": "Authentication failed"}
    assert anyone.status_code == 200
    assert (wrong.status_code, basic.status_code, right.status_code) == (401, 401, 200)


async def test_standard_headers_on_every_response(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    fake.deprecated_models["llama-3.3-70b"] = "llama-3.3-70b is deprecated; use qwen3-vl-235b-a22b"
    fake.response_headers["x-extra"] = "yes"
    first = await client.post("/chat/completions", json=HELLO)
    second = await client.get("/characters/nobody")

    assert first.headers["cf-ray"] != second.headers["cf-ray"]
    assert first.headers["cf-ray"].endswith("-IAD")
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in (first, second)]
    assert remaining[0] - 1 == remaining[1]
    assert int(first.headers["x-ratelimit-reset-requests"]) > time.time()  # a Unix timestamp
    assert 0 < int(first.headers["x-ratelimit-reset-tokens"]) <= 60  # seconds
    assert first.headers["x-venice-balance-usd"] == "12.5"  # before the request was charged
    assert float(second.headers["x-venice-balance-usd"]) < 12.5
    assert first.headers["x-venice-model-deprecation-warning"].startswith("llama-3.3-70b is deprecated")
    assert "x-venice-model-deprecation-date" in first.headers
    assert "x-venice-model-deprecation-warning" not in second.headers
    assert second.headers["x-extra"] == "yes"


async def test_calls_are_recorded(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    await client.get("/characters", params={"search": "watts"}, headers={"X-Test": "1"})
    [call] = fake.calls
    assert (call.method, call.path, call.query, call.body) == (
        "GET",
        "/characters",
        {"search": "watts"},
        None,
    )
    assert call.headers["x-test"] == "1" and call.headers["authorization"] == "Bearer test-key"


# ---- prompt cache and embeddings ------------------------------------------------------------------


def long_chat(words: int = 600) -> list[dict[str, str]]:
    """Return a system prompt and four turns of ``words`` words each (about 2,400 characters, 600 tokens)."""
    roles = ["system", "user", "assistant", "user", "assistant"]
    return [{"role": role, "content": f"part {n}: " + "word " * words} for n, role in enumerate(roles)]


def tokens_of(messages: list[dict[str, str]]) -> int:
    """Count tokens as the fake bills them: four characters a token over all message text."""
    return len("".join(m["content"] for m in messages)) // 4


async def chat_usage(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/chat/completions", json=body)
    assert response.status_code == 200
    assert openapi.validate_response("POST", "/chat/completions", 200, response.json()) == []
    usage: dict[str, Any] = response.json()["usage"]
    return usage


async def test_prefix_cache_reports_whole_shared_messages_from_1024_tokens(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    chat = long_chat()
    first = await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat})
    assert first["prompt_tokens_details"] == {"cached_tokens": 0}
    assert first["prompt_tokens"] == tokens_of(chat)

    # The next turn repeats the whole conversation and adds a message: all of it was seen.
    longer = [*chat, {"role": "user", "content": "And now?"}]
    second = await chat_usage(client, {"model": "llama-3.3-70b", "messages": longer})
    assert second["prompt_tokens_details"] == {"cached_tokens": tokens_of(chat)}
    assert second["prompt_tokens"] == tokens_of(longer)  # the total, cached part included

    # One byte changed in the third message: only the two messages before it are served from the cache.
    edited = [dict(m) for m in longer]
    edited[2]["content"] = edited[2]["content"].replace("word", "Word", 1)
    third = await chat_usage(client, {"model": "llama-3.3-70b", "messages": edited})
    assert third["prompt_tokens_details"] == {"cached_tokens": tokens_of(chat[:2])}
    assert tokens_of(chat[:2]) >= 1024

    # A cache_control marker on a content part is not prompt text: adding it keeps the prefix.
    parts: list[dict[str, Any]] = [dict(m) for m in longer]
    parts[1]["content"] = [{"type": "text", "text": chat[1]["content"]}]
    marked: list[dict[str, Any]] = [dict(m) for m in parts]
    marked[1]["content"] = [{**parts[1]["content"][0], "cache_control": {"type": "ephemeral"}}]
    await chat_usage(client, {"model": "llama-3.3-70b", "messages": parts})
    hit = await chat_usage(client, {"model": "llama-3.3-70b", "messages": marked})
    assert hit["prompt_tokens_details"] == {"cached_tokens": tokens_of(longer)}

    # Another model has its own cache.
    other = await chat_usage(client, {"model": "venice-uncensored", "messages": longer})
    assert other["prompt_tokens_details"] == {"cached_tokens": 0}
    assert fake.spec_errors == []


async def test_prefix_cache_reports_nothing_under_1024_tokens(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    chat = long_chat(words=150)  # 150 tokens a message: the first two are under 1,024
    await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat[:2]})
    again = await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat[:3]})
    assert tokens_of(chat[:2]) < 1024
    assert again["prompt_tokens_details"] == {"cached_tokens": 0}

    fake.cache_min_tokens = 100  # the threshold is the fake's setting
    lower = await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat[:3]})
    assert lower["prompt_tokens_details"] == {"cached_tokens": tokens_of(chat[:3])}

    fake.prefix_cache = False
    off = await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat[:3]})
    assert off["prompt_tokens_details"] is None
    assert fake.spec_errors == []


async def test_prompt_cache_key_separates_caches_and_streams_cached_tokens(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    chat = long_chat()
    first = {"model": "llama-3.3-70b", "messages": chat, "prompt_cache_key": "conversation-a"}
    await chat_usage(client, first)
    other_key = await chat_usage(client, {**first, "prompt_cache_key": "conversation-b"})
    no_key = await chat_usage(client, {"model": "llama-3.3-70b", "messages": chat})
    assert other_key["prompt_tokens_details"] == {"cached_tokens": 0}
    assert no_key["prompt_tokens_details"] == {"cached_tokens": 0}

    streamed = {**first, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/chat/completions", json=streamed) as response:
        chunks = [data async for _, data in read_sse(response) if data != "[DONE]"]
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": tokens_of(chat)}
    assert fake.calls_to("/chat/completions")[0].body["prompt_cache_key"] == "conversation-a"
    assert fake.spec_errors == []  # prompt_cache_key is in the spec's chat request


async def test_cached_tokens_cost_the_cache_input_price(fake: FakeVenice, client: httpx.AsyncClient) -> None:
    [qwen] = [m for m in fake.models if m["id"] == "qwen3-vl-235b-a22b"]
    pricing = qwen["model_spec"]["pricing"]
    assert pricing["cache_input"]["usd"] < pricing["input"]["usd"]
    fake.script += [ChatScript(content="ok"), ChatScript(content="ok")]
    body = {"model": "qwen3-vl-235b-a22b", "messages": long_chat()}
    cold = (await client.post("/chat/completions", json=body)).json()
    warm = (await client.post("/chat/completions", json=body)).json()

    cached = warm["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == warm["usage"]["prompt_tokens"] > 0
    expected = (cached * 0.125 + warm["usage"]["completion_tokens"] * 1.50) / 1_000_000
    assert warm["cost"]["usd"] == pytest.approx(expected)
    assert warm["cost"]["usd"] < cold["cost"]["usd"]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_embeddings_are_deterministic_unit_vectors_that_match_words(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    texts = [
        "My cat Whiskers likes sardines",
        "What does my cat Whiskers like to eat?",
        "The train to Lyon leaves at nine",
    ]
    body = {"model": "text-embedding-bge-m3", "input": texts}
    before = fake.balance["balances"]["usd"]
    response = await client.post("/embeddings", json=body)
    charged = before - fake.balance["balances"]["usd"]
    again = (await client.post("/embeddings", json={**body, "input": texts[0]})).json()

    assert response.status_code == 200
    answer = response.json()
    assert openapi.validate_response("POST", "/embeddings", 200, answer) == []
    assert answer["object"] == "list" and answer["model"] == "text-embedding-bge-m3"
    assert [d["index"] for d in answer["data"]] == [0, 1, 2]
    cat, question, train = (d["embedding"] for d in answer["data"])
    assert again["data"][0]["embedding"] == cat  # the same text, the same vector, in any batch
    assert len(cat) == 256
    for vector in (cat, question, train):
        assert cosine(vector, vector) == pytest.approx(1.0)
    assert cosine(cat, question) > cosine(cat, train) + 0.3
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 0
    assert charged == pytest.approx(answer["usage"]["prompt_tokens"] * 0.15 / 1_000_000)  # the input price
    assert fake.spec_errors == []


async def test_embedding_model_is_listed_with_a_price_and_bad_requests_are_refused(
    fake: FakeVenice, client: httpx.AsyncClient
) -> None:
    listed = (await client.get("/models", params={"type": "embedding"})).json()
    assert openapi.validate_response("GET", "/models", 200, listed) == []
    [model] = listed["data"]
    assert model["id"] == "text-embedding-bge-m3"
    assert model["model_spec"]["pricing"]["input"]["usd"] == 0.15
    assert model["model_spec"]["embeddingDimensions"] == 256

    smaller = (
        await client.post(
            "/embeddings", json={"model": "text-embedding-bge-m3", "input": "hello", "dimensions": 64}
        )
    ).json()
    assert len(smaller["data"][0]["embedding"]) == 64
    chat_model = await client.post("/embeddings", json={"model": "llama-3.3-70b", "input": "hello"})
    assert chat_model.status_code == 400 and chat_model.json()["code"] == "INVALID_MODEL"
    empty_item = await client.post("/embeddings", json={"model": "text-embedding-bge-m3", "input": ["a", ""]})
    assert empty_item.status_code == 400
    assert fake.spec_errors == []
    empty = await client.post("/embeddings", json={"model": "text-embedding-bge-m3", "input": ""})
    assert empty.status_code == 400 and len(fake.spec_errors) == 1  # the spec itself forbids ""


# ---- the spec loader -----------------------------------------------------------------------------


def test_spec_is_parsed_as_yaml_1_2_and_repaired() -> None:
    spec = openapi.load_spec()
    web_search = spec["components"]["schemas"]["ChatCompletionRequest"]["properties"]["venice_parameters"]
    assert web_search["properties"]["enable_web_search"]["enum"] == ["auto", "off", "on"]

    def typeless_nullables(node: Any) -> int:
        if isinstance(node, dict):
            own = int(node.get("nullable") is True and "type" not in node)
            return own + sum(typeless_nullables(v) for v in node.values())
        if isinstance(node, list):
            return sum(typeless_nullables(v) for v in node)
        return 0

    assert typeless_nullables(spec) == 0
    assert openapi.path_template_for("/characters/foo") == "/characters/{slug}"
    assert openapi.path_template_for("/api/v1/api_keys/rate_limits") == "/api_keys/rate_limits"
    assert openapi.path_template_for("/nowhere") is None
    # An "or null" branch stays null-only rather than becoming "anything".
    assistant_number = {**HELLO, "messages": [{"role": "assistant", "content": 5}]}
    assert openapi.validate_request("POST", "/chat/completions", assistant_number)


async def test_missing_spec(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "openapi.yaml"
    with pytest.raises(openapi.SpecNotFoundError, match="VENICE_OPENAPI_SPEC"):
        openapi.load_spec(missing)
    with pytest.raises(openapi.SpecNotFoundError):
        FakeVenice(validate=True, spec_file=missing)
    monkeypatch.setenv("CI", "true")  # under CI the default insists on the spec too
    with pytest.raises(openapi.SpecNotFoundError, match=str(missing)):
        FakeVenice(spec_file=missing)
    monkeypatch.delenv("CI")
    with caplog.at_level(logging.WARNING):
        lenient = FakeVenice(spec_file=missing)
    assert not lenient.validating and "not be validated" in caplog.text


def test_main_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.venice", "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("VENICE_BASE_URL=http://127.0.0.1:")
        base_url = line.split("=", 1)[1]
        assert httpx.get(f"{base_url}/models", timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
