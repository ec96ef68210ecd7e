"""When to retry a Venice request, and how long to wait first.

Venice blocks a key for 30 s after more than 20 failed requests in 30 s, so retries are few,
spaced with jittered backoff, bounded in total time, and counted against a budget shared by
every request of the process (``FailureBudget``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from core.ports.coordination import SharedFailures

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUSES = frozenset({429, 503, 504})


@dataclass
class RetryPolicy:
    """Attempts, backoff and the clocks used to wait (injected in tests).

    Attributes:
        max_attempts: tries in all, the first included.
        max_total: seconds from the first try after which no retry starts.
        base_delay: first backoff step; doubled each retry, with full jitter.
        max_delay: the longest single wait.
    """

    max_attempts: int = 4
    max_total: float = 45.0
    base_delay: float = 1.0
    max_delay: float = 20.0
    monotonic: Clock = time.monotonic
    wall: Clock = time.time
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Never less than half the step: a zero wait would hammer a struggling API.
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def hinted_delay(self, status: int, headers: Mapping[str, str]) -> float | None:
        """Return the wait that a 429's headers ask for, or None when they say nothing."""
        if status != 429:
            return _retry_after(headers.get("retry-after"), self.wall())
        hints: list[float] = []
        retry_after = _retry_after(headers.get("retry-after"), self.wall())
        if retry_after is not None:
            hints.append(retry_after)
        limit_type = (headers.get("x-ratelimit-type") or "").lower()
        reset_requests = _number(headers.get("x-ratelimit-reset-requests"))
        if reset_requests is not None and (
            "request" in limit_type or headers.get("x-ratelimit-remaining-requests") == "0"
        ):
            # A Unix timestamp (seconds; tolerate milliseconds).
            stamp = reset_requests / 1000 if reset_requests > 1e11 else reset_requests
            hints.append(max(0.0, stamp - self.wall()))
        reset_tokens = _number(headers.get("x-ratelimit-reset-tokens"))
        if reset_tokens is not None and (
            "token" in limit_type or headers.get("x-ratelimit-remaining-tokens") == "0"
        ):
            hints.append(max(0.0, reset_tokens))  # seconds, not a timestamp
        return max(hints) if hints else None


@dataclass
class FailureBudget:
    """Failed requests of the whole process in a sliding window.

    Past ``retry_limit`` failures in ``window`` seconds no request is retried; past
    ``hard_limit`` no new request is sent until the window has room. While any failure is in
    the window, at most ``degraded_concurrency`` requests are in flight, so a burst of users
    cannot pile dozens of failures onto a struggling API at once. With the defaults the
    process stays well under Venice's block (more than 20 failures in 30 s).

    With ``shared`` (several workers on PostgreSQL) the count is every worker's: this
    process's own, plus the others' as last read in the background (about every second), so
    a healthy request costs no round trip.
    """

    window: float = 30.0
    retry_limit: int = 8
    hard_limit: int = 14
    degraded_concurrency: int = 2
    monotonic: Clock = time.monotonic
    shared: SharedFailures | None = None
    _failures: deque[float] = field(default_factory=deque)
    _degraded: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place to send one request: free when healthy, scarce while failing."""
        if self.recent == 0:
            yield
            return
        if self._degraded is None:
            self._degraded = asyncio.Semaphore(self.degraded_concurrency)
        async with self._degraded:
            yield

    def _trim(self) -> None:
        cutoff = self.monotonic() - self.window
        while self._failures and self._failures[0] <= cutoff:
            self._failures.popleft()

    def record_failure(self) -> None:
        """Count one failed request now."""
        self._failures.append(self.monotonic())
        if self.shared is not None:
            self.shared.record()

    def _others(self) -> list[float]:
        return self.shared.others(self.window) if self.shared is not None else []

    @property
    def recent(self) -> int:
        """Failures within the window (of every worker, when shared)."""
        self._trim()
        return len(self._failures) + len(self._others())

    def may_retry(self) -> bool:
        """Whether a retry would keep the process safely under Venice's block."""
        return self.recent < self.retry_limit

    def may_send(self) -> bool:
        """Whether a new request may be sent at all."""
        return self.recent < self.hard_limit

    def seconds_until_room(self) -> float:
        """How long until the oldest failure leaves the window."""
        self._trim()
        waits = [self.window - age for age in self._others()]
        if self._failures:
            waits.append(self._failures[0] + self.window - self.monotonic())
        return max(0.0, min(waits)) if waits else 0.0


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _retry_after(value: str | None, now: float) -> float | None:
    """Parse ``Retry-After``: delta seconds or an HTTP date."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None
