"""Plain values that the Venice client takes and returns."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core.venice.tool_calls import AssembledCall as AssembledCall
from core.venice.tool_calls import ToolCallDelta as ToolCallDelta
from core.venice.tool_calls import plain_json

WebSearchMode = Literal["off", "on", "auto"]


@dataclass(frozen=True)
class VeniceParameters:
    """Venice's own request options (``venice_parameters``)."""

    include_venice_system_prompt: bool = False
    character_slug: str | None = None
    enable_web_search: WebSearchMode = "off"
    enable_web_citations: bool = False
    enable_web_scraping: bool = False
    strip_thinking_response: bool = False
    disable_thinking: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the request object, leaving out what is unset."""
        body: dict[str, Any] = {
            "include_venice_system_prompt": self.include_venice_system_prompt,
            "enable_web_search": self.enable_web_search,
        }
        if self.character_slug:
            body["character_slug"] = self.character_slug
        if self.enable_web_citations:
            body["enable_web_citations"] = True
        if self.enable_web_scraping:
            body["enable_web_scraping"] = True
        if self.strip_thinking_response:
            body["strip_thinking_response"] = True
        if self.disable_thinking:
            body["disable_thinking"] = True
        return body


def dumps(value: Any) -> str:
    """Compact JSON, as sent on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class EncodedMessage:
    """A chat message already encoded as JSON.

    A conversation's history is sent again with every turn; keeping each stored message
    encoded once saves re-encoding the whole history (about 1 ms per 100 KB) on every turn.
    """

    json: str


ChatMessage = dict[str, Any] | EncodedMessage


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request."""

    model: str
    messages: tuple[ChatMessage, ...]
    max_completion_tokens: int | None = None
    temperature: float | None = None
    venice: VeniceParameters = field(default_factory=VeniceParameters)
    prompt_cache_key: str | None = None  # routes the requests to servers holding its prefix cached
    # Functions the model may call (``ToolSpec.as_json()``), for a model that supports function calling.
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: Literal["auto", "none"] = "auto"  # "none": the last round of a turn must answer

    def to_json(self, *, stream: bool) -> dict[str, Any]:
        """Return the JSON body for ``POST /chat/completions`` as a dict."""
        body = self._envelope(stream=stream)
        body["messages"] = [json.loads(m.json) if isinstance(m, EncodedMessage) else m for m in self.messages]
        return body

    def encode(self, *, stream: bool) -> bytes:
        """Return the JSON body as bytes, splicing in the messages that are encoded already."""
        envelope = dumps(self._envelope(stream=stream))
        messages = ",".join(m.json if isinstance(m, EncodedMessage) else dumps(m) for m in self.messages)
        return f'{envelope[:-1]},"messages":[{messages}]}}'.encode()

    def _envelope(self, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "venice_parameters": self.venice.to_json(),
        }
        if self.max_completion_tokens is not None:
            body["max_completion_tokens"] = self.max_completion_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.prompt_cache_key is not None:
            body["prompt_cache_key"] = self.prompt_cache_key
        if self.tools:
            body["tools"] = [plain_json(tool) for tool in self.tools]
            body["tool_choice"] = self.tool_choice
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body


@dataclass(frozen=True)
class Usage:
    """Token counts Venice reports for one request.

    ``cached_tokens`` (read from the prompt cache) and ``cache_write_tokens`` (written to it)
    are parts of ``prompt_tokens``, not on top of it.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        """Parse ``usage``; None when absent."""
        if not isinstance(data, dict):
            return None
        prompt = int(data.get("prompt_tokens") or 0)
        completion = int(data.get("completion_tokens") or 0)
        details = data.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        # The cache's share is an optional breakdown: one that is unreadable counts as none (the
        # prompt is then charged at the plain input price), and never more than the prompt.
        cached = min(max(0, prompt), _breakdown(details.get("cached_tokens")))
        written = min(max(0, prompt - cached), _breakdown(details.get("cache_creation_input_tokens")))
        total = int(data.get("total_tokens") or prompt + completion)
        return cls(prompt, completion, total, cached, written)


