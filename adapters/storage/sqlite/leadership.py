"""Leadership on SQLite: one process serves the database, so it leads every role."""

from __future__ import annotations


class SoleLeadership:
    """The only worker: it always leads."""

    shared = False

    async def lead(self, role: str) -> bool:
        """Lead ``role``: nobody else can."""
        return True

    async def step_down(self, role: str) -> None:
        """Nothing to give up: no other worker would take it."""
