"""Video jobs in SQLite, so a job queued at Venice is finished after a restart."""

from __future__ import annotations

import json
from typing import Any

from adapters.storage.sqlite.database import Database
from core.ports.records import VideoJob, VideoJobStatus

_COLUMNS = (
    "id, status, platform, chat_id, thread_id, user_id, owner, model, request, quote, "
    "reservation, queue_id, created_at, queued_at, finished_at"
)


class VideoJobStore:
    """Create, read and move video jobs through their states."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, job: VideoJob) -> None:
        """Store a new (quoted) job."""
        await self._db.execute(
            f"INSERT INTO video_jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.status,
                job.platform,
                job.chat_id,
                job.thread_id,
                job.user_id,
                job.owner,
                job.model,
                json.dumps(job.request),
                job.quote,
                job.reservation,
                job.queue_id,
                job.created_at,
                job.queued_at,
                job.finished_at,
            ),
        )

    async def get(self, job_id: str) -> VideoJob | None:
        """One job by id."""
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM video_jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def move(
        self, job_id: str, from_status: VideoJobStatus, to_status: VideoJobStatus, **fields: Any
    ) -> bool:
        """Change a job's state if it is still in ``from_status`` (False: someone else did)."""
        sets = ", ".join(f"{name} = ?" for name in fields)
        sql = f"UPDATE video_jobs SET status = ?{', ' + sets if sets else ''} WHERE id = ? AND status = ?"
        async with self._db.transaction() as conn:
            cursor = await conn.execute(sql, (to_status, *fields.values(), job_id, from_status))
            return cursor.rowcount == 1

    async def queued(self) -> list[VideoJob]:
        """Jobs running at Venice (to resume after a restart)."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM video_jobs WHERE status = 'queued' ORDER BY queued_at", ()
        )
        return [_job(row) for row in rows]


def _job(row: Any) -> VideoJob:
    return VideoJob(
        id=row[0],
        status=row[1],
        platform=row[2],
        chat_id=row[3],
        thread_id=row[4],
        user_id=row[5],
        owner=row[6],
        model=row[7],
        request=json.loads(row[8]),
        quote=int(row[9]),
        reservation=row[10],
        queue_id=row[11],
        created_at=float(row[12]),
        queued_at=row[13],
        finished_at=row[14],
    )
