"""Paid chat through the ledger: reserve, charge the real price, refund failures, commands."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.billing.accounts import NoSuchUser
from core.errors import InvalidInput, PermissionDenied
from core.money import InsufficientCredit
from core.venice.errors import InsufficientBalance, ServerError
from tests.conftest import FakeClock
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask, message, stored_messages

TG = {"platform": "telegram", "user_id": "7"}
ADMIN = {"platform": "telegram", "user_id": "42"}


async def balance_of(service: Any, **who: str) -> int:
    await service.wait_idle()  # answers are settled just after they are delivered
    return await service.store.ledger.balance(await service.account_of(message("", **who)))


async def test_an_answer_is_charged_at_venices_price(make_service: Any, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="An answer", cost_usd=0.0123))
    async with make_service(user_allowance_usd=1.0) as service:
        await ask(service, "Hello", **TG)
        assert await balance_of(service, **TG) == 1_000_000 - 12_300
        assert await service.store.ledger.check() == []
        text = (await ask(service, "/balance", **TG)).text
    assert "Balance: $0.9877" in text and "Allowance: $1.00 daily" in text and "chat $0.0123" in text


async def test_usage_shows_each_action_once_with_its_final_cost_newest_first(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="An answer", cost_usd=0.0123))
    async with make_service(user_allowance_usd=1.0, admin_user_ids="telegram:42") as service:
        await ask(service, "Hello", **TG)
        await service.wait_idle()
        venice.fail("/chat/completions", 500)
        with pytest.raises(ServerError):
            await ask(service, "Again", **TG)
        await ask(service, "/grant telegram:7 5", **ADMIN)
        owner = await service.account_of(message("", **TG))
        await service.store.ledger.reserve(owner, 500_000, feature="video")  # a video still being made
        usage = (await ask(service, "/usage", **TG)).text
    header, *lines = usage.splitlines()
    assert header == "Your latest activity (newest first):"
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC  ")
    assert all(stamp.match(line) for line in lines), usage
    what = [stamp.sub("", line) for line in lines]
    assert what[:2] == ["video: -$0.50 held until it is done", "credit added: +$5.00"]
    assert re.fullmatch(r"answer: failed, \$0\.\d+ refunded", what[2])
    assert what[3:] == ["answer: -$0.0123 (22 prompt tokens)", "daily allowance: +$1.00"]
    assert "reserve" not in usage and "settle" not in usage


async def test_a_user_without_enough_credit_is_told_and_venice_is_not_called(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(user_allowance_usd=0.0001) as service:
        with pytest.raises(InsufficientCredit) as info:
            await ask(service, "Hello", **TG)
        assert "you have $0.0001" in info.value.user_message
        assert "refills at" in info.value.user_message
        assert await stored_messages(service) == []
    assert venice.calls_to("/chat/completions") == []


@pytest.mark.parametrize(
    ("status", "error"), [(402, InsufficientBalance), (500, ServerError), (429, Exception)]
)
async def test_a_failed_call_is_refunded_in_full(
    make_service: Any, venice: FakeVenice, status: int, error: type
) -> None:
    venice.fail("/chat/completions", status, headers={"retry-after": "120"} if status == 429 else None)
    async with make_service(user_allowance_usd=1.0) as service:
        with pytest.raises(error) as info:
            await ask(service, "Hello", **TG)
        assert info.value.user_message.endswith("You were not charged.")
        assert await balance_of(service, **TG) == 1_000_000
        owner = await service.account_of(message("", **TG))
        kinds = [e.kind for e in await service.store.ledger.entries(owner)]
        assert kinds[:2] == ["refund", "reserve"]


async def test_admins_are_unlimited_and_grant_credit(make_service: Any, venice: FakeVenice) -> None:
    async with make_service(user_allowance_usd=0.0, admin_user_ids="telegram:42") as service:
        await ask(service, "Hello", **ADMIN)  # an admin needs no balance
        assert "not limited" in (await ask(service, "/balance", **ADMIN)).text
        with pytest.raises(InsufficientCredit):
            await ask(service, "Hello", **TG)
        with pytest.raises(PermissionDenied):
            await ask(service, "/grant telegram:7 5", **TG)
        assert "Granted $5.00 to telegram:7" in (await ask(service, "/grant telegram:7 5", **ADMIN)).text
        assert "Took $1.00 from telegram:7" in (await ask(service, "/grant 7 -1", **ADMIN)).text
        with pytest.raises(InvalidInput, match="not an amount"):
            await ask(service, "/grant telegram:7 lots", **ADMIN)
        await ask(service, "Now I can", **TG)
        assert 3_990_000 < await balance_of(service, **TG) < 4_000_000
        usage = (await ask(service, "/usage", **TG)).text
        assert "credit added: +$5.00" in usage and "credit taken away: -$1.00" in usage
        assert "answer: -$0.0" in usage
        with pytest.raises(PermissionDenied):
            await ask(service, "/ledger telegram:7", **TG)
        entries = (await ask(service, "/ledger telegram:7", **ADMIN)).text
        assert entries.startswith("telegram:7, balance $4.00") and "adjustment     -$1.00" in entries
        assert re.search(r"\n\d{4}-\d{2}-\d{2} \d{2}:\d{2} settle ", entries)  # the raw view, for audits
        assert await service.store.ledger.check() == []


async def test_one_user_cannot_use_up_the_key(make_service: Any, venice: FakeVenice) -> None:
    from core.billing.guards import TooFast

    async with make_service(rate_limit_per_minute=3) as service:
        for i in range(3):
            await ask(service, f"message {i}", **TG)
        with pytest.raises(TooFast) as info:
            await ask(service, "one too many", **TG)
        assert "too fast" in info.value.user_message and " s." in info.value.user_message
        await ask(service, "someone else", platform="telegram", user_id="8")  # others are served
    assert len(venice.calls_to("/chat/completions")) == 4


async def test_an_empty_venice_account_refuses_paid_actions_and_logs_once(
    make_service: Any, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    from core.billing.guards import AccountEmpty

    venice.balance["canConsume"] = False
    async with make_service() as service:
        for _ in range(3):
            with pytest.raises(AccountEmpty) as info:
                await ask(service, "Hello", **TG)
        assert "out of credit" in info.value.user_message
        assert await balance_of(service, **TG) == 1_000_000  # nothing reserved
    assert venice.calls_to("/chat/completions") == []
    assert len([r for r in caplog.records if "cannot pay" in r.getMessage()]) == 1


async def test_a_402_marks_the_account_empty_and_refunds(make_service: Any, venice: FakeVenice) -> None:
    from core.billing.guards import AccountEmpty

    venice.fail("/chat/completions", 402)
    async with make_service() as service:
        with pytest.raises(InsufficientBalance):
            await ask(service, "Hello", **TG)
        with pytest.raises(AccountEmpty):  # no second failing call to Venice right after
            await ask(service, "Again", **TG)
        assert await balance_of(service, **TG) == 1_000_000
    assert len(venice.calls_to("/chat/completions")) == 1


async def test_link_joins_two_platforms_into_one_balance(make_service: Any, venice: FakeVenice) -> None:
    discord = {"platform": "discord", "user_id": "555"}
    async with make_service(user_allowance_usd=0.0, admin_user_ids="telegram:42") as service:
        for who in (TG, discord):  # admins name only users the bot has seen
            with pytest.raises(NoSuchUser, match=f"No such user: {who['platform']}:{who['user_id']}"):
                await ask(service, f"/grant {who['platform']}:{who['user_id']} 1", **ADMIN)
            assert "Your id: " in (await ask(service, "/whoami", **who)).text
        await ask(service, "/grant telegram:7 3", **ADMIN)
        await ask(service, "/grant discord:555 1", **ADMIN)
        code = (await ask(service, "/link", **TG)).text.split("code: ")[1].split()[0]
        with pytest.raises(InvalidInput, match="same account"):
            await ask(service, f"/link {code}", **TG)
        code = (await ask(service, "/link", **TG)).text.split("code: ")[1].split()[0]
        reply = (await ask(service, f"/link {code.lower()}", **discord)).text
        assert "same balance as on telegram" in reply and "$1.00 of credit moved" in reply
        assert "Linked: discord:555 (one balance" in (await ask(service, "/whoami", **TG)).text
        granted = (await ask(service, "/grant discord:555 1", **ADMIN)).text
        assert "Their balance: $5.00 (one balance with telegram:7)" in granted  # the shared balance
        assert await balance_of(service, **TG) == await balance_of(service, **discord) == 5_000_000
        await ask(service, "spend on discord", **discord)
        assert await balance_of(service, **TG) < 5_000_000  # one balance
        with pytest.raises(InvalidInput, match="unknown or has expired"):
            await ask(service, f"/link {code}", **discord)  # a code works once
        assert await service.store.ledger.check() == []


def link_code(reply: str) -> str:
    return reply.split("code: ")[1].split()[0]


async def test_link_codes_carry_40_bits_from_an_unambiguous_alphabet(make_service: Any) -> None:
    async with make_service() as service:
        codes = {link_code((await ask(service, "/link", **TG)).text) for _ in range(20)}
    assert len(codes) == 20
    for code in codes:  # 8 characters of 32 (no 0/O, 1/I): 32**8 == 2**40
        assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", code), code


async def test_six_wrong_link_codes_lock_the_sender_out_for_ten_minutes(
    make_service: Any, clock: FakeClock
) -> None:
    discord = {"platform": "discord", "user_id": "555"}
    async with make_service(user_allowance_usd=1.0) as service:
        code = link_code((await ask(service, "/link", **TG)).text)
        for _ in range(5):
            with pytest.raises(InvalidInput, match="unknown or has expired"):
                await ask(service, "/link ABCD-EFGH", **discord)
        with pytest.raises(InvalidInput, match="locked for you for 10 minutes"):
            await ask(service, "/link ABCD-EFGH", **discord)
        clock.now += 300
        with pytest.raises(InvalidInput, match="locked for you for 5 minutes"):  # even the right code
            await ask(service, f"/link {code}", **discord)
        with pytest.raises(InvalidInput, match="locked"):  # nor a new code
            await ask(service, "/link", **discord)
        code = link_code((await ask(service, "/link", **TG)).text)  # others are not locked
        clock.now += 301
        reply = (await ask(service, f"/link {code}", **discord)).text
        assert "same balance as on telegram" in reply
        assert await balance_of(service, **TG) == await balance_of(service, **discord)


async def test_wrong_link_codes_spread_over_more_than_ten_minutes_do_not_lock(
    make_service: Any, clock: FakeClock
) -> None:
    discord = {"platform": "discord", "user_id": "555"}
    async with make_service() as service:
        for _ in range(10):  # a typo now and then
            with pytest.raises(InvalidInput, match="unknown or has expired"):
                await ask(service, "/link ABCD-EFGH", **discord)
            clock.now += 150
        code = link_code((await ask(service, "/link", **TG)).text)
        assert "Linked:" in (await ask(service, f"/link {code.replace('-', '').lower()}", **discord)).text


async def test_link_refuses_two_accounts_of_the_same_platform(make_service: Any) -> None:
    other = {"platform": "telegram", "user_id": "8"}
    discord = {"platform": "discord", "user_id": "555"}
    async with make_service() as service:
        code = link_code((await ask(service, "/link", **TG)).text)
        with pytest.raises(InvalidInput, match="two different platforms"):
            await ask(service, f"/link {code}", **other)
        assert "Your id: telegram:8" in (await ask(service, "/whoami", **other)).text
        assert "Linked:" not in (await ask(service, "/whoami", **TG)).text
        # The code is still good where it belongs.
        assert "same balance as on telegram" in (await ask(service, f"/link {code}", **discord)).text


async def test_setallowance_and_a_chat_pool(make_service: Any, venice: FakeVenice) -> None:
    group = {"is_direct": False, "chat_id": "-100123"}
    async with make_service(user_allowance_usd=0.0, admin_user_ids="telegram:42") as service:
        with pytest.raises(InsufficientCredit) as info:
            await ask(service, "Hello", **TG)
        assert "refills" not in info.value.user_message  # no allowance: no refill to promise
        with pytest.raises(PermissionDenied):
            await ask(service, "/setallowance telegram:7 2", **TG)
        assert "now gets $2.00 per period" in (await ask(service, "/setallowance telegram:7 2", **ADMIN)).text
        ledger = service.store.ledger
        owner = await service.account_of(message("", **TG))
        assert await ledger.allowance_of(owner) == 2_000_000
        # The pool: a member cannot switch it on; an admin can, and funds it.
        with pytest.raises(PermissionDenied):
            await ask(service, "/pool on", is_chat_admin=True, **TG, **group)
        await ask(service, "/pool on", **ADMIN, **group)
        await ask(service, "/grant chat:telegram:-100123 1", **ADMIN)
        await ask(service, "Hi all", platform="telegram", user_id="9", **group)
        await service.wait_idle()
        assert await ledger.balance("chat:telegram:-100123") < 1_000_000  # the pool paid
        assert "The shared balance is on" in (await ask(service, "/pool", **TG, **group)).text


async def test_requests_are_paced_to_the_keys_own_limits(venice: FakeVenice, clock: Any, retry: Any) -> None:
    import httpx
    from pydantic import SecretStr

    from core.billing.guards import AtVeniceLimit, KeyRateLimiter
    from core.venice.client import VeniceClient
    from tests.conftest import TEST_KEY

    async with httpx.AsyncClient() as http:
        client = VeniceClient(http, api_key=SecretStr(TEST_KEY), base_url=venice.base_url, retry=retry)
        body = await client.api_key_rate_limits()
        for entry in body["data"]["rateLimits"]:
            if entry["apiModelId"] == "venice-uncensored":
                entry["rateLimits"] = [{"amount": 2, "type": "RPM"}]
        venice.rate_limits = body
        limiter = KeyRateLimiter(client, max_wait=10, clock=clock.monotonic, sleep=clock.sleep)
        await limiter.acquire("venice-uncensored")
        clock.now += 55
        await limiter.acquire("venice-uncensored")
        await limiter.acquire("venice-uncensored")  # waits ~5 s for the first to leave the minute
        assert clock.sleeps and 4.9 <= clock.sleeps[-1] <= 5.1
        with pytest.raises(AtVeniceLimit) as info:
            await limiter.acquire("venice-uncensored")  # the next room is ~55 s away: refused
        assert "Try again in" in info.value.user_message
        await limiter.acquire("llama-3.3-70b")  # other models have their own limits


async def test_without_cost_in_the_answer_the_price_comes_from_models(
    make_service: Any, venice: FakeVenice
) -> None:
    model = next(m for m in venice.models if m["id"] == "venice-uncensored")
    prices = model["model_spec"]["pricing"]
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    venice.script.append(ChatScript(content="Priced by tokens", usage=usage, send_cost=False))
    async with make_service(user_allowance_usd=1.0, price_markup=2.0) as service:
        await ask(service, "Hello", **TG)
        charged = 1_000_000 - await balance_of(service, **TG)
    expected = (1000 * prices["input"]["usd"] + 500 * prices["output"]["usd"]) * 2.0  # markup
    assert charged == pytest.approx(expected, abs=1)  # micro-USD per 1M tokens = USD per token


async def test_feature_markups_override_the_markup_per_feature(make_service: Any, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="priced", cost_usd=0.01))
    async with make_service(
        user_allowance_usd=1.0, price_markup=3.0, feature_markups="chat=1.5,summary=0"
    ) as service:
        assert service.prices.feature_markups == {"chat": 1.5, "summary": 0.0}
        await ask(service, "Hello", **TG)
        assert 1_000_000 - await balance_of(service, **TG) == 15_000  # 0.01 x 1.5, not x 3


def test_bad_feature_markups_name_the_setting() -> None:
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(ValidationError, match="feature=multiplier"):
        Settings(_env_file=None, venice_api_key="k", feature_markups="summary:free")  # type: ignore[call-arg]
