"""What workers (processes serving one database) share besides their stores.

One SQLite process is alone: everything here is trivially its own. Several PostgreSQL workers
agree through the database: who is alive, who runs a job that only one may run, and the
limits that hold for the bot as a whole (a user's request rate, the key's request rate,
Venice's failure budget).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class SharedFailures(Protocol):
    """Failed Venice requests of the other workers, read now and then (never on a request's path)."""

    def record(self) -> None:
        """Count one failure of this worker (written to the others soon, in the background)."""
        ...

    def others(self, window: float) -> list[float]:
        """The ages in seconds of the other workers' failures within ``window``, as last read."""
        ...


class Coordination(Protocol):
    """How this worker agrees with the others on one database."""

    @property
    def worker_id(self) -> str:
        """This worker's id (unique per process run)."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other workers may share the database (False: this process is alone)."""
        ...

    @property
    def failures(self) -> SharedFailures | None:
        """The failure budget's shared part (None: the process's own count is the whole)."""
        ...

    async def start(self) -> None:
        """Announce this worker and keep beating until the store closes (``venice-bots run``)."""
        ...

    async def others_alive(self, within: float) -> bool:
        """Whether another worker beat within the last ``within`` seconds."""
        ...

    def exclusively(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Hold ``name`` for the block if no other worker does; yields whether this one got it."""
        ...

    async def claim(self, name: str, seconds: float) -> bool:
        """Take or renew a lease on ``name`` for ``seconds``; False while another worker holds it."""
        ...

    async def release(self, name: str) -> None:
        """Give back a lease this worker holds."""
        ...

    async def hit(self, key: str, limit: int, window: float = 60.0) -> float | None:
        """Count one use of ``key`` if fewer than ``limit`` were counted in about ``window``
        seconds, by any worker; None when counted, else the seconds until there is room."""
        ...
