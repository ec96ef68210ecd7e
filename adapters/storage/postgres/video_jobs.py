"""Video and music jobs in PostgreSQL, so a job queued at Venice is finished after a restart."""

from __future__ import annotations

from typing import Any

from adapters.storage.postgres.database import Database
from adapters.storage.rows import VIDEO_JOB_COLUMNS, video_job, video_job_values
from core.ports.records import VideoJob, VideoJobStatus

_PLACES = ", ".join(f"${n}" for n in range(1, len(VIDEO_JOB_COLUMNS.split(", ")) + 1))
# The columns ``move`` may change: their names go into the SQL, so only these are taken.
_MOVABLE = frozenset(VIDEO_JOB_COLUMNS.split(", ")) - {"id", "status"}


class VideoJobStore:
    """Create, read and move video jobs through their states.

    ``move`` changes a job only from the state it is in, in one statement: of several
    workers resuming the same job, exactly one moves it.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, job: VideoJob) -> None:
        """Store a new (quoted) job."""
        await self._db.execute(
            f"INSERT INTO video_jobs ({VIDEO_JOB_COLUMNS}) VALUES ({_PLACES})", *video_job_values(job)
        )

    async def get(self, job_id: str) -> VideoJob | None:
        """One job by id."""
        row = await self._db.fetchrow(f"SELECT {VIDEO_JOB_COLUMNS} FROM video_jobs WHERE id = $1", job_id)
        return video_job(row) if row else None

    async def move(
        self, job_id: str, from_status: VideoJobStatus, to_status: VideoJobStatus, **fields: Any
    ) -> bool:
        """Change a job's state if it is still in ``from_status`` (False: someone else did)."""
        unknown = set(fields) - _MOVABLE
        if unknown:
            raise ValueError(f"video_jobs has no column {', '.join(sorted(unknown))}")
        sets = "".join(f", {name} = ${n}" for n, name in enumerate(fields, start=4))
        changed = await self._db.execute(
            f"UPDATE video_jobs SET status = $1{sets} WHERE id = $2 AND status = $3",
            to_status,
            job_id,
            from_status,
            *fields.values(),
        )
        return changed == 1

    async def queued(self) -> list[VideoJob]:
        """Jobs running at Venice (to resume after a restart)."""
        rows = await self._db.fetch(
            f"SELECT {VIDEO_JOB_COLUMNS} FROM video_jobs WHERE status = 'queued' ORDER BY queued_at"
        )
        return [video_job(row) for row in rows]
