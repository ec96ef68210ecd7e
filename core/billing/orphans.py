"""Holds that no live work owns: left open by a process that died while it held them."""

from __future__ import annotations

from core.ports.records import OpenReservation
from core.ports.storage import LedgerStore, VideoJobStore


async def open_holds(
    ledger: LedgerStore, video_jobs: VideoJobStore, *, made_before: float
) -> tuple[list[OpenReservation], list[OpenReservation]]:
    """Every open hold, and those of them that are orphaned.

    A hold is live while a queued video job owns it (the job is followed to its end, also
    after a restart) or while the turn that made it may still run: one made at or after
    ``made_before``. The caller picks that moment: its own start, when no other process can
    hold anything; the longest a turn can take ago, when another may.
    """
    held = await ledger.open_reservations()
    videos = {job.reservation for job in await video_jobs.queued() if job.reservation}
    return held, [r for r in held if r.request_id not in videos and r.created_at < made_before]
