"""Prices computed from a /models answer shaped like Venice's spec (the fake's is validated)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.billing.pricing import MediaPrices, Prices
from core.errors import InvalidInput
from core.money import parse_usd
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


def priced(pricing: dict[str, Any], **fields: Any) -> ModelInfo:
    return ModelInfo(
        id="x", type="text", name="x", context_length=0, raw={"model_spec": {"pricing": pricing}}, **fields
    )


def test_money_is_rounded_with_exact_decimals_not_floats() -> None:
    """Each case is one that ``ceil(float * 1_000_000)`` gets wrong by a micro-USD (in brackets)."""
    cost = {"estimated_prompt": 0, "completion_estimate": 0, "web_search": False, "scraped_urls": 0}
    model = priced({}, input_usd_per_mtok=0.2, output_usd_per_mtok=0.9)
    assert Prices(markup=1.1).chat_cost(model, None, cost_usd=0.1, **cost) == 110_000  # (110_001)
    assert Prices(feature_markups={"chat": 1.3}).chat_cost(model, None, cost_usd=0.07, **cost) == 91_000
    # 123 × $0.2 + 456 × $0.9 per million tokens = $0.000435 exactly (436)
    assert Prices().chat_cost(model, Usage(123, 456, 579), cost_usd=None, **cost) == 435
    cheap = priced({}, input_usd_per_mtok=0.15, output_usd_per_mtok=1.2)
    assert Prices().chat_cost(cheap, Usage(1000, 300, 1300), cost_usd=None, **cost) == 510  # (511)
    # $0.0000025 a token × 400 tokens = $0.001; a web search adds $0.01
    per_token = priced({}, input_usd_per_mtok=2.5, output_usd_per_mtok=2.5)
    assert Prices().chat_estimate(per_token, 400, 0, web_search=False, scraped_urls=0) == 1_000
    assert Prices().chat_estimate(per_token, 400, 0, web_search=True, scraped_urls=0) == 11_000
    media = MediaPrices(Prices())
    # 0.1 × 3 is 0.30000000000000004 in floats (300_001)
    assert media.transcription(priced({"per_audio_second": {"usd": 0.1}}), 3) == 300_000
    assert media.image_generation(priced({"generation": {"usd": 0.07}}), variants=3) == 210_000
    assert media.speech(priced({"per_thousand_characters": {"usd": 0.015}}), 1000) == 15_000
    assert MediaPrices(Prices(markup=1.15)).upscale(priced({"upscale": {"2x": {"usd": 1.0}}}), 2) == 1_150_000
    # A part of a micro-USD is still charged: never round a price down to free.
    assert media.transcription(priced({"per_audio_second": {"usd": 0.0000001}}), 1) == 1


def test_typed_amounts_are_exact() -> None:
    assert (
        parse_usd("0.29") == 290_000 and parse_usd("$1.15") == 1_150_000 and parse_usd("-4.35") == -4_350_000
    )
    assert parse_usd("0,1") == 100_000
    assert parse_usd("0.0000025") == 3  # half a micro-USD rounds up, as people round
    for bad in ("nan", "inf", "five", ""):
        with pytest.raises(InvalidInput, match="not an amount in USD"):
            parse_usd(bad)
    with pytest.raises(InvalidInput, match="10,000"):
        parse_usd("10000.01")
