"""The browser harness itself: Chromium draws the chart, and the watch catches what must not happen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page

from adapters.web.chart import DayPoint, spend_chart
from tests.browser import BrowserWatch, watched_page
from tests.fakes.local_server import serve_aiohttp

# As strict as the console's own: no inline script or style, nothing from another origin.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def month() -> list[DayPoint]:
    """Thirty consecutive days with some spend and turns, a few of them empty."""
    first = date(2026, 11, 8)
    return [
        DayPoint(day=(first + timedelta(days=i)).isoformat(), spent=(i % 7) * 23_000, turns=i % 5)
        for i in range(30)
    ]


def html(body: str) -> str:
    """A whole page around ``body``."""
    return f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head><body>{body}</body></html>'


PAGES = {
    "/chart": (html(f"<h1>Overview</h1>{spend_chart(month())}"), CSP),
    "/outside": (html('<p>hello</p><img alt="x" src="http://example.invalid/x.png">'), None),
    "/broken": (html('<script>console.error("boom"); throw new Error("kaput");</script>'), None),
    "/inline-style": (html('<p style="color: red">styled</p>'), CSP),
}


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """The pages above on 127.0.0.1 (port 0); yields the base URL."""

    async def serve(request: web.Request) -> web.Response:
        text, csp = PAGES[request.path]
        headers = {"Content-Security-Policy": csp} if csp else {}
        return web.Response(text=text, content_type="text/html", headers=headers)

    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, serve)
    runner, port = await serve_aiohttp(app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_chromium_draws_the_chart_under_a_strict_content_security_policy(
    page: Page, site: str, tmp_path: Path
) -> None:
    await page.goto(f"{site}/chart")
    chart = page.locator("svg.chart")
    assert await chart.get_attribute("aria-label") == "Spend and turns per day, last 30 days"
    points = page.locator("svg.chart circle.point.spend")
    assert await points.count() == 30
    for index in range(30):
        box = await points.nth(index).bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    bars = page.locator("svg.chart rect.turns-bar")
    tallest = max([(await bars.nth(i).bounding_box() or {"height": 0.0})["height"] for i in range(30)])
    assert tallest > 50  # the busiest day's bar is drawn, not collapsed
    shot = tmp_path / "chart.png"
    await chart.screenshot(path=shot)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    # The page fixture fails this test at teardown had the chart broken the policy.


async def test_a_request_leaving_127_0_0_1_is_aborted_and_recorded(browser: Browser, site: str) -> None:
    watch = BrowserWatch()
    async with watched_page(browser, watch) as page:
        await page.goto(f"{site}/outside")
        assert await page.locator("p").text_content() == "hello"
        assert await page.locator("img").evaluate("img => img.complete && img.naturalWidth") == 0
    assert watch.outside_requests == ["http://example.invalid/x.png"]
    assert "request outside 127.0.0.1 (aborted): http://example.invalid/x.png" in watch.problems()


async def test_console_errors_script_errors_and_policy_violations_are_recorded(
    browser: Browser, site: str
) -> None:
    watch = BrowserWatch()
    async with watched_page(browser, watch) as page:
        await page.goto(f"{site}/broken")
        await page.goto(f"{site}/inline-style")
        await page.wait_for_load_state("load")
    assert watch.outside_requests == []
    assert any(e.startswith("console: boom") for e in watch.errors), watch.errors
    assert "uncaught: kaput" in watch.errors
    assert any("Content Security Policy" in e for e in watch.errors), watch.errors
    assert len(watch.problems()) == len(watch.errors)
