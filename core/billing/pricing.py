"""What a paid action costs, in micro-USD, from Venice's own prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.money import exact, micro_usd
from core.ports.records import TokenUse
from core.venice.types import ModelInfo, TokenPrices, Usage

# Web search and scraping, in a chat request's venice_parameters or through /augment/search and
# /augment/scrape (the tools'): /models carries no price for them. Venice's docs (veniceai/api-docs,
# augment/search.mdx and scrape.mdx): "$0.01 per request"; pricing.mdx: $10 per 1,000.
WEB_SEARCH_USD = Decimal("0.01")
WEB_SCRAPE_USD = Decimal("0.01")
DOCUMENT_USD = Decimal("0.01")  # Venice: $0.01 per document read by /augment/text-parser
MTOK = 1_000_000  # Venice prices tokens per million


@dataclass(frozen=True)
class Prices:
    """Venice's prices times the operator's markup (1.0: at cost), per feature if set."""

    markup: float = 1.0
    feature_markups: Mapping[str, float] = field(default_factory=dict)

    def _micro(self, usd: float | Decimal, feature: str) -> int:
        """USD times the markup in micro-USD, rounded up with exact decimal arithmetic."""
        return micro_usd(exact(usd) * exact(self.feature_markups.get(feature, self.markup)))

    def chat_estimate(
        self,
        model: ModelInfo,
        prompt_tokens: int,
        max_completion_tokens: int,
        *,
        web_search: bool,
        scraped_urls: int,
        feature: str = "chat",
    ) -> int:
        """An upper bound for a chat answer: every reply token used, search and links paid, no
        prompt token read from the cache (and, where writing to it costs more, all written)."""
        tier = model.token_prices(prompt_tokens)
        costlier_writes = (tier.cache_write or 0) > (tier.input or 0)
        prompt = PromptTokens(prompt_tokens, written=prompt_tokens if costlier_writes else 0)
        return self._micro(
            _tokens_usd(model, prompt, max_completion_tokens, web_search, scraped_urls), feature
        )

    def token_use(self, model: ModelInfo, usage: Usage | None, *, feature: str = "chat") -> TokenUse | None:
        """What a request's prompt was made of and what prompt caching saved on it (at this
        feature's markup), to record with its charge; None without Venice's usage."""
        if usage is None:
            return None
        prompt = PromptTokens.of(usage)
        markup = exact(self.feature_markups.get(feature, self.markup))
        saved = micro_usd(_cache_saving_usd(model, prompt) * markup, up=False)
        return TokenUse(prompt.total, prompt.cached, prompt.written, saved)

    def chat_cost(
        self,
        model: ModelInfo,
        usage: Usage | None,
        *,
        cost_usd: float | None,
        estimated_prompt: int,
        completion_estimate: int,
        web_search: bool,
        scraped_urls: int,
        feature: str = "chat",
    ) -> int:
        """The real cost: Venice's own ``cost.usd`` when it sends one, else tokens × prices
        (cached prompt tokens at ``cache_input``, cache writes at ``cache_write``)."""
        if cost_usd is not None:
            return self._micro(cost_usd, feature)
        prompt = PromptTokens.of(usage) if usage and usage.prompt_tokens else PromptTokens(estimated_prompt)
        completion = usage.completion_tokens if usage and usage.completion_tokens else completion_estimate
        return self._micro(_tokens_usd(model, prompt, completion, web_search, scraped_urls), feature)

    def web_search(self) -> int:
        """One web search (the model's ``web_search`` tool, ``/augment/search``)."""
        return self._micro(WEB_SEARCH_USD, "search")

    def scrape(self) -> int:
        """One page read (the model's ``read_url`` tool, ``/augment/scrape``)."""
        return self._micro(WEB_SCRAPE_USD, "scrape")

    def embedding_cost(self, model: ModelInfo, tokens: int, *, feature: str = "memory") -> int:
        """Embedding ``tokens`` at the model's ``pricing.input`` per 1M tokens (0 when unpriced)."""
        return self._micro(max(0, tokens) * exact(model.input_usd_per_mtok or 0) / MTOK, feature)


@dataclass(frozen=True)
class PromptTokens:
    """A prompt's tokens: all of them, and of those the ones read from and written to the cache."""

    total: int
    cached: int = 0
    written: int = 0

    @classmethod
    def of(cls, usage: Usage) -> PromptTokens:
        """The prompt tokens Venice reported."""
        return cls(usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens)


def _tokens_usd(
    model: ModelInfo, prompt: int | PromptTokens, completion: int, web_search: bool, scraped_urls: int
) -> Decimal:
    """Tokens at the model's prices per million (the extended tier's for the whole request
    above its threshold), plus web search and scraped links, exactly."""
    prompt = prompt if isinstance(prompt, PromptTokens) else PromptTokens(prompt)
    tier = model.token_prices(prompt.total)
    usd = (_prompt_usd(tier, prompt) + completion * exact(tier.output or 0)) / MTOK
    return usd + (WEB_SEARCH_USD if web_search else 0) + WEB_SCRAPE_USD * scraped_urls


def _prompt_usd(tier: TokenPrices, prompt: PromptTokens) -> Decimal:
    """Prompt tokens times their prices per million: a model without a cache price charges
    its cached (or written) tokens as plain input."""
    plain = exact(tier.input or 0)
    read = plain if tier.cache_input is None else exact(tier.cache_input)
    write = plain if tier.cache_write is None else exact(tier.cache_write)
    uncached = max(0, prompt.total - prompt.cached - prompt.written)
    return uncached * plain + prompt.cached * read + prompt.written * write


def _cache_saving_usd(model: ModelInfo, prompt: PromptTokens) -> Decimal:
    """What the prompt's cached and written tokens would have cost as plain input, minus what
    they cost (negative when cache writes cost more than the reads saved)."""
    tier = model.token_prices(prompt.total)
    touched = PromptTokens(prompt.cached + prompt.written, prompt.cached, prompt.written)
    return (touched.total * exact(tier.input or 0) - _prompt_usd(tier, touched)) / MTOK


def _usd(entry: Any) -> float | None:
    """The ``usd`` of a ``{usd, diem}`` price, if it is one."""
    if isinstance(entry, dict) and isinstance(entry.get("usd"), (int, float)):
        return float(entry["usd"])
    return None


def _pricing(model: ModelInfo) -> dict[str, Any]:
    spec = model.raw.get("model_spec") if model.raw else None
    pricing = spec.get("pricing") if isinstance(spec, dict) else None
    return pricing if isinstance(pricing, dict) else {}


class MediaPrices:
    """Venice's media prices from ``/models`` (as the spec shapes them), in micro-USD.

    Each returns None when the model lists no such price, so the caller can refuse rather
    than give the action away.
    """

    def __init__(self, prices: Prices) -> None:
        self._prices = prices

    def image_generation(
        self, model: ModelInfo, *, variants: int = 1, resolution: str | None = None
    ) -> int | None:
        """``pricing.generation``, or ``pricing.resolutions[tier]`` where models price by size."""
        pricing = _pricing(model)
        each = _usd(pricing.get("generation"))
        tiers = pricing.get("resolutions")
        if isinstance(tiers, dict) and tiers:
            each = _usd(tiers.get(resolution)) if resolution else _usd(next(iter(tiers.values())))
        return None if each is None else self._prices._micro(exact(each) * max(1, variants), "image")

    def upscale(self, model: ModelInfo, scale: int) -> int | None:
        """``pricing.upscale["2x" | "4x"]``."""
        upscale = _pricing(model).get("upscale")
        each = _usd(upscale.get(f"{scale}x")) if isinstance(upscale, dict) else None
        return None if each is None else self._prices._micro(each, "upscale")

    def edit(self, model: ModelInfo) -> int | None:
        """``pricing.inpaint`` per edit."""
        each = _usd(_pricing(model).get("inpaint"))
        return None if each is None else self._prices._micro(each, "edit")

    def speech(self, model: ModelInfo, characters: int) -> int | None:
        """``pricing.input`` per 1M characters (or ``per_thousand_characters``)."""
        pricing = _pricing(model)
        per_million = _usd(pricing.get("input"))
        per_thousand = _usd(pricing.get("per_thousand_characters"))
        if per_million is not None:
            usd = exact(per_million) * characters / 1_000_000
        elif per_thousand is not None:
            usd = exact(per_thousand) * characters / 1000
        else:
            return None
        return self._prices._micro(usd, "speech")

    def flat(self, usd: float, feature: str) -> int:
        """A configured price per request, for what ``/models`` lists no price (a cut-out)."""
        return self._prices._micro(usd, feature)

    def document(self) -> int:
        """A document read by ``/augment/text-parser``: Venice's flat price per request (its
        documentation; ``/models`` lists no price for it)."""
        return self._prices._micro(DOCUMENT_USD, "document")

    def transcription(self, model: ModelInfo, seconds: float) -> int | None:
        """``pricing.per_audio_second``."""
        each = _usd(_pricing(model).get("per_audio_second"))
        return (
            None
            if each is None
            else self._prices._micro(exact(each) * exact(max(0.0, seconds)), "transcription")
        )
