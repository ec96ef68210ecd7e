"""A streamed chat answer: Venice's server-sent events read as the spec splits them (httpx-sse),
parsed into deltas, under one deadline for the whole answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from core.venice.errors import StreamInterrupted, StreamTooSlow, StreamUnreadable, error_for_status
from core.venice.think import ThinkSplitter
from core.venice.transport import Transport
from core.venice.types import ChatDelta, ChatRequest, Citation, ToolCallDelta, Usage, cost_usd


async def stream_answer(
    transport: Transport, request: ChatRequest, *, seconds: float
) -> AsyncGenerator[ChatDelta, None]:
    """Yield the answer as it is generated, all of it within ``seconds``.

    Raises ``StreamInterrupted`` (with the text received so far) when the stream breaks off
    after it started: ``StreamTooSlow`` past the deadline, ``StreamUnreadable`` for an event
    that is not a chunk. It is never retried then, since that would repeat the answer.
    """
    # One deadline for the call: a stream of keep-alive comments never lets httpx's read
    # timeout (the gap between bytes) run out.
    deadline = asyncio.get_running_loop().time() + seconds
    late = f"Venice did not finish answering within {seconds:g} seconds, so the bot stopped waiting."
    try:
        async with asyncio.timeout_at(deadline):
            response = await transport.send(
                "POST",
                "/chat/completions",
                content=request.encode(stream=True),
                model=request.model,
                stream=True,
            )
    except TimeoutError:
        raise StreamTooSlow("no answer before the deadline", user_message=late) from None
    cf_ray = response.headers.get("cf-ray")
    splitter = ThinkSplitter()
    received: list[str] = []
    finished = done = False

    def broken(error: type[StreamInterrupted], why: str, **kwargs: Any) -> StreamInterrupted:
        return error(why, partial="".join(received), cf_ray=cf_ray, **kwargs)

    events = EventSource(response).aiter_sse()
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    event = await anext(events, None)
            except TimeoutError:
                if done:
                    break  # the answer is whole; only the rest of the body is missing
                raise broken(StreamTooSlow, "deadline passed", user_message=late) from None
            if event is None:
                break
            # Read on past [DONE] to the end of the body: a response closed half-read cannot
            # go back to the connection pool, and the next request would pay for a new
            # connection. An empty ``data:`` carries nothing (keep-alive comments never
            # become events).
            if done or not event.data:
                continue
            if event.data == "[DONE]":
                done = finished = True
                continue
            chunk = _chunk(event.data)
            if chunk is None:
                raise broken(StreamUnreadable, f"unreadable event: {event.data[:80]!r}")
            if "error" in chunk:
                raise _error_chunk(chunk, event.data, "".join(received), cf_ray)
            delta = _parse_chunk(chunk, splitter)
            if delta is None:
                raise broken(StreamUnreadable, "a chunk of an unexpected shape")
            if delta.finish_reason:
                finished = True
            if delta.content:
                received.append(delta.content)
            yield delta
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise broken(StreamInterrupted, f"{type(exc).__name__}: stream broke off") from None
    except SSEError as exc:  # not an event stream at all (a proxy's JSON or HTML page)
        raise broken(StreamUnreadable, str(exc)) from None
    finally:
        await events.aclose()
        await response.aclose()
    answer, reasoning = splitter.flush()
    if answer or reasoning:
        received.append(answer)
        yield ChatDelta(content=answer, reasoning=reasoning)
    if not finished:
        raise broken(StreamInterrupted, "stream ended without [DONE]")


def _chunk(data: str) -> dict[str, Any] | None:
    """The JSON object of one event, or None when it is not one."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


def _error_chunk(chunk: dict[str, Any], data: str, partial: str, cf_ray: str | None) -> StreamInterrupted:
    status = chunk.get("status")
    error = error_for_status(status if isinstance(status, int) else 500, data.encode(), cf_ray=cf_ray)
    return StreamInterrupted(
        error.api_message,
        partial=partial,
        cf_ray=cf_ray,
        user_message=error.user_message.split(" (Venice request id")[0],
    )


def _parse_chunk(chunk: dict[str, Any], splitter: ThinkSplitter) -> ChatDelta | None:
    """One chunk as a delta; None when its fields have the wrong types."""
    try:
        choices = chunk.get("choices") or []
        choice: dict[str, Any] = choices[0] if choices else {}
        delta: dict[str, Any] = choice.get("delta") or {}
        text, reasoning = delta.get("content") or "", delta.get("reasoning_content") or ""
        if not isinstance(text, str) or not isinstance(reasoning, str):
            return None
        content, inline_reasoning = splitter.feed(text)
        venice = chunk.get("venice_parameters") or {}
        return ChatDelta(
            content=content,
            reasoning=reasoning + inline_reasoning,
            citations=Citation.parse_list(venice.get("web_search_citations")),
            usage=Usage.from_json(chunk.get("usage")),
            cost_usd=cost_usd(chunk),
            finish_reason=choice.get("finish_reason"),
            tool_calls=ToolCallDelta.parse_list(delta.get("tool_calls")),
        )
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        return None
