"""Rows to records and back, the same for every backend (no SQL here: only the column order
both backends select in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from core.ports.records import ConversationCount, DayFigures, KnownUser, LedgerTotals, VideoJob


class Row(Protocol):
    """A row as either driver returns it (sqlite3.Row, asyncpg.Record): read by position."""

    def __getitem__(self, index: int, /) -> Any: ...


VIDEO_JOB_COLUMNS = (
    "id, status, platform, chat_id, thread_id, user_id, owner, model, request, quote, "
    "reservation, queue_id, created_at, queued_at, finished_at, kind"
)


def video_job_values(job: VideoJob) -> tuple[Any, ...]:
    """A job's values in the order of ``VIDEO_JOB_COLUMNS`` (its request as JSON text)."""
    return (
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
        job.kind,
    )


def video_job(row: Row) -> VideoJob:
    """A job from a row of ``VIDEO_JOB_COLUMNS``."""
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
        kind=row[15],
    )


def known_user(row: Row) -> KnownUser:
    """A user from a row of (id, platform, platform_user_id, display_name, created_at, last
    message, owner, owner's platform:id)."""
    return KnownUser(
        id=int(row[0]),
        platform=str(row[1]),
        platform_user_id=str(row[2]),
        display_name=row[3],
        first_seen=float(row[4]),
        last_message=None if row[5] is None else float(row[5]),
        owner=str(row[6]),
        owner_name=row[7],
    )


def search_pattern(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its wildcards escaped (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


DAY = 86_400  # seconds in a UTC day: Unix time has no leap seconds, so day n starts at n * DAY


def day_start(moment: float) -> float:
    """The start of the UTC day that holds ``moment``."""
    return float(int(moment // DAY) * DAY)


def day_figures(row: Row) -> DayFigures:
    """A day's figures from a row of (day number since the epoch, spent, turns, actions)."""
    day = datetime.fromtimestamp(int(row[0]) * DAY, UTC).strftime("%Y-%m-%d")
    return DayFigures(day, int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


def ledger_totals(by_feature: list[Row], overall: Row) -> LedgerTotals:
    """The totals from rows of (feature, charged, actions) and one of (granted, held, accounts)."""
    return LedgerTotals(
        charged={str(row[0]): int(row[1] or 0) for row in by_feature},
        actions={str(row[0]): int(row[2] or 0) for row in by_feature},
        granted=int(overall[0] or 0),
        open_holds=int(overall[1] or 0),
        accounts=int(overall[2] or 0),
    )


def conversation_count(row: Row) -> ConversationCount:
    """A chat's count from a row of (platform, chat_id, messages, newest message time)."""
    return ConversationCount(str(row[0]), str(row[1]), int(row[2]), float(row[3]))
