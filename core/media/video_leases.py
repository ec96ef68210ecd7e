"""Which worker follows each queued job (a video, a track): the one holding its lease.

With several workers on one database each queued job is followed by one: the lease is taken
before the job is queued at Venice (or when a worker resumes it), renewed every third of its
length while the worker polls and delivers, and given back at the end. A worker that dies leaves
its leases to run out, and another one resumes the jobs (``QueuedJobs.start``). A lease is a row,
not a held connection: a job may take many minutes, and a pool has few connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from core.ports.coordination import Coordination
from core.ports.records import JobKind

log = logging.getLogger(__name__)

VIDEO_LEASE = 120.0


class VideoLeases:
    """The jobs of one kind this worker follows, and their leases."""

    def __init__(self, workers: Coordination, kind: JobKind = "video") -> None:
        self.workers = workers
        self.kind = kind
        self._following: set[str] = set()

    async def take(self, job_id: str) -> bool:
        """Take a job to follow; False when this worker or another one follows it already."""
        if job_id in self._following or not await self.workers.claim(self._lease(job_id), VIDEO_LEASE):
            return False
        self._following.add(job_id)
        return True

    async def keep(self, job_id: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work()`` on a taken job, renewing its lease; give it back at the end."""
        renewing = asyncio.create_task(self._renewing(job_id)) if self.workers.shared else None
        try:
            await work()
        finally:
            if renewing is not None:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)
            await self.give_back(job_id)

    async def give_back(self, job_id: str) -> None:
        """Stop following a job and release its lease (it runs out by itself if that fails)."""
        self._following.discard(job_id)
        try:
            await self.workers.release(self._lease(job_id))
        except Exception:  # it runs out by itself
            log.warning("Could not give back the lease on %s job %s", self.kind, job_id, exc_info=True)

    async def give_back_all(self) -> None:
        """Release every lease still held (jobs stopped before their follower began), so another
        worker, or the next start, resumes them at once."""
        for job_id in list(self._following):
            await self.give_back(job_id)

    async def _renewing(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(VIDEO_LEASE / 3)
            try:
                if not await self.workers.claim(self._lease(job_id), VIDEO_LEASE):
                    log.warning("%s job %s was taken over by another worker", self.kind, job_id)
            except Exception:  # the next renewal tries again, well before the lease runs out
                log.warning("Could not renew the lease on %s job %s", self.kind, job_id, exc_info=True)

    def _lease(self, job_id: str) -> str:
        return f"{self.kind}-job:{job_id}"
