"""The web console served for a test over real HTTP: the bot's core, its console on 127.0.0.1
(port 0), and an httpx client that logs in through the form as a browser does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from adapters.web.metrics import PrometheusMetrics
from adapters.web.rendering import ConsoleParts
from adapters.web.server import WebConsole
from bots.bootstrap import build_service
from core.app import App
from core.settings import Settings
from core.venice.retry import RetryPolicy

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    """A console being served, the bot it serves beside, and a client for it."""

    service: App
    web: WebConsole
    http: httpx.AsyncClient
    metrics: PrometheusMetrics

    async def log_in(self, password: str = PASSWORD) -> str:
        """Log in through the form; return the session's CSRF token (from the overview's forms)."""
        response = await self.http.post("/login", data={"password": password, "next": "/"})
        assert response.status_code == 303, response.text
        return csrf_of((await self.http.get("/")).text)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@asynccontextmanager
async def serve_console(settings: Settings, retry: RetryPolicy | None = None) -> AsyncIterator[Console]:
    """The bot's core with its console beside it, as `venice-bots run` serves them."""
    metrics = PrometheusMetrics()
    async with build_service(settings, retry=retry, metrics=metrics) as service:
        parts = ConsoleParts(settings, service.store, service.venice, metrics, bot=service)
        async with (
            WebConsole(parts, host="127.0.0.1", port=0) as web,
            httpx.AsyncClient(base_url=web.url, timeout=30) as http,
        ):
            yield Console(service, web, http, metrics)
