"""How a result that outlived its request (a video, a track finished after a restart) reaches
its chat: each running adapter registers its way to post one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.events import Destination, Reply

log = logging.getLogger(__name__)


class Deliverers(dict[str, Callable[[Destination, Reply], Awaitable[None]]]):
    """Each running adapter's way to post a late result; waiters learn when one registers."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __setitem__(self, platform: str, deliver: Callable[[Destination, Reply], Awaitable[None]]) -> None:
        super().__setitem__(platform, deliver)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self, platform: str, timeout: float
    ) -> Callable[[Destination, Reply], Awaitable[None]] | None:
        """The platform's deliverer, waiting up to ``timeout`` seconds for it to register."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while platform not in self:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self[platform]

    async def send(self, destination: Destination, reply: Reply, what: str, *, wait: float) -> bool:
        """Post ``reply`` through its platform's deliverer, waiting up to ``wait`` seconds for one
        to register; returns whether it was sent. ``what`` names it in the log."""
        deliver = await self.wait_for(destination.platform, wait)
        if deliver is None:
            log.warning("%s is done but no %s adapter is running to deliver it", what, destination.platform)
            return False
        try:
            await deliver(destination, reply)
        except Exception:
            log.exception("Delivering %s failed", what)
            return False
        return True