def _breakdown(value: Any) -> int:
    """A part of the prompt's token count as reported, or 0 when it is missing or not a count."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Citation:
    """One web source that an answer cites."""

    title: str
    url: str
    date: str | None = None

    @classmethod
    def parse_list(cls, data: Any) -> tuple[Citation, ...]:
        """Parse ``web_search_citations``, skipping entries without a URL."""
        if not isinstance(data, list):
            return ()
        out = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                out.append(cls(str(item.get("title") or item["url"]), item["url"], item.get("date")))
        return tuple(out)


@dataclass(frozen=True)
class ChatDelta:
    """One piece of a streamed answer: text, thinking, citations, function-call fragments or usage."""

    content: str = ""
    reasoning: str = ""
    citations: tuple[Citation, ...] = ()
    usage: Usage | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()


@dataclass(frozen=True)
class ChatResult:
    """A whole chat answer, with the function calls it asks for (if any)."""

    content: str
    reasoning: str = ""
    citations: tuple[Citation, ...] = ()
    usage: Usage | None = None
    cost_usd: float | None = None
    model: str = ""
    finish_reason: str | None = None
    tool_calls: tuple[AssembledCall, ...] = ()


@dataclass(frozen=True)
class TokenPrices:
    """A text model's USD prices per million tokens in one pricing tier (None: not listed)."""

    input: float | None = None
    output: float | None = None
    cache_input: float | None = None  # a token read from the prompt cache
    cache_write: float | None = None  # a token written to it (some providers charge a premium)

    @classmethod
    def from_json(cls, pricing: dict[str, Any]) -> TokenPrices:
        """Parse ``{input, output, cache_input, cache_write}``, each ``{usd, diem}``."""

        def usd(key: str) -> float | None:
            entry = pricing.get(key)
            if isinstance(entry, dict) and isinstance(entry.get("usd"), (int, float)):
                return float(entry["usd"])
            return None

        return cls(usd("input"), usd("output"), usd("cache_input"), usd("cache_write"))


@dataclass(frozen=True)
class ExtendedPricing:
    """Venice's long-context tier: above ``threshold`` prompt tokens, its prices apply to the
    entire request (the spec: "extended rates apply to the entire request")."""

    threshold: int
    prices: TokenPrices

    @classmethod
    def from_json(cls, data: Any) -> ExtendedPricing | None:
        """Parse ``pricing.extended``; None when absent or without its required prices (a tier
        with no input or output price would make long requests free)."""
        if not isinstance(data, dict):
            return None
        threshold = data.get("context_token_threshold")
        prices = TokenPrices.from_json(data)
        if not isinstance(threshold, (int, float)) or prices.input is None or prices.output is None:
            return None
        return cls(int(threshold), prices)


