"""Function calling and the web through the real Venice client against the fake Venice server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from core.venice import errors as e
from core.venice.client import VeniceClient
from core.venice.retry import RetryPolicy
from core.venice.tool_calls import ToolCallAssembler, assistant_message, tool_message
from core.venice.types import AssembledCall, ChatRequest, ChatResult, EncodedMessage
from tests.conftest import TEST_KEY
from tests.fakes import openapi
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_chat import call_then_answer, offered_tools, tool_results

CALLER = "llama-3.3-70b"  # supportsFunctionCalling in the fake's catalogue, as on Venice
NON_CALLER = "venice-uncensored"  # does not, as on Venice
QUESTION = {"role": "user", "content": "What is new with Venice?"}
WEB_SEARCH = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


@pytest.fixture
async def client(venice: FakeVenice, retry: RetryPolicy) -> AsyncIterator[VeniceClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)


def ask(*messages: dict[str, object], model: str = CALLER, tools: bool = True) -> ChatRequest:
    return ChatRequest(model, (QUESTION, *messages), tools=(WEB_SEARCH,) if tools else ())


async def test_a_streamed_answer_with_text_then_two_calls_is_assembled(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.script.append(
        ChatScript(
            content="Let me check two things.",
            tool_calls=[
                {"name": "web_search", "arguments": {"query": "Venice AI news", "limit": 3}},
                {"name": "read_url", "arguments": {"url": "https://venice.ai/blog"}},
            ],
        )
    )
    assembler = ToolCallAssembler()
    deltas = [d async for d in client.chat_stream(ask())]
    for delta in deltas:
        assembler.feed(delta)
    assert "".join(d.content for d in deltas) == "Let me check two things."
    assert sum(1 for d in deltas if d.tool_calls) > 2  # really streamed in fragments
    calls = assembler.calls()
    assert [(c.name, c.arguments()) for c in calls] == [
        ("web_search", {"query": "Venice AI news", "limit": 3}),
        ("read_url", {"url": "https://venice.ai/blog"}),
    ]
    assert all(c.id for c in calls) and calls[0].id != calls[1].id
    assert "tool_calls" in [d.finish_reason for d in deltas]
    # Usage and cost still arrive in the last chunk, after finish_reason "tool_calls".
    assert any(d.usage and d.usage.completion_tokens > 0 for d in deltas)
    assert any(d.cost_usd for d in deltas)
    body = venice.calls_to("/chat/completions")[0].body
    assert body["tools"] == [WEB_SEARCH] and body["tool_choice"] == "auto"


async def test_raw_arguments_that_are_not_json_reach_the_caller_as_they_were(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(tool_calls=[{"name": "web_search", "arguments": '{"query": cats'}]))
    assembler = ToolCallAssembler()
    async for delta in client.chat_stream(ask()):
        assembler.feed(delta)
    [call] = assembler.calls()
    assert call.arguments_json == '{"query": cats' and call.arguments() is None


async def test_the_whole_answer_carries_its_calls(client: VeniceClient, venice: FakeVenice) -> None:
    venice.script.append(
        ChatScript(tool_calls=[{"name": "web_search", "arguments": {"query": "q"}, "id": "c1"}])
    )
    result = await client.chat(ask())
    assert result.finish_reason == "tool_calls"
    assert result.content == ""
    assert [(c.id, c.name, c.arguments()) for c in result.tool_calls] == [
        ("c1", "web_search", {"query": "q"})
    ]
    assert result.usage is not None and result.cost_usd is not None


async def test_a_plain_answer_has_no_calls(client: VeniceClient, venice: FakeVenice) -> None:
    result = await client.chat(ask(tools=False))
    assert result.tool_calls == () and result.finish_reason == "stop"


async def test_call_results_sent_back_pass_the_spec_and_the_model_answers_from_them(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("web_search", {"query": "venice"}, "Found: {result}")
    first: ChatResult = await client.chat(ask())
    [call] = first.tool_calls
    followup = ask(
        assistant_message(first.content, first.tool_calls),
        tool_message(call.id, "Venice released a new model."),
    )
    deltas = [d async for d in client.chat_stream(followup)]
    assert "".join(d.content for d in deltas) == "Found: Venice released a new model."
    second = venice.calls_to("/chat/completions")[1].body
    assert offered_tools(second) == ["web_search"]
    assert [m["content"] for m in tool_results(second)] == ["Venice released a new model."]
    assert venice.spec_errors == []


async def test_a_result_that_answers_no_call_is_refused_and_noted(
    client: VeniceClient, venice: FakeVenice
) -> None:
    with pytest.raises(e.BadRequest):
        await client.chat(ask(tool_message("call_nobody_made", "?")))
    assert any("answers no open call" in line for line in venice.spec_errors)
    venice.spec_errors.clear()


async def test_tools_sent_to_a_model_without_function_calling_are_noted(
    client: VeniceClient, venice: FakeVenice
) -> None:
    await client.chat(ask(model=NON_CALLER))
    assert venice.spec_errors == [
        f"POST /chat/completions: tools sent to {NON_CALLER}, which does not support function calling"
    ]
    venice.spec_errors.clear()


async def test_the_catalogue_says_which_models_call_functions(client: VeniceClient) -> None:
    flags = {m.id: m.supports_function_calling for m in await client.models("text")}
    assert flags[CALLER] is True and flags[NON_CALLER] is False


async def test_web_search_parses_results_and_costs_a_cent(client: VeniceClient, venice: FakeVenice) -> None:
    before = venice.balance["balances"]["usd"]
    results = await client.web_search("  venice   ai ", limit=3)
    assert len(results) == 3
    assert results[0].title == "Result 1 about venice ai"
    assert results[0].url.startswith("https://example.com/search/1")
    assert results[0].content and results[0].date == "2025-01-01T00:00:00"
    assert venice.calls_to("/augment/search")[0].body == {"query": "venice ai", "limit": 3}
    assert venice.searches == ["venice ai"]
    assert round(before - venice.balance["balances"]["usd"], 8) == 0.01


async def test_web_search_keeps_to_the_specs_bounds(client: VeniceClient, venice: FakeVenice) -> None:
    await client.web_search("x" * 1000, limit=99)
    body = venice.calls_to("/augment/search")[0].body
    assert len(body["query"]) == 400 and body["limit"] == 20
    with pytest.raises(ValueError):
        await client.web_search("   ")
    assert len(venice.calls_to("/augment/search")) == 1  # the empty query was never sent


async def test_web_search_skips_results_without_an_address(client: VeniceClient, venice: FakeVenice) -> None:
    venice.search_results = [
        {"title": "", "url": "https://a.example", "content": "A", "date": ""},
        {"title": "No address", "url": "", "content": "B", "date": ""},
    ]
    [result] = await client.web_search("q")
    assert (result.title, result.url, result.content, result.date) == (
        "https://a.example",
        "https://a.example",
        "A",
        None,
    )


async def test_scrape_reads_a_page_as_markdown(client: VeniceClient, venice: FakeVenice) -> None:
    venice.pages["https://example.com/post"] = "# Post\n\nBody."
    page = await client.scrape("https://example.com/post")
    assert (page.url, page.content, page.format) == (
        "https://example.com/post",
        "# Post\n\nBody.",
        "markdown",
    )
    assert venice.calls_to("/augment/scrape")[0].body == {"url": "https://example.com/post"}
    assert venice.scraped == ["https://example.com/post"]


async def test_scrape_refuses_what_is_not_a_web_address_without_asking(
    client: VeniceClient, venice: FakeVenice
) -> None:
    for url in ("file:///etc/passwd", "javascript:alert(1)", "example.com", "https://"):
        with pytest.raises(ValueError):
            await client.scrape(url)
    assert venice.calls_to("/augment/scrape") == []


async def test_a_site_venice_will_not_scrape_is_a_bad_request(
    client: VeniceClient, venice: FakeVenice
) -> None:
    before = venice.balance["balances"]["usd"]
    with pytest.raises(e.BadRequest):
        await client.scrape("https://www.reddit.com/r/python")
    assert venice.balance["balances"]["usd"] == before and venice.scraped == []


@pytest.mark.parametrize("path", ["/augment/search", "/augment/scrape"])
async def test_augment_failures_are_typed_errors(client: VeniceClient, venice: FakeVenice, path: str) -> None:
    venice.fail(path, 402)
    with pytest.raises(e.VeniceError) as raised:
        if path == "/augment/search":
            await client.web_search("q")
        else:
            await client.scrape("https://example.com")
    assert raised.value.status == 402


async def test_an_unreadable_search_answer_is_a_typed_error(client: VeniceClient, venice: FakeVenice) -> None:
    venice.fail("/augment/search", 200, body={"query": "q"})  # no results list
    with pytest.raises(e.UnreadableAnswer):
        await client.web_search("q")


async def test_calls_in_the_history_encode_next_to_already_encoded_messages(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="ok"))
    history = (
        EncodedMessage(json.dumps(QUESTION)),
        assistant_message("", [AssembledCall("c", "web_search", "")]),
        tool_message("c", "done"),
    )
    await client.chat(ChatRequest(CALLER, history, tools=(WEB_SEARCH,)))
    sent = venice.calls_to("/chat/completions")[0].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == "{}"


async def test_a_malformed_tool_is_caught_by_the_spec_validator(
    client: VeniceClient, venice: FakeVenice
) -> None:
    assert venice.validating
    bad = {"type": "function", "function": {"name": "f", "parameters": "not an object"}}
    with pytest.raises(e.BadRequest):
        await client.chat(ChatRequest(CALLER, (QUESTION,), tools=(bad,)))
    assert venice.spec_errors and "tools" in venice.spec_errors[0]
    venice.spec_errors.clear()


# ---- the fake's own answers keep to the spec


async def test_the_fakes_answers_with_calls_search_and_scrape_match_the_spec(venice: FakeVenice) -> None:
    venice.script.append(ChatScript(tool_calls=[{"name": "web_search", "arguments": {"query": "q"}}]))
    async with httpx.AsyncClient(
        base_url=venice.base_url, headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=5
    ) as http:
        body = {"model": CALLER, "messages": [QUESTION], "tools": [WEB_SEARCH], "tool_choice": "auto"}
        chat = await http.post("/chat/completions", json=body)
        search = await http.post("/augment/search", json={"query": "venice"})
        scrape = await http.post("/augment/scrape", json={"url": "https://example.com"})
        refused = await http.post("/augment/scrape", json={"url": "https://x.com/venice"})
    assert openapi.validate_response("POST", "/chat/completions", 200, chat.json()) == []
    assert chat.json()["choices"][0]["message"]["content"] is None
    assert openapi.validate_response("POST", "/augment/search", 200, search.json()) == []
    assert len(search.json()["results"]) == 10  # the spec's default limit
    assert openapi.validate_response("POST", "/augment/scrape", 200, scrape.json()) == []
    assert refused.status_code == 400
    assert openapi.validate_response("POST", "/augment/scrape", 400, refused.json()) == []


async def test_each_scripted_answer_gives_its_calls_ids_of_their_own(
    client: VeniceClient, venice: FakeVenice
) -> None:
    for _ in range(2):
        venice.script.append(ChatScript(tool_calls=[{"name": "web_search", "arguments": {"query": "q"}}] * 2))
    ids = [call.id for _ in range(2) for call in (await client.chat(ask())).tool_calls]
    assert len(set(ids)) == 4
