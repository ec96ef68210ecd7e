"""Prices computed from a /models answer shaped like Venice's spec (the fake's is validated)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.billing.pricing import MediaPrices, Prices
from core.venice.client import VeniceClient
from core.venice.types import ModelInfo, Usage
from tests.conftest import TEST_KEY
from tests.fakes.venice import FakeVenice


async def models(venice: FakeVenice, retry: Any, kind: str) -> dict[str, ModelInfo]:
    async with httpx.AsyncClient() as http:
        client = VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)
        return {m.id: m for m in await client.models(kind)}


async def test_text_prices(venice: FakeVenice, retry: Any) -> None:
    model = (await models(venice, retry, "text"))["venice-uncensored"]
    raw = model.raw["model_spec"]["pricing"]
    prices = Prices(markup=1.0)
    expected = 1000 * raw["input"]["usd"] + 2000 * raw["output"]["usd"]  # micro-USD
    assert prices.chat_estimate(model, 1000, 2000, web_search=False, scraped_urls=0) == pytest.approx(
        expected, abs=1
    )
    with_search = prices.chat_estimate(model, 1000, 2000, web_search=True, scraped_urls=2)
    assert with_search - prices.chat_estimate(
        model, 1000, 2000, web_search=False, scraped_urls=0
    ) == pytest.approx(30_000, abs=1)
    cost = prices.chat_cost(
        model,
        Usage(100, 50, 150),
        cost_usd=None,
        estimated_prompt=0,
        completion_estimate=0,
        web_search=False,
        scraped_urls=0,
    )
    assert cost == pytest.approx(100 * raw["input"]["usd"] + 50 * raw["output"]["usd"], abs=1)
    assert (
        prices.chat_cost(
            model,
            None,
            cost_usd=0.25,
            estimated_prompt=0,
            completion_estimate=0,
            web_search=False,
            scraped_urls=0,
        )
        == 250_000
    )


async def test_media_prices(venice: FakeVenice, retry: Any) -> None:
    media = MediaPrices(Prices(markup=1.0, feature_markups={"speech": 2.0}))
    image = (await models(venice, retry, "image"))["venice-sd35"]
    assert media.image_generation(image, variants=2) == 20_000  # $0.01 each
    assert media.upscale(image, 4) == 80_000 and media.upscale(image, 2) == 20_000
    assert media.edit(image) is None  # not an edit model: no price, no free edits
    tts = (await models(venice, retry, "tts"))["tts-kokoro"]
    assert media.speech(tts, 1000) == 7_000  # $3.50 per 1M characters, speech markup 2
    asr = (await models(venice, retry, "asr"))["nvidia/parakeet-tdt-0.6b-v3"]
    assert media.transcription(asr, 60) == 6_000  # $0.0001 per second


def test_resolution_priced_images_and_edits() -> None:
    model = ModelInfo(
        id="x",
        type="image",
        name="x",
        context_length=0,
        raw={
            "model_spec": {
                "pricing": {
                    "resolutions": {"1K": {"usd": 0.05, "diem": 0.05}, "4K": {"usd": 0.2, "diem": 0.2}},
                    "inpaint": {"usd": 0.04, "diem": 0.04},
                }
            }
        },
    )
    media = MediaPrices(Prices())
    assert media.image_generation(model, resolution="4K") == 200_000
    assert media.image_generation(model) == 50_000  # the first tier when none is asked for
    assert media.edit(model) == 40_000
