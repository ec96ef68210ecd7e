"""What every console page shares: the parts it reads, the templates, and rendering a page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from aiohttp import web

from adapters.web.auth import Gate, Session
from adapters.web.metrics import PrometheusMetrics
from core.ports.storage import Store
from core.settings import Settings
from core.venice.client import VeniceClient

if TYPE_CHECKING:
    from core.app import App

HERE = Path(__file__).parent


@dataclass
class ConsoleParts:
    """What the console reads and changes: the store, Venice, the counters, and the bot in this
    process (None for `venice-bots web`, which serves the console alone)."""

    settings: Settings
    store: Store
    venice: VeniceClient
    metrics: PrometheusMetrics
    bot: App | None = None


PARTS: web.AppKey[ConsoleParts] = web.AppKey("parts")
GATE: web.AppKey[Gate] = web.AppKey("gate")
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates")
SESSION: web.RequestKey[Session] = web.RequestKey("session")


def templates() -> jinja2.Environment:
    """The page templates, every value escaped unless marked safe."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(request: web.Request, template: str, *, status: int = 200, **values: object) -> web.Response:
    """A page from its template, with the session's CSRF token for its forms."""
    session = request.get(SESSION)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            csrf=session.csrf if session else "", logged_in=session is not None, path=request.path, **values
        )
    )
    return web.Response(text=html, content_type="text/html", status=status)
