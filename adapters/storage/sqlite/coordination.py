"""Coordination for one SQLite process: it is the only worker, so everything is its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.ports.coordination import SharedFailures


class SoleWorker:
    """The one process on a SQLite database: always alone, always granted.

    Limits stay in-process (``shared`` is False, so the guards keep their own counts and
    ``hit`` is never asked); ``hit`` answers as if no other worker existed anyway.
    """

    def __init__(self) -> None:
        self._id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    @property
    def worker_id(self) -> str:
        """This process's id."""
        return self._id

    @property
    def shared(self) -> bool:
        """Never: SQLite is one process's database."""
        return False

    @property
    def failures(self) -> SharedFailures | None:
        """None: the process's failure count is the whole count."""
        return None

    async def start(self) -> None:
        """Nothing to announce (the file heartbeat tells ``venice-bots health``)."""

    async def others_alive(self, within: float) -> bool:
        """Never: no other worker serves this database."""
        return False

    @asynccontextmanager
    async def exclusively(self, name: str) -> AsyncIterator[bool]:
        """Always granted: nobody else could hold it."""
        yield True

    async def claim(self, name: str, seconds: float) -> bool:
        """Always granted."""
        return True

    async def release(self, name: str) -> None:
        """Nothing held elsewhere to give back."""

    async def hit(self, key: str, limit: int, window: float = 60.0) -> float | None:
        """Always counted (the guards count in-process on SQLite)."""
        return None
