"""Video and music jobs in SQLite, so a job queued at Venice is finished after a restart."""

from __future__ import annotations

from typing import Any

from adapters.storage.rows import VIDEO_JOB_COLUMNS, video_job, video_job_values
from adapters.storage.sqlite.database import Database
from core.ports.records import VideoJob, VideoJobStatus

_PLACES = ", ".join("?" for _ in VIDEO_JOB_COLUMNS.split(", "))


class VideoJobStore:
    """Create, read and move video jobs through their states."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, job: VideoJob) -> None:
        """Store a new (quoted) job."""
        await self._db.execute(
            f"INSERT INTO video_jobs ({VIDEO_JOB_COLUMNS}) VALUES ({_PLACES})",
            video_job_values(job),
        )

    async def get(self, job_id: str) -> VideoJob | None:
        """One job by id."""
        row = await self._db.fetchone(f"SELECT {VIDEO_JOB_COLUMNS} FROM video_jobs WHERE id = ?", (job_id,))
        return video_job(row) if row else None

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
            f"SELECT {VIDEO_JOB_COLUMNS} FROM video_jobs WHERE status = 'queued' ORDER BY queued_at", ()
        )
        return [video_job(row) for row in rows]
