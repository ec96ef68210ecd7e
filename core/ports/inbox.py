"""What the core needs of the inbox: messages recorded as they arrive, answered once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.ports.records import InboxItem


class Inbox(Protocol):
    """Messages recorded as they arrive, so a crash loses none and none is answered twice."""

    async def record(self, platform: str, key: str, chat: str, payload: str | None, *, lease: float) -> bool:
        """Record a message, claimed by this process for ``lease`` seconds; False if it was
        recorded before (a redelivery). Without a payload it is known, but cannot be
        answered again after a crash (an ephemeral chat's content is not written).
        ``lease=0``: recorded for any worker to claim (``claim_next``), and they are told."""
        ...

    async def answered(self, platform: str, keys: Sequence[str]) -> None:
        """Mark messages answered; what answering them needed is dropped."""
        ...

    async def take_over(self, platform: str, *, window: float, lease: float) -> list[InboxItem]:
        """Claim the unanswered messages of the last ``window`` seconds that no live turn
        holds, oldest first, for ``lease`` seconds."""
        ...

    async def claim_next(self, platform: str, *, window: float, lease: float, limit: int) -> list[InboxItem]:
        """Claim up to ``limit`` unanswered messages of the last ``window`` seconds that no
        live turn holds, oldest first, for ``lease`` seconds; a chat whose earlier message
        another worker still answers is skipped (its answers stay in order)."""
        ...

    async def renew(self, platform: str, keys: Sequence[str], *, lease: float) -> None:
        """Hold this worker's claims on unanswered messages ``lease`` seconds more (they are
        still being answered: a live worker keeps them, a dead one's run out soon)."""
        ...

    async def wait_for_more(self, platform: str, timeout: float) -> None:
        """Return once a message for any worker may have been recorded, or after ``timeout``."""
        ...

    async def unanswered(self) -> int:
        """How many messages wait for an answer."""
        ...
