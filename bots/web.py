"""The web console's wiring: ``venice-bots web`` (the console alone) and the console that
``venice-bots run`` serves beside the bot when WEB_ADMIN_PASSWORD is set."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator

from adapters.web.metrics import PrometheusMetrics
from adapters.web.rendering import ConsoleParts
from adapters.web.server import WebConsole
from bots.bootstrap import http_client, open_store, venice_client
from core.app import App
from core.settings import Settings
from core.venice.retry import RetryPolicy

EXIT_CONFIG = 2
NO_PASSWORD = (
    "The web console needs WEB_ADMIN_PASSWORD (at least 12 characters): set it in the environment "
    "or in .env, then start it again. Every page of the console is behind that password."
)


@contextlib.asynccontextmanager
async def console_beside(settings: Settings, service: App, metrics: PrometheusMetrics) -> AsyncIterator[None]:
    """Serve the console beside the running bot, which it reads and counts."""
    parts = ConsoleParts(settings, service.store, service.venice, metrics, bot=service)
    async with WebConsole(parts, host=settings.web_host, port=settings.web_port) as console:
        print(f"The web console is at {console.url}/", file=sys.stderr)
        yield


async def serve_console_alone(settings: Settings) -> int:
    """``venice-bots web``: the console and its database until SIGINT or SIGTERM; no platform."""
    if settings.web_admin_password is None:
        print(NO_PASSWORD, file=sys.stderr)
        return EXIT_CONFIG
    metrics = PrometheusMetrics()
    policy = RetryPolicy(max_attempts=settings.venice_max_attempts)
    async with open_store(settings, clock=policy.wall) as store, http_client(settings) as http:
        parts = ConsoleParts(
            settings, store, venice_client(settings, http, retry=policy, metrics=metrics), metrics
        )
        async with WebConsole(parts, host=settings.web_host, port=settings.web_port) as console:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(f"The web console is at {console.url}/ ; stop it with Ctrl-C.", file=sys.stderr)
            await stop.wait()
    print("Stopped.", file=sys.stderr)
    return 0
