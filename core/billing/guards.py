"""Guards in front of Venice: a per-user request rate, and the Venice account's own credit."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from core.errors import BotError
from core.ports.coordination import Coordination
from core.venice.client import VeniceClient
from core.venice.errors import VeniceError

log = logging.getLogger(__name__)


class RetryLater(BotError):
    """Refused for now; ``retry_after`` says for how long (the message says it too)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"{reason} Try again in {max(1, math.ceil(retry_after))} s.")
        self.retry_after = retry_after


class TooFast(RetryLater):
    """A user sent more requests than the per-minute limit allows."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("You are sending requests too fast.", retry_after)


class AccountEmpty(BotError):
    """The Venice account behind the bot cannot pay for more requests."""


class UserRateLimit:
    """At most ``per_minute`` paid requests per user in any 60 seconds (0: no limit).

    With ``workers`` shared (PostgreSQL), the requests are counted in the database, so the
    limit holds across workers; else in this process.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        workers: Coordination | None = None,
    ) -> None:
        self._limit = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._workers = workers if workers is not None and workers.shared else None

    async def acquire(self, user: str) -> None:
        """Count one request of ``user`` (in every worker's count), or raise ``TooFast``."""
        if self._workers is None or self._limit <= 0:
            self.check(user)
            return
        wait = await self._workers.hit(f"user:{user}", self._limit)
        if wait is not None:
            raise TooFast(wait)

    def check(self, user: str) -> None:
        """Count one request, or raise ``TooFast`` saying when the next one may come."""
        if self._limit <= 0:
            return
        now = self._clock()
        window = self._seen.setdefault(user, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self._limit:
            raise TooFast(window[0] + 60 - now)
        window.append(now)
        if len(self._seen) > 10_000:  # forget users idle for a minute
            for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - 60]:
                del self._seen[key]


class AccountGuard:
    """Refuse paid actions while the Venice account cannot pay, and say so once in the log.

    Venice reports the balance before each request in response headers; ``/billing/balance``
    adds ``canConsume`` and is asked now and then (``refresh_seconds``).
    """

    def __init__(
        self,
        venice: VeniceClient,
        *,
        floor_usd: float = 0.0,
        refresh_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._venice = venice
        self._floor = floor_usd
        self._refresh = refresh_seconds
        self._clock = clock
        self._checked_at = float("-inf")
        self._can_consume = True
        self._warned = False
        # Adapters add a callback that tells the bot's admins (a DM); called once per outage.
        self.alerts: list[Callable[[str], Awaitable[None]]] = []

    async def check(self) -> None:
        """Raise ``AccountEmpty`` when the account is known to be unable to pay."""
        if self._clock() - self._checked_at >= self._refresh:
            self._checked_at = self._clock()
            try:
                balance = await self._venice.balance()
                self._can_consume = balance.can_consume
            except VeniceError as exc:  # e.g. a key without billing scope: rely on headers
                log.info("Cannot read the Venice balance (%s); relying on response headers", exc.status)
        state = self._venice.rate_limits
        known = [v for v in (state.balance_usd, state.balance_diem) if v is not None]
        below_floor = bool(known) and self._floor > 0 and sum(known) < self._floor
        if self._can_consume and not below_floor:
            self._warned = False
            return
        if not self._warned:
            self._warned = True
            log.error(
                "The Venice account cannot pay for more requests (canConsume=%s, balance "
                "%s); paid actions are refused until it is topped up",
                self._can_consume,
                "+".join(str(v) for v in known) or "unknown",
            )
            await self._alert(
                "⚠️ The Venice account behind this bot cannot pay for more requests, so users "
                "are being refused. Top it up at https://venice.ai/settings/api (balance last "
                f"seen: {' + '.join(str(v) for v in known) or 'unknown'})."
            )
        raise AccountEmpty(
            "The Venice account behind this bot is out of credit, so it cannot answer now. "
            "The bot's admin needs to top it up."
        )

    async def _alert(self, text: str) -> None:
        for alert in self.alerts:
            try:
                await alert(text)
            except Exception:  # a failed notice must not turn into the user's error
                log.exception("Telling the admins failed")

    def saw_payment_required(self) -> None:
        """Venice answered 402: treat the account as empty until the next balance check."""
        self._can_consume = False
        # Ask Venice again in a minute: an admin may top the account up at any time.
        self._checked_at = self._clock() - self._refresh + 60


class AtVeniceLimit(RetryLater):
    """The key's own request limit for a model is used up for now."""

    def __init__(self, model: str, retry_after: float) -> None:
        super().__init__(f"The bot is at Venice's request limit for {model} right now.", retry_after)


class KeyRateLimiter:
    """Pace requests to the key's per-model limits (``GET /api_keys/rate_limits``).

    A request that would exceed a model's requests-per-minute waits for room, briefly
    (``max_wait``), instead of collecting a 429 from Venice; past that it is refused with the
    time to wait. The limits are read again every ``refresh_seconds``. With ``workers``
    shared (PostgreSQL), the requests of every worker are counted together in the database.
    """

    def __init__(
        self,
        venice: VeniceClient,
        *,
        max_wait: float = 10.0,
        refresh_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        workers: Coordination | None = None,
    ) -> None:
        self._venice = venice
        self._workers = workers if workers is not None and workers.shared else None
        self._max_wait = max_wait
        self._refresh = refresh_seconds
        self._clock = clock
        self._sleep = sleep
        self._rpm: dict[str, int] = {}
        self._loaded_at = float("-inf")
        self._sent: dict[str, deque[float]] = {}

    async def acquire(self, model: str) -> None:
        """Take a place for one request to ``model``, waiting briefly if the minute is full."""
        await self._load()
        limit = self._rpm.get(model)
        if not limit:
            return
        if self._workers is not None:
            await self._acquire_shared(self._workers, model, limit)
            return
        sent = self._sent.setdefault(model, deque())
        while True:
            now = self._clock()
            while sent and sent[0] <= now - 60:
                sent.popleft()
            if len(sent) < limit:
                sent.append(now)
                return
            wait = sent[0] + 60 - now
            if wait > self._max_wait:
                raise AtVeniceLimit(model, wait)
            await self._sleep(wait)

    async def _acquire_shared(self, workers: Coordination, model: str, limit: int) -> None:
        waited = 0.0
        while (wait := await workers.hit(f"venice:{model}", limit)) is not None:
            if waited + wait > self._max_wait:
                raise AtVeniceLimit(model, wait)
            await self._sleep(wait)
            waited += wait

    async def _load(self) -> None:
        if self._clock() - self._loaded_at < self._refresh:
            return
        self._loaded_at = self._clock()
        try:
            body = await self._venice.api_key_rate_limits()
        except VeniceError as exc:  # an older key or a proxy without it: go without pacing
            log.info("Cannot read the key's rate limits (%s); not pacing requests", exc.status)
            return
        inner = body.get("data")
        data: dict[str, Any] = inner if isinstance(inner, dict) else body
        limits: dict[str, int] = {}
        for entry in data.get("rateLimits") or []:
            for limit in entry.get("rateLimits") or []:
                if limit.get("type") == "RPM" and entry.get("apiModelId"):
                    limits[str(entry["apiModelId"])] = int(limit.get("amount") or 0)
        self._rpm = limits
