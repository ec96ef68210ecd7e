"""A real browser for the tests: Debian's headless Chromium driven by Playwright, kept on 127.0.0.1.

Playwright drives the ``chromium`` found on PATH through ``executable_path``: ``playwright install``
downloads a browser of its own and fails offline, so it is never used. Where no Chromium is installed
the tests that need it are skipped, except under CI (``CI`` set), where that is a failure:
``.ci/run`` installs Debian's ``chromium`` package.

Every page is watched (``BrowserWatch``): a request to any host but 127.0.0.1 is aborted and recorded
(a CDN link in a template shows up here, not as a slow test that needs the internet), and so is every
console error (a Content-Security-Policy violation is one) and every uncaught script error. The
``page`` fixture fails its test at teardown if any of them happened.

The async API runs in each test's own event loop; Playwright's objects belong to the loop that made
them, so the browser is started per test (about a second), not shared across the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Route, async_playwright

LOCAL_HOST = "127.0.0.1"
# URLs that never leave the browser: inline images, object URLs, the empty page.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def chromium_path() -> str:
    """The Chromium to drive, or a skip (a failure under CI) where none is installed."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed here (apt-get install chromium)")
    return found


@dataclass
class BrowserWatch:
    """What pages did that a test must not: requests leaving 127.0.0.1, console and script errors."""

    outside_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def attach(self, context: BrowserContext) -> None:
        """Abort and record every request of ``context`` whose host is not 127.0.0.1."""
        await context.route("**/*", self._route)

    def watch(self, page: Page) -> None:
        """Record ``page``'s console errors and uncaught errors."""
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def problems(self) -> list[str]:
        """Everything recorded, one line each: empty when the page behaved."""
        return [f"request outside 127.0.0.1 (aborted): {url}" for url in self.outside_requests] + [
            f"browser error: {error}" for error in self.errors
        ]

    async def _route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname == LOCAL_HOST:
            await route.continue_()
            return
        self.outside_requests.append(url)
        await route.abort("blockedbyclient")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "")
            self.errors.append(f"console: {message.text}" + (f" ({location})" if location else ""))

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}")


@asynccontextmanager
async def watched_page(browser: Browser, watch: BrowserWatch) -> AsyncIterator[Page]:
    """A page in a fresh context (no cookies shared with other tests) that ``watch`` records."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        await watch.attach(context)
        page = await context.new_page()
        watch.watch(page)
        yield page
    finally:
        await context.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (Debian's, from PATH), skipped where missing except under CI."""
    executable = chromium_path()
    # Root has no user namespaces for Chromium's sandbox (containers, CI): run without it there.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def browser_watch() -> BrowserWatch:
    """The recorder of the test's ``page``: outside requests and browser errors so far."""
    return BrowserWatch()


@pytest.fixture
async def page(browser: Browser, browser_watch: BrowserWatch) -> AsyncIterator[Page]:
    """A fresh page kept on 127.0.0.1; the test fails if it reached outside or logged an error."""
    async with watched_page(browser, browser_watch) as opened:
        yield opened
    if problems := browser_watch.problems():
        pytest.fail("the page misbehaved:\n" + "\n".join(problems), pytrace=False)
