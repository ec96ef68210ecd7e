"""The web console in a real browser: log in through the form, read the overview's chart, grant credit.

Headless Chromium (tests/browser.py) against the console served over real HTTP on 127.0.0.1 beside
the bot's core (tests/web_support.py), the turns answered by the fake Venice. The ``page`` fixture
fails the test if any page logged an error (a Content-Security-Policy violation is one) or asked
for anything outside 127.0.0.1 (a CDN).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Page

from core.money import usd
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.helpers import ask
from tests.web_support import PASSWORD, Console, serve_console

ALICE = {"platform": "telegram", "user_id": "1001", "user_name": "Alice", "chat_id": "1001"}
BOB = {"platform": "discord", "user_id": "80351110224678912", "user_name": "Bob", "chat_id": "77"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def console(make_settings: Callable[..., Settings], retry: RetryPolicy) -> AsyncIterator[Console]:
    """The console beside a bot that has answered (and charged) a few turns today."""
    async with serve_console(make_settings(web_admin_password=PASSWORD), retry) as served:
        for text in ("hello", "what is a pierogi?", "thanks"):
            await ask(served.service, text, **ALICE)
        await ask(served.service, "hi there", **BOB)
        yield served


async def log_in(page: Page, console: Console) -> None:
    """Open the console's front page, get sent to the login, and log in through the form."""
    await page.goto(f"{console.web.url}/")
    assert page.url.startswith(f"{console.web.url}/login")
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation():
        await page.click("form.login button[type=submit]")
    assert page.url == f"{console.web.url}/"


async def test_logging_in_shows_the_overview_with_the_chart_drawn(
    page: Page, console: Console, tmp_path: Path
) -> None:
    await log_in(page, console)
    assert await page.locator("h1").text_content() == "Overview"
    assert await page.locator("#today-turns").text_content() == "4"
    points = page.locator("svg.chart circle.point.spend")
    assert await points.count() == 30
    boxes = [await points.nth(i).bounding_box() for i in range(30)]
    assert all(box is not None and box["width"] > 0 and box["height"] > 0 for box in boxes)
    heights = {box["y"] for box in boxes if box is not None}
    assert len(heights) > 1  # today's spend lifts its point off the baseline of the empty days
    assert await page.locator("svg.chart rect.turns-bar").count() >= 30
    shot = tmp_path / "overview.png"
    await page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)


async def test_granting_credit_through_the_form_shows_the_new_balance_and_the_ledger_row(
    page: Page, console: Console
) -> None:
    await log_in(page, console)
    async with page.expect_navigation():
        await page.click("header nav a[href='/users']")
    users = page.locator("table.users tbody tr")
    assert await users.count() == 2
    async with page.expect_navigation():
        await page.click("table.users a[href='/users/telegram:1001']")
    assert await page.locator("h1").text_content() == "telegram:1001"
    grant = page.locator("form.grant")
    assert await grant.locator("input[name=csrf]").get_attribute("value")
    await grant.locator("input[name=amount]").fill("2.50")
    await grant.locator("input[name=note]").fill("thanks for testing the bot")
    async with page.expect_navigation():
        await grant.locator("button[type=submit]").click()

    balance = await console.service.store.ledger.balance("user:1")
    assert await page.locator("#balance").text_content() == usd(balance)
    assert (
        await page.locator("p.notice").text_content() == f"Granted $2.50. The balance is {usd(balance)} now."
    )
    granted = page.locator("table.ledger tbody tr", has_text="thanks for testing the bot")
    assert await granted.count() == 1
    assert "2.50" in (await granted.text_content() or "")
    # A reload shows the same balance: the form granted once.
    await page.reload()
    assert await page.locator("#balance").text_content() == usd(balance)
    assert await console.service.store.ledger.balance("user:1") == balance
