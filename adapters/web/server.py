"""The console's aiohttp application: routes, the login guard, security headers, and serving it.

Public: ``/healthz``, ``/readyz``, ``/metrics``, ``/login`` and the stylesheet. Everything else
needs a session; every POST but the login's carries the session's CSRF token. Every answer
says how it may be framed and run (a Content-Security-Policy with no inline script or style).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from adapters.web.auth import SESSION_COOKIE, SESSION_SECONDS, Gate, Locked
from adapters.web.metrics import add_metrics_route
from adapters.web.pages import add_page_routes
from adapters.web.readiness import Readiness, add_health_routes
from adapters.web.rendering import GATE, HERE, PARTS, SESSION, TEMPLATES, ConsoleParts, render, templates
from core.errors import ConfigurationError

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/login", "/static/console.css"})
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
FORBIDDEN = "This form has expired or did not come from this console. Nothing was changed; reload the page and try again."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_of(request: web.Request, *, trust_proxy: bool) -> str:
    """Who is asking, for the lockout: the peer, or the first X-Forwarded-For behind a proxy."""
    if trust_proxy and (forwarded := request.headers.get("X-Forwarded-For")):
        return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def is_https(request: web.Request, *, trust_proxy: bool) -> bool:
    """Whether the browser reached the console over HTTPS (directly, or through a trusted proxy)."""
    if request.secure:
        return True
    return trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a session (and on a POST its CSRF token) off the public paths; add the headers."""
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:  # a redirect or refusal: it gets the same headers
        _secure(request, exc)
        raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path != "/static/console.css":
        response.headers.setdefault("Cache-Control", "no-store")


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    gate = request.app[GATE]
    session = gate.session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        request[SESSION] = session
    if request.path in PUBLIC:
        return await handler(request)
    if session is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
        raise web.HTTPForbidden(text="Log in first: nothing was changed.")
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf")
        if not gate.csrf_ok(session, token if isinstance(token, str) else None):
            log.warning("Refused a console POST to %s without the session's CSRF token", request.path)
            return render(request, "message.html", status=403, title="Refused", message=FORBIDDEN)
    return await handler(request)


async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (or straight on, when already logged in)."""
    if request.get(SESSION) is not None:
        raise web.HTTPSeeOther(_next(request))
    return render(request, "login.html", title="Log in", next=_next(request), error=None)


async def login(request: web.Request) -> web.StreamResponse:
    """Check the password; on success start a session and go where the user was going."""
    parts, gate = request.app[PARTS], request.app[GATE]
    trust = parts.settings.web_trust_proxy
    client = client_of(request, trust_proxy=trust)
    form = await request.post()
    password = form.get("password")
    destination = _next(request, form.get("next"))
    try:
        session = gate.login(client, password if isinstance(password, str) else "")
    except Locked as exc:
        log.warning("Console login refused: %s is locked out after too many wrong passwords", client)
        wait = int(exc.retry_after) + 1
        response = render(
            request,
            "login.html",
            title="Log in",
            status=429,
            next=destination,
            error=f"Too many wrong passwords from here. Try again in {_minutes(wait)}.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if session is None:
        log.warning("Console login with a wrong password from %s", client)
        return render(
            request, "login.html", title="Log in", status=401, next=destination, error="Wrong password."
        )
    log.info("Console login from %s", client)
    response = web.Response(status=303, headers={"Location": destination})
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request, trust_proxy=trust),
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session on the server and forget the cookie."""
    request.app[GATE].logout(request[SESSION])
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _next(request: web.Request, posted: object = None) -> str:
    """Where to go after logging in: a path of this console only (never another site)."""
    wanted = posted if isinstance(posted, str) else request.query.get("next", "/")
    if not wanted.startswith("/") or wanted.startswith("//") or "\\" in wanted:
        return "/"
    return wanted


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def console_app(parts: ConsoleParts, *, gate: Gate, readiness: Readiness) -> web.Application:
    """The console as an aiohttp application (served by ``WebConsole``, or by a test)."""
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)  # forms are small
    app[PARTS] = parts
    app[GATE] = gate
    app[TEMPLATES] = templates()
    add_health_routes(app, readiness)
    add_metrics_route(app, parts.metrics)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    add_page_routes(app)
    return app


class WebConsole:
    """Serve the console on ``host:port`` while the block runs (``async with``)."""

    def __init__(self, parts: ConsoleParts, *, host: str, port: int) -> None:
        password = parts.settings.web_admin_password
        if password is None:
            raise ValueError("the console needs WEB_ADMIN_PASSWORD")
        if parts.bot is not None:
            parts.metrics.attach(parts.bot)  # turns running and waiting, Venice's headers
        parts.metrics.read_database(parts.store.ledger, parts.store.inbox)
        self._app = console_app(
            parts,
            gate=Gate(password.get_secret_value()),
            readiness=Readiness(parts.store.state, parts.venice, seen=parts.metrics),
        )
        self._host, self._port = host, port
        self._runner = web.AppRunner(
            self._app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        self.url = ""

    async def __aenter__(self) -> Self:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigurationError(
                f"The web console cannot listen on {self._host}:{self._port}: {exc.strerror or exc}. "
                "Set WEB_HOST and WEB_PORT to a free address."
            ) from None
        sockets = [s for s in self._runner.addresses if s]
        port = sockets[0][1] if sockets else self._port
        host = self._host if self._host not in ("0.0.0.0", "::", "") else socket.gethostname()
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.cleanup()
