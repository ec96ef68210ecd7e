"""What the core reports as it works, for whoever counts it (the web console's /metrics).

The core calls these at the few places every turn, charge and Venice request passes through;
``NO_METRICS`` counts nothing. An implementation must not block or raise: it is called on the
turn's own path.
"""

from __future__ import annotations

from typing import Literal, Protocol

Outcome = Literal["answered", "failed"]
TurnKind = Literal["chat", "voice", "document", "image", "command"]
TokenKind = Literal["prompt", "completion"]


class Metrics(Protocol):
    """Counters the core moves; each call is cheap and never fails."""

    def turn(self, platform: str, kind: TurnKind, outcome: Outcome) -> None:
        """A message was answered, or its answer failed (the user was told why)."""
        ...

    def tokens(self, kind: TokenKind, count: int) -> None:
        """Venice reported ``count`` prompt or completion tokens for one request."""
        ...

    def charged(self, feature: str, micro_usd: int) -> None:
        """A paid action was charged ``micro_usd`` (after it worked)."""
        ...

    def venice_request(self, endpoint: str, seconds: float, status: str) -> None:
        """One HTTP request to Venice: its path, time to the response headers, and its status
        code ("200", "429", ...) or "unreachable" when no answer came."""
        ...


class NoMetrics:
    """Counts nothing: the core without a console."""

    def turn(self, platform: str, kind: TurnKind, outcome: Outcome) -> None:
        """Count nothing."""

    def tokens(self, kind: TokenKind, count: int) -> None:
        """Count nothing."""

    def charged(self, feature: str, micro_usd: int) -> None:
        """Count nothing."""

    def venice_request(self, endpoint: str, seconds: float, status: str) -> None:
        """Count nothing."""


NO_METRICS: Metrics = NoMetrics()