@dataclass(frozen=True)
class ModelInfo:
    """What the bot needs to know of one model from ``GET /models``."""

    id: str
    type: str
    name: str
    context_length: int
    privacy: str | None = None
    supports_vision: bool = False
    supports_web_search: bool = False
    supports_reasoning: bool = False
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    offline: bool = False
    traits: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    cache_input_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None
    extended: ExtendedPricing | None = None
    supports_function_calling: bool = False  # model_spec.capabilities.supportsFunctionCalling

    def token_prices(self, prompt_tokens: int) -> TokenPrices:
        """The prices of a request with this many prompt tokens: the extended tier's above its
        threshold, for the whole request, else the base prices."""
        if self.extended is not None and prompt_tokens > self.extended.threshold:
            return self.extended.prices
        return TokenPrices(
            self.input_usd_per_mtok,
            self.output_usd_per_mtok,
            self.cache_input_usd_per_mtok,
            self.cache_write_usd_per_mtok,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        """Parse one entry of ``GET /models``."""
        spec = data.get("model_spec") or {}
        caps = spec.get("capabilities") or {}
        pricing = spec.get("pricing") or {}

        base = TokenPrices.from_json(pricing)
        # A model that states no context size gets a small, safe one rather than zero.
        context = spec.get("availableContextTokens") or data.get("context_length") or 8192
        return cls(
            id=str(data["id"]),
            type=str(data.get("type") or "text"),
            name=str(spec.get("name") or data["id"]),
            context_length=int(context),
            privacy=spec.get("privacy"),
            supports_vision=bool(caps.get("supportsVision")),
            supports_web_search=bool(caps.get("supportsWebSearch")),
            supports_reasoning=bool(caps.get("supportsReasoning")),
            input_usd_per_mtok=base.input,
            output_usd_per_mtok=base.output,
            offline=bool(spec.get("offline")),
            traits=tuple(str(t) for t in spec.get("traits") or ()),
            raw=data,
            cache_input_usd_per_mtok=base.cache_input,
            cache_write_usd_per_mtok=base.cache_write,
            extended=ExtendedPricing.from_json(pricing.get("extended")),
            supports_function_calling=bool(caps.get("supportsFunctionCalling")),
        )


@dataclass(frozen=True)
class Character:
    """A public Venice character."""

    slug: str
    name: str
    description: str = ""
    model_id: str | None = None
    web_enabled: bool = False
    adult: bool = False
    tags: tuple[str, ...] = ()
    photo_url: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Character:
        """Parse one character object."""
        return cls(
            slug=str(data["slug"]),
            name=str(data.get("name") or data["slug"]),
            description=str(data.get("description") or ""),
            model_id=data.get("modelId"),
            web_enabled=bool(data.get("webEnabled")),
            adult=bool(data.get("adult")),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            photo_url=data.get("photoUrl"),
        )


@dataclass(frozen=True)
class AccountBalance:
    """The Venice account's balance from ``GET /billing/balance``."""

    can_consume: bool
    currency: str | None
    usd: float | None
    diem: float | None
    diem_epoch_allocation: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountBalance:
        """Parse the balance body."""
        balances = data.get("balances") or {}
        return cls(
            can_consume=bool(data.get("canConsume")),
            currency=data.get("consumptionCurrency"),
            usd=_float_or_none(balances.get("usd")),
            diem=_float_or_none(balances.get("diem")),
            diem_epoch_allocation=_float_or_none(data.get("diemEpochAllocation")),
        )


@dataclass(frozen=True)
class RateLimitState:
    """The last rate-limit and balance headers Venice sent (None: never seen)."""

    remaining_requests: int | None = None
    limit_requests: int | None = None
    remaining_tokens: int | None = None
    limit_tokens: int | None = None
    balance_usd: float | None = None
    balance_diem: float | None = None
    observed_at: float | None = None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class GeneratedImages:
    """What ``/image/generate`` returned: the images and Venice's content flags."""

    images: tuple[bytes, ...] = field(repr=False)
    blurred: bool = False
    content_violation: bool = False


@dataclass(frozen=True)
class Transcript:
    """What ``/audio/transcriptions`` heard."""

    text: str
    duration: float | None = None


@dataclass(frozen=True)
class Embeddings:
    """What ``/embeddings`` returned: one vector per input text, in input order, and the
    prompt tokens Venice billed for them (all batches together)."""

    vectors: tuple[tuple[float, ...], ...] = field(repr=False)
    prompt_tokens: int = 0


@dataclass(frozen=True)
class ParsedDocument:
    """What ``/augment/text-parser`` read from a document: its text and Venice's token count."""

    text: str = field(repr=False)
    tokens: int


QueueFamily = Literal["video", "audio"]  # Venice's queued endpoints: /video/* and /audio/*


@dataclass(frozen=True)
class QueuedStatus:
    """A queued job's state: still running (with timings), or done with its file."""

    done: bool
    data: bytes = field(default=b"", repr=False)
    mime_type: str = ""
    average_ms: float | None = None
    elapsed_ms: float | None = None


def cost_usd(data: dict[str, Any]) -> float | None:
    """Venice's ``cost.usd`` of a response or chunk, when it sends a readable one."""
    cost = data.get("cost")
    if isinstance(cost, dict) and cost.get("usd") is not None:
        try:
            return float(cost["usd"])
        except (TypeError, ValueError):
            return None
    return None
