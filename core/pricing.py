"""What a paid action costs, in micro-USD, from Venice's own prices."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.ledger import MICRO
from core.venice.types import ModelInfo, Usage

WEB_SEARCH_USD = 0.01  # Venice: $10 per 1,000 web searches
WEB_SCRAPE_USD = 0.01  # Venice: $10 per 1,000 scraped URLs


@dataclass(frozen=True)
class Prices:
    """Venice's prices times the operator's markup (1.0: at cost), per feature if set."""

    markup: float = 1.0
    feature_markups: Mapping[str, float] = field(default_factory=dict)

    def _micro(self, usd: float, feature: str) -> int:
        return math.ceil(usd * self.feature_markups.get(feature, self.markup) * MICRO)

    def chat_estimate(
        self, model: ModelInfo, prompt_tokens: int, max_completion_tokens: int,
        *, web_search: bool, scraped_urls: int, feature: str = "chat",
    ) -> int:
        """An upper bound for a chat answer: every reply token used, search and links paid."""
        usd = (
            prompt_tokens * (model.input_usd_per_mtok or 0.0)
            + max_completion_tokens * (model.output_usd_per_mtok or 0.0)
        ) / 1_000_000
        usd += WEB_SEARCH_USD if web_search else 0.0
        usd += WEB_SCRAPE_USD * scraped_urls
        return self._micro(usd, feature)

    def chat_cost(
        self, model: ModelInfo, usage: Usage | None, *, cost_usd: float | None,
        estimated_prompt: int, completion_estimate: int, web_search: bool, scraped_urls: int,
        feature: str = "chat",
    ) -> int:
        """The real cost: Venice's own ``cost.usd`` when it sends one, else tokens × prices."""
        if cost_usd is not None:
            return self._micro(cost_usd, feature)
        prompt = usage.prompt_tokens if usage and usage.prompt_tokens else estimated_prompt
        completion = usage.completion_tokens if usage and usage.completion_tokens else completion_estimate
        usd = (
            prompt * (model.input_usd_per_mtok or 0.0) + completion * (model.output_usd_per_mtok or 0.0)
        ) / 1_000_000
        usd += WEB_SEARCH_USD if web_search else 0.0
        usd += WEB_SCRAPE_USD * scraped_urls
        return self._micro(usd, feature)
