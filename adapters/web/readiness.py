"""``/healthz`` and ``/readyz``: whether the process serves, and whether it can do its work (the
database takes writes, Venice answers), checked at most every few seconds whoever asks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from core.errors import StorageUnavailable
from core.ports.storage import StateStore
from core.venice.errors import VeniceUnreachable

log = logging.getLogger(__name__)

READY_KEY = "web:ready"  # the state row readiness rewrites to prove the database takes writes
KEY_REFUSED = (401, 403)


class VenicePing(Protocol):
    """One request to Venice that says whether it answers (``VeniceClient.ping``)."""

    async def ping(self) -> int:
        """Ask once, without retry; return the HTTP status or raise ``VeniceUnreachable``."""
        ...


class VeniceSeen(Protocol):
    """When the last request to Venice ended, and how (``PrometheusMetrics``)."""

    @property
    def last_venice_request(self) -> _Seen | None: ...


class _Seen(Protocol):
    @property
    def at(self) -> float: ...
    @property
    def status(self) -> str: ...


class Readiness:
    """Check that the database takes a write and that Venice answered lately (else ask it once).

    The result is kept ``interval`` seconds; callers in the meantime share it, and callers while a
    check runs wait for that check. ``seen`` (the metrics) tells of the bot's own Venice requests,
    dated by the same ``clock``: one answered below 500 within ``recent`` seconds, and not refused
    for its key, spares the probe.
    """

    def __init__(
        self,
        state: StateStore,
        venice: VenicePing,
        *,
        seen: VeniceSeen | None = None,
        interval: float = 5.0,
        recent: float = 60.0,
        write_timeout: float = 3.0,
        probe_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._venice = venice
        self._seen = seen
        self.interval = interval
        self.recent = recent
        self.write_timeout = write_timeout
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._result: tuple[bool, list[str]] | None = None
        self._checked_at = 0.0
        self._checking: asyncio.Task[tuple[bool, list[str]]] | None = None

    async def check(self) -> tuple[bool, list[str]]:
        """Whether the bot can work now, and if not the reasons, in plain words."""
        if self._checking is None:
            if self._result is not None and self._clock() - self._checked_at < self.interval:
                return self._result[0], list(self._result[1])
            self._checking = asyncio.create_task(self._check(), name="readiness-check")
        # Shielded: a client that hangs up does not cancel the check the others wait for.
        ready, reasons = await asyncio.shield(self._checking)
        return ready, list(reasons)

    async def _check(self) -> tuple[bool, list[str]]:
        try:
            found = await asyncio.gather(self._database(), self._venice_answers())
            reasons = [reason for reason in found if reason is not None]
            result = (not reasons, reasons)
            if reasons and (self._result is None or self._result[1] != reasons):
                log.warning("Not ready: %s", "; ".join(reasons))
            elif not reasons and self._result is not None and not self._result[0]:
                log.info("Ready again")
            self._result, self._checked_at = result, self._clock()
            return result
        finally:
            self._checking = None

    async def _database(self) -> str | None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await self._state.set(READY_KEY, str(int(time.time())))
        except StorageUnavailable as exc:
            return f"the database is not writable: {exc.cause}"
        except TimeoutError:
            return f"the database is not writable: no answer within {self.write_timeout:g} s"
        except Exception as exc:
            log.warning("Readiness: the database refused a write", exc_info=True)
            return f"the database is not writable: {type(exc).__name__}"
        return None

    async def _venice_answers(self) -> str | None:
        seen = self._seen.last_venice_request if self._seen is not None else None
        if seen is not None and self._clock() - seen.at <= self.recent and _answered(seen.status):
            return None
        try:
            async with asyncio.timeout(self.probe_timeout):
                status = await self._venice.ping()
        except VeniceUnreachable as exc:
            return f"Venice is unreachable: {exc.cause.detail}"
        except TimeoutError:
            return f"Venice is unreachable: no answer within {self.probe_timeout:g} s"
        except Exception as exc:
            log.warning("Readiness: asking Venice failed", exc_info=True)
            return f"Venice is unreachable: {type(exc).__name__}"
        if status in KEY_REFUSED:
            return f"Venice rejects the API key (HTTP {status}): check VENICE_API_KEY"
        if status >= 500:
            return f"Venice is unreachable: it answers HTTP {status}"
        return None


def _answered(status: str) -> bool:
    """Whether Venice worked for that request: an answer below 500 that accepted the key."""
    return status.isdigit() and int(status) < 500 and int(status) not in KEY_REFUSED


def add_health_routes(app: web.Application, readiness: Readiness) -> None:
    """Serve ``GET /healthz`` (200 while the process serves) and ``GET /readyz`` (200, or 503
    with the reasons), without login: load balancers and orchestrators have none."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})

    async def readyz(_request: web.Request) -> web.Response:
        ready, reasons = await readiness.check()
        if ready:
            return web.Response(text="ready\n", headers={"Cache-Control": "no-store"})
        body = "not ready\n" + "".join(f"- {reason}\n" for reason in reasons)
        return web.Response(status=503, text=body, headers={"Cache-Control": "no-store"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
