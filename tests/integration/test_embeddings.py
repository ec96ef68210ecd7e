"""Embeddings for long-term recall: the client against the fake Venice over real HTTP, their
price, and which model the catalogue picks."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import SecretStr

from core.billing.pricing import Prices
from core.catalogue import Catalogue
from core.errors import ConfigurationError, InvalidInput
from core.money import micro_usd
from core.settings import Settings
from core.venice import errors as e
from core.venice.client import EMBEDDING_BATCH, VeniceClient
from core.venice.retry import RetryPolicy
from tests.conftest import TEST_KEY
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_catalogue import EMBEDDING_MODEL_ID, embedding_model
from tests.fakes.venice_memory import embedding_tokens, embedding_vector


@pytest.fixture
async def client(venice: FakeVenice, retry: RetryPolicy) -> AsyncIterator[VeniceClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)


def another_embedding_model(model_id: str, usd_per_mtok: float, privacy: str) -> dict[str, object]:
    model = copy.deepcopy(embedding_model())
    model["id"] = model_id
    spec = model["model_spec"]
    spec["privacy"] = privacy
    spec["pricing"]["input"] = {"usd": usd_per_mtok, "diem": usd_per_mtok}
    return model


async def test_each_text_gets_its_own_vector_in_the_order_given(
    client: VeniceClient, venice: FakeVenice
) -> None:
    texts = ["my cat is called Miso", "I live in Lisbon", "the boat is blue"]
    result = await client.embed(texts, model=EMBEDDING_MODEL_ID)
    assert len(result.vectors) == 3
    for text, got in zip(texts, result.vectors, strict=True):
        assert got == pytest.approx(embedding_vector(text))
    assert result.prompt_tokens == sum(embedding_tokens(t) for t in texts)
    (call,) = venice.calls_to("/embeddings")
    assert call.body == {"model": EMBEDDING_MODEL_ID, "input": texts, "encoding_format": "float"}


async def test_many_texts_are_sent_in_batches_and_come_back_in_order(
    client: VeniceClient, venice: FakeVenice
) -> None:
    texts = [f"fact number {i} is {i * 7}" for i in range(2 * EMBEDDING_BATCH + 10)]
    result = await client.embed(texts, model=EMBEDDING_MODEL_ID)
    calls = venice.calls_to("/embeddings")
    assert [len(c.body["input"]) for c in calls] == [EMBEDDING_BATCH, EMBEDDING_BATCH, 10]
    assert [t for c in calls for t in c.body["input"]] == texts
    for text, got in zip(texts, result.vectors, strict=True):
        assert got == pytest.approx(embedding_vector(text))
    assert result.prompt_tokens == sum(embedding_tokens(t) for t in texts)  # every batch's usage


async def test_nothing_to_embed_asks_nothing_and_an_empty_text_is_refused_before_sending(
    client: VeniceClient, venice: FakeVenice
) -> None:
    assert (await client.embed([], model=EMBEDDING_MODEL_ID)).vectors == ()
    with pytest.raises(ValueError, match="empty text"):
        await client.embed(["fine", ""], model=EMBEDDING_MODEL_ID)
    assert venice.calls_to("/embeddings") == []


async def test_the_price_is_what_venice_charges(client: VeniceClient, venice: FakeVenice) -> None:
    before = venice.balance["balances"]["usd"]
    texts = ["a long enough sentence to be billed some tokens " * 40] * 30
    result = await client.embed(texts, model=EMBEDDING_MODEL_ID)
    charged = before - venice.balance["balances"]["usd"]
    model = await client.model(EMBEDDING_MODEL_ID, "embedding")
    assert model is not None
    cost = Prices().embedding_cost(model, result.prompt_tokens)
    assert cost > 0 and cost == micro_usd(round(charged, 8))
    assert Prices(feature_markups={"memory": 2.0}).embedding_cost(model, result.prompt_tokens) == 2 * cost


@pytest.mark.parametrize(
    ("status", "error"), [(402, e.InsufficientBalance), (500, e.ServerError), (400, e.BadRequest)]
)
async def test_a_venice_error_is_the_clients_usual_error(
    client: VeniceClient, venice: FakeVenice, status: int, error: type[e.VeniceError]
) -> None:
    venice.fail("/embeddings", status, times=5)
    with pytest.raises(error) as info:
        await client.embed(["hello"], model=EMBEDDING_MODEL_ID)
    assert info.value.user_message


async def test_an_unknown_embedding_model_is_venices_error(client: VeniceClient) -> None:
    with pytest.raises((e.NotFound, e.BadRequest)):
        await client.embed(["hello"], model="no-such-embedder")


async def test_the_default_embedding_model_is_the_cheapest_private_one(
    make_settings: Callable[..., Settings], client: VeniceClient, venice: FakeVenice
) -> None:
    venice.models.append(another_embedding_model("cheap-but-anonymized", 0.01, "anonymized"))
    venice.models.append(another_embedding_model("private-and-pricier", 0.30, "private"))
    venice.models.append(another_embedding_model("private-and-cheapest", 0.05, "private"))
    chosen = await Catalogue(make_settings(), client).embedding_model()
    assert chosen.id == "private-and-cheapest"


async def test_the_embedding_model_setting_wins_and_a_wrong_one_is_named(
    make_settings: Callable[..., Settings], client: VeniceClient, venice: FakeVenice
) -> None:
    venice.models.append(another_embedding_model("private-and-pricier", 0.30, "private"))
    chosen = await Catalogue(make_settings(embedding_model="private-and-pricier"), client).embedding_model()
    assert chosen.id == "private-and-pricier"
    with pytest.raises(ConfigurationError) as info:
        await Catalogue(make_settings(embedding_model="text-embedding-typo"), client).embedding_model()
    assert "EMBEDDING_MODEL" in info.value.user_message and "text-embedding-typo" in info.value.user_message
    assert EMBEDDING_MODEL_ID in info.value.user_message  # what it could be instead


async def test_no_embedding_model_listed_is_a_clear_refusal(
    make_settings: Callable[..., Settings], client: VeniceClient, venice: FakeVenice
) -> None:
    venice.models = [m for m in venice.models if m["type"] != "embedding"]
    with pytest.raises(InvalidInput, match="no embedding model"):
        await Catalogue(make_settings(), client).embedding_model()
