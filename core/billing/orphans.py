"""Holds that no live work owns: left open by a process that died while it held them."""

from __future__ import annotations

import time

from core.ports.records import OpenReservation
from core.ports.storage import LedgerStore, VideoJobStore


async def open_holds(
    ledger: LedgerStore, video_jobs: VideoJobStore, *, others_running: bool, lease: float
) -> tuple[list[OpenReservation], list[OpenReservation]]:
    """Every open hold, and those of them that are orphaned.

    A hold is live while a queued video job owns it (the job is followed to its end, also
    after a restart) or while the turn that made it may still run. When no other process
    serves the database (``others_running`` False), none can: the caller is the only one.
    Otherwise a turn lasts at most ``lease`` seconds, so a younger hold may be a live turn's.
    """
    now = time.time()  # the ledger's clock
    made_before = now - lease if others_running else now
    held = await ledger.open_reservations()
    videos = {job.reservation for job in await video_jobs.queued() if job.reservation}
    return held, [r for r in held if r.request_id not in videos and r.created_at < made_before]
