"""The Venice API client: chat (plain and streaming), catalogue, characters, balance."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from core.network import diagnose
from core.ports.metrics import NO_METRICS, Metrics
from core.text import estimate_tokens
from core.venice.augment import WebAugment
from core.venice.errors import VeniceError, VeniceUnreachable
from core.venice.media_calls import MediaCalls
from core.venice.responses import encode as _encode
from core.venice.responses import json_object as _json
from core.venice.responses import unreadable as _unreadable
from core.venice.retry import FailureBudget, RetryPolicy
from core.venice.streaming import stream_answer
from core.venice.think import split_think
from core.venice.tool_calls import assemble
from core.venice.transport import Transport
from core.venice.types import (
    AccountBalance,
    Character,
    ChatDelta,
    ChatRequest,
    ChatResult,
    Citation,
    Embeddings,
    GeneratedImages,
    ModelInfo,
    ParsedDocument,
    QueuedStatus,
    QueueFamily,
    RateLimitState,
    ToolCallDelta,
    Transcript,
    Usage,
    cost_usd,
)

log = logging.getLogger(__name__)

# Texts per /embeddings request: Venice takes up to 2,048; fewer keep each request's body and
# time modest (a failed batch is retried alone). And at most about this many characters per
# request (~100,000 tokens), well under a key's tokens per minute.
EMBEDDING_BATCH = 256
EMBEDDING_BATCH_CHARS = 400_000


class VeniceClient(WebAugment, MediaCalls):
    """Talk to the Venice API over an ``httpx.AsyncClient`` that the caller owns (the web
    endpoints come from ``WebAugment``, the rarer media calls from ``MediaCalls``)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: SecretStr,
        base_url: str,
        retry: RetryPolicy | None = None,
        failures: FailureBudget | None = None,
        metrics: Metrics = NO_METRICS,
        models_ttl: float = 600.0,
        stream_seconds: float = 120.0,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._transport = Transport(
            http, api_key=api_key, base_url=base_url, retry=self._retry, failures=failures, metrics=metrics
        )
        self._models_ttl = models_ttl
        self._stream_seconds = stream_seconds  # a streamed answer's whole time, headers to [DONE]
        self._models_cache: dict[str, tuple[float, tuple[ModelInfo, ...]]] = {}
        self._styles_cache: tuple[float, tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return f"VeniceClient(base_url={self._transport.base_url!r})"

    @property
    def rate_limits(self) -> RateLimitState:
        """The newest rate-limit and balance headers seen on any response."""
        return self._transport.rate_limits

    @property
    def failures(self) -> FailureBudget:
        """The process-wide count of recent failed requests."""
        return self._transport.failures

    # ----- chat

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Return a whole answer (``stream: false``)."""
        response = await self._transport.send(
            "POST", "/chat/completions", content=request.encode(stream=False), model=request.model
        )
        data = _json(response)
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content, inline_reasoning = split_think(message.get("content") or "")
        venice = data.get("venice_parameters") or {}
        usage = Usage.from_json(data.get("usage"))
        self._count_tokens(usage)
        try:
            calls = assemble(ToolCallDelta.parse_list(message.get("tool_calls"), whole=True))
        except TypeError:
            raise _unreadable(response, "tool_calls of an unexpected shape") from None
        return ChatResult(
            content=content,
            reasoning=(message.get("reasoning_content") or "") + inline_reasoning,
            citations=Citation.parse_list(venice.get("web_search_citations")),
            usage=usage,
            cost_usd=cost_usd(data),
            model=str(data.get("model") or request.model),
            finish_reason=choice.get("finish_reason"),
            tool_calls=tuple(calls),
        )

    def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        """Yield the answer as it is generated, all of it within the stream deadline.

        Raises ``StreamInterrupted`` (with the text received so far) when the stream breaks
        off after it started; it is never retried then, since that would repeat the answer.
        """
        return self._counted(stream_answer(self._transport, request, seconds=self._stream_seconds))

    async def _counted(self, deltas: AsyncGenerator[ChatDelta, None]) -> AsyncGenerator[ChatDelta, None]:
        usage: Usage | None = None
        try:
            async for delta in deltas:
                usage = delta.usage or usage
                yield delta
        finally:
            await deltas.aclose()
            self._count_tokens(usage)  # the last report counts (Venice repeats it at the end)

    def _count_tokens(self, usage: Usage | None) -> None:
        if usage is not None:
            self._transport.metrics.tokens("prompt", usage.prompt_tokens)
            self._transport.metrics.tokens("completion", usage.completion_tokens)

    async def ping(self) -> int:
        """Ask Venice once for its text models (no retry, outside the failure budget): its status."""
        return await self._transport.probe("/models", {"type": "text"})

    # ----- catalogue

    async def models(self, type: str = "text") -> tuple[ModelInfo, ...]:
        """Return the models of one type, cached for the TTL."""
        now = self._retry.monotonic()
        cached = self._models_cache.get(type)
        if cached and now - cached[0] < self._models_ttl:
            return cached[1]
        response = await self._transport.send("GET", "/models", params={"type": type})
        entries = _json(response).get("data") or []
        models = tuple(ModelInfo.from_json(m) for m in entries if isinstance(m, dict) and "id" in m)
        self._models_cache[type] = (now, models)
        return models

    async def model(self, model_id: str, type: str = "text") -> ModelInfo | None:
        """Return one model of the catalogue, or None when Venice does not list it."""
        for info in await self.models(type):
            if info.id == model_id:
                return info
        return None

    async def characters(
        self, *, search: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Character, ...]:
        """List public characters."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 100)), "offset": max(0, offset)}
        if search:
            params["search"] = search
        response = await self._transport.send("GET", "/characters", params=params)
        entries = _json(response).get("data") or []
        return tuple(Character.from_json(c) for c in entries if isinstance(c, dict) and "slug" in c)

    async def character(self, slug: str) -> Character:
        """Return one character; raises ``NotFound`` when unknown."""
        response = await self._transport.send("GET", f"/characters/{quote(slug, safe='')}")
        data = _json(response)
        inner = data.get("data")
        return Character.from_json(inner if isinstance(inner, dict) else data)

    async def balance(self) -> AccountBalance:
        """Return the Venice account's balance."""
        response = await self._transport.send("GET", "/billing/balance")
        return AccountBalance.from_json(_json(response))

    async def api_key_rate_limits(self) -> dict[str, Any]:
        """Return the key's tier and per-model limits (``GET /api_keys/rate_limits``)."""
        response = await self._transport.send("GET", "/api_keys/rate_limits")
        return _json(response)

    # ----- embeddings

    async def embed(self, texts: Sequence[str], *, model: str) -> Embeddings:
        """``POST /embeddings``: one vector per text, in input order, asked for in batches."""
        if any(not text for text in texts):
            raise ValueError("An empty text cannot be embedded (Venice refuses it).")
        vectors: list[tuple[float, ...]] = []
        tokens = 0
        for batch in _batches(texts):
            body = {"model": model, "input": batch, "encoding_format": "float"}
            response = await self._transport.send("POST", "/embeddings", content=_encode(body), model=model)
            data = _json(response)
            vectors.extend(_vectors(data.get("data"), len(batch), response))
            usage = Usage.from_json(data.get("usage"))
            self._count_tokens(usage)
            # Venice bills what it reports; without a report, count as the bot counts tokens.
            tokens += (
                usage.prompt_tokens if usage and usage.prompt_tokens else sum(map(estimate_tokens, batch))
            )
        return Embeddings(tuple(vectors), tokens)

    # ----- media

    async def generate_images(self, body: Mapping[str, Any]) -> GeneratedImages:
        """``POST /image/generate``: base64 images plus the blurred / content-violation flags."""
        response = await self._transport.send(
            "POST", "/image/generate", content=_encode(body), model=str(body.get("model") or "")
        )
        data = _json(response)
        images = []
        for item in data.get("images") or []:
            try:
                images.append(base64.b64decode(item, validate=True))
            except (ValueError, TypeError):
                raise _unreadable(response) from None
        return GeneratedImages(
            images=tuple(images),
            blurred=response.headers.get("x-venice-is-blurred", "").lower() == "true",
            content_violation=response.headers.get("x-venice-is-content-violation", "").lower() == "true",
        )

    async def image_styles(self) -> tuple[str, ...]:
        """``GET /image/styles``: the style presets (cached like the catalogue)."""
        now = self._retry.monotonic()
        cached = self._styles_cache
        if cached and now - cached[0] < self._models_ttl:
            return cached[1]
        data = _json(await self._transport.send("GET", "/image/styles")).get("data") or []
        styles = tuple(str(s) for s in data if isinstance(s, str))
        self._styles_cache = (now, styles)
        return styles

    async def upscale(self, image: bytes, *, scale: int, filename: str, mime_type: str) -> bytes:
        """``POST /image/upscale`` as a multipart upload; returns the PNG bytes."""
        response = await self._transport.send(
            "POST",
            "/image/upscale",
            form={"scale": str(scale)},
            files={"image": (filename, image, mime_type)},
            stream=True,
        )
        return await _body(response)

    async def edit_image(
        self,
        image: bytes,
        *,
        prompt: str,
        model: str,
        filename: str,
        mime_type: str,
        aspect_ratio: str | None = None,
        safe_mode: bool = True,
    ) -> tuple[bytes, str]:
        """``POST /image/edit`` as a multipart upload; returns the image and its type."""
        form = {"prompt": prompt, "model": model, "safe_mode": "true" if safe_mode else "false"}
        if aspect_ratio:
            form["aspect_ratio"] = aspect_ratio
        response = await self._transport.send(
            "POST",
            "/image/edit",
            form=form,
            files={"image": (filename, image, mime_type)},
            model=model,
            stream=True,
        )
        kind = response.headers.get("content-type", "image/png").split(";")[0].strip()
        return await _body(response), kind

    async def speech(
        self, text: str, *, model: str, voice: str, response_format: str = "opus", speed: float | None = None
    ) -> bytes:
        """``POST /audio/speech``: the audio bytes (``opus``: an Ogg/Opus stream)."""
        body: dict[str, Any] = {
            "input": text,
            "model": model,
            "voice": voice,
            "response_format": response_format,
        }
        if speed is not None:
            body["speed"] = speed
        response = await self._transport.send(
            "POST", "/audio/speech", content=_encode(body), model=model, stream=True
        )
        return await _body(response)

    async def transcribe(self, audio: bytes, *, model: str, filename: str, mime_type: str) -> Transcript:
        """``POST /audio/transcriptions`` (multipart): the text and the audio's duration."""
        response = await self._transport.send(
            "POST",
            "/audio/transcriptions",
            form={"model": model, "response_format": "json"},
            files={"file": (filename, audio, mime_type)},
            model=model,
        )
        data = _json(response)
        duration = data.get("duration")
        return Transcript(
            text=str(data.get("text") or ""),
            duration=float(duration) if isinstance(duration, (int, float)) else None,
        )

    async def parse_document(self, data: bytes, *, filename: str, mime_type: str) -> ParsedDocument:
        """``POST /augment/text-parser`` (multipart): the document's text and its token count."""
        response = await self._transport.send(
            "POST",
            "/augment/text-parser",
            form={"response_format": "json"},
            files={"file": (filename, data, mime_type)},
        )
        parsed = _json(response)
        text, tokens = parsed.get("text"), parsed.get("tokens")
        if not isinstance(text, str) or not isinstance(tokens, (int, float)) or isinstance(tokens, bool):
            raise _unreadable(response, "text-parser answer without text and tokens")
        return ParsedDocument(text=text, tokens=int(tokens))

    async def queue_quote(self, family: QueueFamily, body: Mapping[str, Any]) -> float:
        """``POST /video/quote`` or ``/audio/quote``: the price in USD."""
        try:
            return float((await self._queued(family, "quote", body))["quote"])
        except (KeyError, TypeError, ValueError):
            raise VeniceError("quote missing", user_message=f"Venice sent no {family} price.") from None

    async def queue_job(self, family: QueueFamily, body: Mapping[str, Any]) -> str:
        """``POST /video/queue`` or ``/audio/queue``: the queue id of the new job."""
        queue_id = (await self._queued(family, "queue", body)).get("queue_id")
        if not isinstance(queue_id, str) or not queue_id:
            raise VeniceError("queue_id missing", user_message=f"Venice did not accept the {family} job.")
        return queue_id

    async def _queued(self, family: QueueFamily, verb: str, body: Mapping[str, Any]) -> dict[str, Any]:
        model = str(body.get("model") or "")
        return _json(
            await self._transport.send("POST", f"/{family}/{verb}", content=_encode(body), model=model)
        )

    async def queue_retrieve(self, family: QueueFamily, model: str, queue_id: str) -> QueuedStatus:
        """``POST /video/retrieve`` or ``/audio/retrieve``: progress while running, the file when done."""
        response = await self._transport.send(
            "POST",
            f"/{family}/retrieve",
            stream=True,
            model=model,
            content=_encode({"model": model, "queue_id": queue_id}),
        )
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await _body(response)
        if kind.startswith(f"{family}/"):
            return QueuedStatus(done=True, data=body, mime_type=kind)
        try:
            data = json.loads(body)
        except ValueError:
            raise _unreadable(response) from None
        return QueuedStatus(
            done=False,
            average_ms=_number(data.get("average_execution_time")),
            elapsed_ms=_number(data.get("execution_duration")),
        )

    async def queue_complete(self, family: QueueFamily, model: str, queue_id: str) -> None:
        """``POST /video/complete`` or ``/audio/complete``: delete the file from Venice's storage."""
        body = _encode({"model": model, "queue_id": queue_id})
        await self._transport.send("POST", f"/{family}/complete", model=model, content=body)

    # ----- transport


def _batches(texts: Sequence[str]) -> list[list[str]]:
    """Split texts into requests of at most ``EMBEDDING_BATCH`` texts and about
    ``EMBEDDING_BATCH_CHARS`` characters (a longer text goes alone)."""
    batches: list[list[str]] = []
    size = 0
    for text in texts:
        if not batches or len(batches[-1]) >= EMBEDDING_BATCH or size + len(text) > EMBEDDING_BATCH_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(text)
        size += len(text)
    return batches


def _vectors(items: Any, expected: int, response: httpx.Response) -> list[tuple[float, ...]]:
    """The embeddings of one response in input order (by ``index``); exactly one per text."""
    if not isinstance(items, list) or len(items) != expected:
        raise _unreadable(response, "embeddings missing")
    by_index: dict[int, tuple[float, ...]] = {}
    for position, item in enumerate(items):
        vector = item.get("embedding") if isinstance(item, dict) else None
        index = item.get("index", position) if isinstance(item, dict) else position
        if not isinstance(vector, list) or not vector or not isinstance(index, int):
            raise _unreadable(response, "embedding unreadable")
        try:
            by_index[index] = tuple(float(x) for x in vector)
        except (TypeError, ValueError):
            raise _unreadable(response, "embedding unreadable") from None
    if sorted(by_index) != list(range(expected)):
        raise _unreadable(response, "embeddings out of order")
    return [by_index[i] for i in range(expected)]


async def _body(response: httpx.Response) -> bytes:
    """Read a (binary) body to the end: one copy, joined from the received chunks."""
    try:
        chunks = [chunk async for chunk in response.aiter_bytes()]
    except httpx.TransportError as exc:
        raise VeniceUnreachable("body broke off", cause=diagnose(exc)) from None
    finally:
        await response.aclose()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
