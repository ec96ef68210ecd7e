"""What the core needs to pick one worker for a job only one may do at a time (polling Telegram)."""

from __future__ import annotations

from typing import Protocol


class Leadership(Protocol):
    """One leader per role among the workers sharing a store; the others wait their turn."""

    @property
    def shared(self) -> bool:
        """Whether other workers may share the store (if not, this process always leads)."""
        ...

    async def lead(self, role: str) -> bool:
        """Become (or stay) the one worker doing ``role``; False while another does it.

        A leader that stops answering (its process died, its connection broke) loses the role
        and the next call of another worker gets it."""
        ...

    async def step_down(self, role: str) -> None:
        """Give ``role`` up, so another worker takes it on its next try."""
        ...
