"""The operator's web console over real HTTP: the login and its lockout, the session cookie,
CSRF, the pages, the grant form (seen by `venice-bots admin`), and what pages never show."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bots.admin import admin
from bots.cli import build_parser
from core.money import usd
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.conftest import TEST_KEY
from tests.fakes.venice import FakeVenice
from tests.helpers import ask
from tests.web_support import PASSWORD, Console, serve_console

ALICE = {"platform": "telegram", "user_id": "1001", "user_name": "Alice", "chat_id": "1001"}
SECRET_TEXT = "my grandmother's pierogi recipe is 7 eggs"


@pytest.fixture
def web_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(web_admin_password=PASSWORD, **overrides)

    return make


@pytest.fixture
async def console(web_settings: Callable[..., Settings], retry: RetryPolicy) -> AsyncIterator[Console]:
    async with serve_console(web_settings(), retry) as served:
        yield served


async def balance_by_cli(settings: Settings, name: str) -> str:
    out = io.StringIO()
    assert await admin(settings, build_parser().parse_args(["admin", "balance", name]), out) == 0
    return out.getvalue()


@pytest.mark.parametrize("path", ["/", "/users", "/users/telegram:1001", "/users?q=a&page=2"])
async def test_every_page_sends_a_visitor_without_a_session_to_the_login(console: Console, path: str) -> None:
    response = await console.http.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    login = await console.http.get(response.headers["location"])
    assert login.status_code == 200
    assert 'name="password"' in login.text


async def test_health_readiness_and_metrics_need_no_login(console: Console) -> None:
    assert (await console.http.get("/healthz")).status_code == 200
    assert (await console.http.get("/readyz")).status_code == 200
    assert (await console.http.get("/metrics")).status_code == 200


async def test_a_wrong_password_is_refused_and_opens_nothing(console: Console) -> None:
    response = await console.http.post("/login", data={"password": "not the password at all"})
    assert response.status_code == 401
    assert "Wrong password" in response.text
    assert "set-cookie" not in response.headers
    assert (await console.http.get("/users")).status_code == 303


async def test_the_session_cookie_is_httponly_and_strict_and_secure_behind_https(
    web_settings: Callable[..., Settings], retry: RetryPolicy
) -> None:
    async with serve_console(web_settings(web_trust_proxy=True), retry) as console:
        plain = await console.http.post("/login", data={"password": PASSWORD})
        cookie = plain.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie.replace("; httponly", "")  # served over plain HTTP here
        behind_tls = await console.http.post(
            "/login", data={"password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
        )
        assert "secure" in behind_tls.headers["set-cookie"].lower().split("; ")


async def test_ten_wrong_passwords_lock_the_client_out_even_for_the_right_one(
    web_settings: Callable[..., Settings], retry: RetryPolicy
) -> None:
    async with serve_console(web_settings(web_trust_proxy=True), retry) as console:
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        for _ in range(10):
            wrong = await console.http.post("/login", data={"password": "guess"}, headers=attacker)
            assert wrong.status_code == 401
        locked = await console.http.post("/login", data={"password": PASSWORD}, headers=attacker)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 60
        assert "Too many wrong passwords" in locked.text
        assert "set-cookie" not in locked.headers
        # Another client is not locked out by the first one's guesses.
        other = await console.http.post(
            "/login", data={"password": PASSWORD}, headers={"X-Forwarded-For": "198.51.100.7"}
        )
        assert other.status_code == 303


async def test_pages_send_a_content_security_policy_and_no_inline_script(console: Console) -> None:
    await console.log_in()
    for path in ("/", "/users", "/login"):
        response = await console.http.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "<script" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_grant_without_the_csrf_token_is_refused_and_writes_nothing(console: Console) -> None:
    await ask(console.service, "hello", **ALICE)
    csrf = await console.log_in()
    before = await console.service.store.ledger.entries("user:1")
    for token in ({}, {"csrf": "forged"}, {"csrf": csrf[:-1]}):
        refused = await console.http.post("/users/telegram:1001/grant", data={"amount": "5", **token})
        assert refused.status_code == 403
        assert "Nothing was changed" in refused.text
    assert await console.service.store.ledger.entries("user:1") == before


async def test_a_grant_through_the_form_shows_in_the_ledger_page_and_in_the_cli(
    console: Console, web_settings: Callable[..., Settings]
) -> None:
    await ask(console.service, "hello", **ALICE)
    csrf = await console.log_in()
    page = await console.http.get("/users/telegram:1001")
    assert page.status_code == 200
    assert 'class="grant"' in page.text
    granted = await console.http.post(
        "/users/telegram:1001/grant", data={"amount": "2.50", "note": "thanks for testing", "csrf": csrf}
    )
    assert granted.status_code == 303
    shown = await console.http.get(granted.headers["location"])
    balance = await console.service.store.ledger.balance("user:1")
    assert f"Granted $2.50. The balance is {usd(balance)} now." in shown.text
    assert "thanks for testing" in shown.text
    assert "grant" in shown.text
    assert usd(balance) in await balance_by_cli(web_settings(), "telegram:1001")
    # The notice is shown once; a reload grants nothing more.
    again = await console.http.get("/users/telegram:1001")
    assert "Granted $2.50" not in again.text
    assert await console.service.store.ledger.balance("user:1") == balance


async def test_a_bad_amount_is_explained_and_grants_nothing(console: Console) -> None:
    await ask(console.service, "hello", **ALICE)
    csrf = await console.log_in()
    before = await console.service.store.ledger.balance("user:1")
    for amount in ("lots", "0", "99999"):
        response = await console.http.post(
            "/users/telegram:1001/grant", data={"amount": amount, "csrf": csrf}
        )
        assert response.status_code == 400
        assert 'role="alert"' in response.text
    assert await console.service.store.ledger.balance("user:1") == before


async def test_an_unknown_user_page_says_so(console: Console) -> None:
    await console.log_in()
    for name in ("telegram:424242", "nonsense"):
        response = await console.http.get(f"/users/{name}")
        assert response.status_code == 404


async def test_logout_needs_the_token_and_ends_the_session_on_the_server(console: Console) -> None:
    csrf = await console.log_in()
    cookie = console.http.cookies.get("venice_console")
    assert cookie
    refused = await console.http.post("/logout", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert (await console.http.get("/")).status_code == 200
    done = await console.http.post("/logout", data={"csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    # The old cookie, sent again by hand, opens nothing: the session ended on the server.
    console.http.cookies.set("venice_console", cookie)
    assert (await console.http.get("/")).status_code == 303


async def test_the_users_page_searches_and_pages_through_every_user(console: Console) -> None:
    conversations = console.service.store.conversations
    for n in range(60):
        await conversations.user_id("telegram", str(5000 + n), f"User {n:02d}")
    await conversations.user_id("discord", "80351110224678912", "Zed the Searched")
    await console.log_in()
    first = await console.http.get("/users")
    assert "Page 1 of 2" in first.text
    assert first.text.count('href="/users/') == 50
    second = await console.http.get("/users?page=2")
    assert second.text.count('href="/users/') == 11
    names = {line for line in (first.text + second.text).split('href="/users/')[1:]}
    assert len(names) == 61
    found = await console.http.get("/users", params={"q": "zed the"})
    assert "discord:80351110224678912" in found.text
    assert found.text.count('href="/users/') == 1
    nothing = await console.http.get("/users", params={"q": "<script>x</script>"})
    assert "<script>x</script>" not in nothing.text  # escaped
    assert "No user&#39;s id or name contains" in nothing.text or "No user's id or name" in nothing.text


async def test_pages_show_counts_and_amounts_never_content_or_secrets(console: Console) -> None:
    await ask(console.service, SECRET_TEXT, **ALICE)
    await console.log_in()
    pages = [await console.http.get(path) for path in ("/", "/users", "/users/telegram:1001")]
    for page in pages:
        assert page.status_code == 200
        assert "pierogi" not in page.text
        assert TEST_KEY not in page.text
        assert PASSWORD not in page.text
    user_page = pages[2].text
    assert "Conversations" in user_page
    assert "answer" in user_page  # the chat answer's real cost is in the ledger


async def test_the_overview_names_the_models_the_bot_picks_and_survives_venice_being_down(
    web_settings: Callable[..., Settings], venice: FakeVenice
) -> None:
    async with serve_console(web_settings(models_cache_seconds=0)) as console:
        await console.log_in()
        page = await console.http.get("/")
        assert "text-embedding-bge-m3" in page.text  # the embedding model recall uses now
        assert "$12.50" in page.text  # Venice's account balance
        venice.fail("/models", 500, times=50)
        venice.fail("/billing/balance", 500, times=50)
    async with serve_console(web_settings(models_cache_seconds=0)) as console:
        await console.log_in()
        page = await console.http.get("/")
        assert page.status_code == 200
        assert "Spend and turns per day" in page.text
        assert "unknown (" in page.text  # the balance, with Venice's reason
        assert "the cheapest embedding model" in page.text


async def test_the_overview_asks_venice_for_the_balance_at_most_once_a_minute(
    console: Console, venice: FakeVenice
) -> None:
    await console.log_in()
    asked = len(venice.calls_to("/billing/balance"))
    for _ in range(3):
        assert (await console.http.get("/")).status_code == 200
    assert len(venice.calls_to("/billing/balance")) - asked <= 1
