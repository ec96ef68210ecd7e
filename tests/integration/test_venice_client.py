"""The Venice client over real HTTP against the fake Venice server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from core.venice import errors as e
from core.venice.client import VeniceClient
from core.venice.retry import FailureBudget, RetryPolicy
from core.venice.types import ChatRequest, VeniceParameters
from tests.conftest import TEST_KEY, FakeClock
from tests.fakes.venice import ChatScript, FakeVenice

HELLO = ({"role": "user", "content": "Hello there"},)


@pytest.fixture
async def client(venice: FakeVenice, retry: RetryPolicy) -> AsyncIterator[VeniceClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)


def request(**venice_params: object) -> ChatRequest:
    return ChatRequest("venice-uncensored", HELLO, venice=VeniceParameters(**venice_params))  # type: ignore[arg-type]


async def test_plain_chat(client: VeniceClient, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="Hi!", reasoning="thinking", cost_usd=0.0012))
    result = await client.chat(request())
    assert result.content == "Hi!"
    assert result.reasoning == "thinking"
    assert result.usage is not None and result.usage.completion_tokens > 0
    call = venice.calls_to("/chat/completions")[0]
    assert call.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert call.body["venice_parameters"]["include_venice_system_prompt"] is False
    assert "stream" not in call.body


async def test_streaming_keeps_reasoning_apart_and_reads_usage_from_the_last_chunk(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="The answer is forty-two, of course.", reasoning="Let me think."))
    deltas = [d async for d in client.chat_stream(request())]
    content = "".join(d.content for d in deltas)
    reasoning = "".join(d.reasoning for d in deltas)
    assert content == "The answer is forty-two, of course."
    assert reasoning == "Let me think."
    assert sum(1 for d in deltas if d.content) > 1  # really streamed in pieces
    first_content = next(i for i, d in enumerate(deltas) if d.content)
    assert all(not d.reasoning for d in deltas[first_content:])  # reasoning comes first
    assert deltas[-1].usage is not None or any(d.usage for d in deltas)
    body = venice.calls_to("/chat/completions")[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_web_search_citations_arrive_in_the_stream(client: VeniceClient, venice: FakeVenice) -> None:
    venice.script.append(
        ChatScript(
            content="Paris [REF]0[/REF].",
            citations=[{"title": "Paris", "url": "https://en.wikipedia.org/wiki/Paris"}],
        )
    )
    deltas = [d async for d in client.chat_stream(request(enable_web_search="on", enable_web_citations=True))]
    citations = [c for d in deltas for c in d.citations]
    assert [c.url for c in citations] == ["https://en.wikipedia.org/wiki/Paris"]
    sent = venice.calls_to("/chat/completions")[0].body["venice_parameters"]
    assert sent["enable_web_search"] == "on" and sent["enable_web_citations"] is True


async def test_a_stream_cut_off_half_way_keeps_the_partial_and_is_not_retried(
    client: VeniceClient, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="one two three four five six seven eight nine ten", cut_after=2))
    received = ""
    with pytest.raises(e.StreamInterrupted) as info:
        async for delta in client.chat_stream(request()):
            received += delta.content
    assert info.value.partial == received
    assert received and received != "one two three four five six seven eight nine ten"
    assert len(venice.calls_to("/chat/completions")) == 1


async def test_models_are_cached_for_the_ttl(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock
) -> None:
    first = await client.models("text")
    again = await client.models("text")
    assert first == again and len(first) >= 3
    assert len(venice.calls_to("/models")) == 1
    clock.now += 601
    await client.models("text")
    assert len(venice.calls_to("/models")) == 2
    tts = await client.models("tts")
    assert tts and all(m.type == "tts" for m in tts)
    assert venice.calls_to("/models")[-1].query["type"] == "tts"
    model = await client.model("venice-uncensored")
    assert model is not None and model.context_length > 0 and model.privacy in ("private", "anonymized")
    assert model.input_usd_per_mtok is not None


async def test_characters_and_one_character(client: VeniceClient, venice: FakeVenice) -> None:
    characters = await client.characters(limit=10)
    assert characters
    one = await client.character(characters[0].slug)
    assert one.slug == characters[0].slug and one.name
    with pytest.raises(e.NotFound) as info:
        await client.character("no-such-character")
    assert info.value.code == "CHARACTER_NOT_FOUND"


async def test_balance(client: VeniceClient) -> None:
    balance = await client.balance()
    assert balance.can_consume is True and balance.usd is not None


async def test_api_key_rate_limits(client: VeniceClient) -> None:
    assert isinstance(await client.api_key_rate_limits(), dict)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.BadRequest),
        (401, e.AuthenticationFailed),
        (402, e.InsufficientBalance),
        (404, e.NotFound),
        (413, e.PayloadTooLarge),
        (415, e.UnsupportedMediaType),
        (422, e.Unprocessable),
        (500, e.ServerError),
    ],
)
async def test_errors_that_are_never_retried(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock, status: int, cls: type
) -> None:
    venice.fail("/chat/completions", status, times=5)
    with pytest.raises(cls) as info:
        await client.chat(request())
    assert len(venice.calls_to("/chat/completions")) == 1
    assert clock.sleeps == []
    assert info.value.cf_ray and info.value.cf_ray in info.value.user_message


@pytest.mark.parametrize("status", [429, 503, 504])
async def test_retryable_errors_are_retried_after_a_backoff(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock, status: int
) -> None:
    # A 429 without any limit exhausted (e.g. MODEL_OVERLOADED) gets the plain backoff.
    venice.fail("/chat/completions", status, times=1, headers={"x-ratelimit-remaining-requests": "3"})
    result = await client.chat(request())
    assert result.content
    assert len(venice.calls_to("/chat/completions")) == 2
    assert len(clock.sleeps) == 1 and 0.5 <= clock.sleeps[0] <= 1.0


async def test_retries_are_bounded(client: VeniceClient, venice: FakeVenice, clock: FakeClock) -> None:
    venice.fail("/chat/completions", 503, times=100)
    with pytest.raises(e.ServiceUnavailable):
        await client.chat(request())
    assert len(venice.calls_to("/chat/completions")) == 4
    assert clock.sleeps == sorted(clock.sleeps)  # growing backoff
    assert sum(clock.sleeps) <= 45


async def test_429_waits_until_the_request_limit_resets(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock
) -> None:
    venice.fail(
        "/chat/completions",
        429,
        times=1,
        headers={
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": str(clock.now + 6),
        },
    )
    await client.chat(request())
    assert clock.sleeps == [6.0]


async def test_429_honours_retry_after_and_token_reset(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock
) -> None:
    venice.fail(
        "/chat/completions",
        429,
        times=1,
        headers={
            "retry-after": "2",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "3",
            "x-ratelimit-remaining-requests": "10",
        },
    )
    await client.chat(request())
    assert clock.sleeps == [3.0]


async def test_a_429_that_asks_for_a_long_wait_is_not_waited_for(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock
) -> None:
    venice.fail("/chat/completions", 429, times=1, headers={"retry-after": "120"})  # + requests reset
    with pytest.raises(e.RateLimited) as info:
        await client.chat(request())
    assert clock.sleeps == []
    assert info.value.retry_after is not None and info.value.retry_after >= 120
    assert f"{int(info.value.retry_after + 0.999)} s" in info.value.user_message


async def test_connection_dropped_without_answer_is_retried(
    client: VeniceClient, venice: FakeVenice, clock: FakeClock
) -> None:
    venice.drop_connection("/chat/completions", times=1)
    result = await client.chat(request())
    assert result.content and len(clock.sleeps) == 1


async def test_unreachable_server_is_a_typed_error(retry: RetryPolicy) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        client = VeniceClient(
            http, api_key=SecretStr(TEST_KEY), base_url="http://127.0.0.1:9/api/v1", retry=retry
        )
        with pytest.raises(e.VeniceUnreachable) as info:
            await client.models()
    assert "cannot reach Venice" in info.value.user_message
    assert info.value.cause.kind == "refused"  # what doctor tells the operator


async def test_failures_never_approach_venices_key_block(venice: FakeVenice, clock: FakeClock) -> None:
    """Venice blocks a key after more than 20 failed requests in 30 s."""
    policy = RetryPolicy(monotonic=clock.monotonic, wall=clock.time, sleep=clock.sleep)
    venice.fail("/chat/completions", 503, times=1000)
    async with httpx.AsyncClient(timeout=10) as http:
        client = VeniceClient(
            http,
            api_key=SecretStr(TEST_KEY),
            base_url=venice.base_url,
            retry=policy,
            failures=FailureBudget(monotonic=clock.monotonic),
        )
        results: list[object] = []
        for _wave in range(4):  # users keep writing while Venice is down: 4 bursts of 10
            results += await asyncio.gather(
                *(client.chat(request()) for _ in range(10)), return_exceptions=True
            )
    assert all(isinstance(r, e.VeniceError) for r in results)
    assert sum(isinstance(r, e.TooManyFailures) for r in results) >= 20
    refused = next(r for r in results if isinstance(r, e.TooManyFailures))
    assert "pausing" in refused.user_message
    assert sum(clock.sleeps) < 30  # all of it inside one of Venice's 30-second windows
    assert len(venice.calls_to("/chat/completions")) <= 16


async def test_rate_limit_and_balance_headers_are_kept(client: VeniceClient, venice: FakeVenice) -> None:
    await client.models()
    state = client.rate_limits
    assert state.remaining_requests is not None and state.limit_requests is not None
    assert state.balance_usd is not None and state.balance_diem is not None


async def test_deprecation_warning_is_logged_once_per_model(
    client: VeniceClient, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    venice.deprecated_models["venice-uncensored"] = "This model will be removed on 2027-01-01"
    caplog.set_level(logging.WARNING, logger="core.venice.client")
    for _ in range(3):
        await client.chat(request())
    warnings = [r for r in caplog.records if "deprecates" in r.getMessage()]
    assert len(warnings) == 1 and "venice-uncensored" in warnings[0].getMessage()


async def test_the_api_key_never_shows_in_logs_errors_or_reprs(
    client: VeniceClient, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venice.fail("/chat/completions", 401)
    with pytest.raises(e.AuthenticationFailed) as info:
        await client.chat(request())
    venice.drop_connection("/models", times=10)
    with pytest.raises(e.VeniceError) as info2:
        await client.models()
    for text in (
        str(info.value),
        repr(info.value),
        info.value.user_message,
        str(info2.value),
        repr(info2.value),
        repr(client),
        caplog.text,
    ):
        assert TEST_KEY not in text


@pytest.mark.parametrize("status", [400, 422])
async def test_a_venice_error_echoing_the_request_is_not_relayed_and_is_logged_redacted(
    client: VeniceClient, venice: FakeVenice, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.WARNING, logger="core.venice.transport")
    echo = (
        f"Invalid request. Headers: Authorization: Bearer {TEST_KEY}; body: "
        '{"api_key": "hunter2hunter2", "messages": [{"content": "my own key is '
        'VENICE-INFERENCE-KEY-Zk3pQ9xW2mR7tL0vB4nC8yH1, and 0123456789abcdef0123456789abcdef"}]} '
        + "and so on "
        * 200
    )
    venice.fail("/chat/completions", status, {"error": echo})
    with pytest.raises(e.VeniceError) as info:
        await client.chat(request())
    told = info.value.user_message
    expected = {400: e.BadRequest, 422: e.Unprocessable}[status].default_user_message
    assert told == f"{expected} (Venice request id: {info.value.cf_ray})"
    [line] = [r.getMessage() for r in caplog.records if "/chat/completions ->" in r.getMessage()]
    said = line.split("): ", 1)[1]
    assert said.startswith("Invalid request. Headers: Authorization: Bearer [redacted]")
    assert len(said) <= 300
    for secret in (TEST_KEY, "hunter2", "Zk3pQ9xW2mR7tL0vB4nC8yH1", "0123456789abcdef0123"):
        assert secret not in told + line + str(info.value)


async def test_context_length_error_in_openai_shape(client: VeniceClient, venice: FakeVenice) -> None:
    huge = ({"role": "user", "content": "word " * 200_000},)
    with pytest.raises(e.ContextLengthExceeded) as info:
        await client.chat(ChatRequest("venice-uncensored", huge))
    assert info.value.code == "context_length_exceeded"


async def test_unknown_model(client: VeniceClient) -> None:
    with pytest.raises((e.InvalidModel, e.NotFound, e.BadRequest)):
        await client.chat(ChatRequest("no-such-model", HELLO))
