"""Coordination of the workers on one PostgreSQL database (tables of migrations/postgres/0004).

- Liveness: each worker upserts its row of ``workers`` every ``beat_seconds`` from a background
  task; another worker is alive while its ``last_beat`` is recent. Times are the server's, so
  workers on machines whose clocks differ still agree.
- One at a time: ``exclusively`` takes a session-level advisory lock on a connection it holds for
  the block (a worker that dies loses its connection, and with it the lock); ``claim`` is a
  lease in a row, for work that lasts long (a pool connection is not held for minutes).
- Shared limits: ``hit`` is one atomic upsert of a counter per key and minute. Failed Venice
  requests are queued in memory and written, with the other workers' read back, every
  ``failure_seconds`` by a background task: a request never waits for the database for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.storage.postgres.database import Database
from core.errors import StorageUnavailable

log = logging.getLogger(__name__)

# Rows older than this are gone workers and spent counters: deleted as workers beat.
KEEP_SECONDS = 3600.0
FAILURE_KEEP_SECONDS = 300.0

_HIT = """
WITH w AS (
    SELECT extract(epoch FROM clock_timestamp())::double precision AS now,
           (floor(extract(epoch FROM clock_timestamp()) / $3) * $3)::bigint AS start
), room AS (
    -- The limit, less the previous window's count weighted by how much of it is still recent.
    SELECT $2 - floor(coalesce((SELECT hits FROM rate_hits
                                WHERE key = $1 AND window_start = w.start - $3), 0)
                      * (1 - (w.now - w.start) / $3)) AS room
    FROM w
)
INSERT INTO rate_hits AS r (key, window_start, hits)
SELECT $1, w.start, 1 FROM w, room WHERE room.room >= 1
ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1
    WHERE r.hits < (SELECT room FROM room)
RETURNING hits
"""


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name (apart from the migrations' key)."""
    return int.from_bytes(hashlib.sha256(f"venice-bots:{name}".encode()).digest()[:8], "big", signed=True)


class DatabaseFailures:
    """The failure budget's shared part: this worker's failures queued, the others' cached."""

    def __init__(self, worker_id: str) -> None:
        self._worker = worker_id
        self._pending: list[float] = []  # monotonic times of this worker's unwritten failures
        self._others: list[float] = []  # ages of the others' failures when last read
        self._read_at = time.monotonic()

    def record(self) -> None:
        """Count one failure of this worker (written at the next sync)."""
        self._pending.append(time.monotonic())

    def others(self, window: float) -> list[float]:
        """The ages of the other workers' failures within ``window``, as last read."""
        since = time.monotonic() - self._read_at
        return [age + since for age in self._others if age + since < window]

    async def sync(self, db: Database, window: float) -> None:
        """Write the queued failures and read the others' of the last ``window`` seconds."""
        pending, self._pending = self._pending, []
        now = time.monotonic()
        try:
            async with db.connection() as conn:
                if pending:
                    await conn.executemany(
                        "INSERT INTO venice_failures (worker, at) "
                        "VALUES ($1, clock_timestamp() - make_interval(secs => $2))",
                        [(self._worker, now - at) for at in pending],
                    )
                rows = await conn.fetch(
                    "SELECT extract(epoch FROM clock_timestamp() - at)::double precision FROM "
                    "venice_failures WHERE worker <> $1 AND at > clock_timestamp() - make_interval(secs => $2)",
                    self._worker,
                    window,
                )
        except BaseException:
            self._pending[:0] = pending  # written next time
            raise
        self._others = [float(r[0]) for r in rows]
        self._read_at = time.monotonic()


class DatabaseCoordination:
    """This worker's part in the workers' agreement on one PostgreSQL database."""

    def __init__(
        self,
        db: Database,
        *,
        beat_seconds: float = 5.0,
        failure_seconds: float = 1.0,
        failure_window: float = 30.0,
    ) -> None:
        self._db = db
        self._id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._beat_seconds = beat_seconds
        self._failure_seconds = failure_seconds
        self._failure_window = failure_window
        self._failures = DatabaseFailures(self._id)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def worker_id(self) -> str:
        """This worker's id: its host, process and a random part (a restart is a new worker)."""
        return self._id

    @property
    def shared(self) -> bool:
        """Always: other workers may use this database."""
        return True

    @property
    def failures(self) -> DatabaseFailures:
        """The failure budget's shared part."""
        return self._failures

    async def start(self) -> None:
        """Beat once now, then keep beating (and sharing failures) in the background."""
        if self._tasks:
            return
        await self.beat()
        self._tasks = [
            asyncio.create_task(self._every(self._beat_seconds, self.beat), name="worker-beat"),
            asyncio.create_task(
                self._every(self._failure_seconds, self.sync_failures), name="worker-failures"
            ),
        ]

    async def beat(self) -> None:
        """Say this worker is alive now, and clear what gone workers and past minutes left."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO workers (id, host, pid, started_at, last_beat) "
                "VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp()) "
                "ON CONFLICT (id) DO UPDATE SET last_beat = excluded.last_beat",
                self._id,
                socket.gethostname(),
                os.getpid(),
            )
            await conn.execute(
                "DELETE FROM workers WHERE last_beat < clock_timestamp() - make_interval(secs => $1)",
                KEEP_SECONDS,
            )
            await conn.execute(
                "DELETE FROM rate_hits WHERE window_start < extract(epoch FROM clock_timestamp()) - $1",
                KEEP_SECONDS,
            )
            await conn.execute(
                "DELETE FROM venice_failures WHERE at < clock_timestamp() - make_interval(secs => $1)",
                FAILURE_KEEP_SECONDS,
            )
            await conn.execute("DELETE FROM leases WHERE until < clock_timestamp() - interval '1 hour'")

    async def sync_failures(self) -> None:
        """Write this worker's failures and read the others' (the failure budget's refresh)."""
        await self._failures.sync(self._db, self._failure_window)

    async def _every(self, seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except StorageUnavailable:
                pass  # reported where it arose; the next round tries again
            except Exception:  # a failed round must not stop the next one
                log.exception("Worker coordination round failed")

    async def stop(self) -> None:
        """Stop beating and say this worker is gone (the others need not wait for its beat to age)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            with contextlib.suppress(Exception):
                await self._failures.sync(self._db, self._failure_window)
                await self._db.execute("DELETE FROM workers WHERE id = $1", self._id)

    async def others_alive(self, within: float) -> bool:
        """Whether another worker beat within the last ``within`` seconds."""
        return bool(
            await self._db.fetchval(
                "SELECT exists (SELECT 1 FROM workers WHERE id <> $1 "
                "AND last_beat > clock_timestamp() - make_interval(secs => $2))",
                self._id,
                within,
            )
        )

    @contextlib.asynccontextmanager
    async def exclusively(self, name: str) -> AsyncIterator[bool]:
        """Hold ``name``'s advisory lock for the block if free; yields whether this worker got it."""
        key = _lock_key(name)
        async with self._db.dedicated() as conn:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            if not got:
                yield False
                return
            try:
                yield True
            finally:
                # A connection that died took the lock with it; nothing more to give back.
                with contextlib.suppress(Exception):
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", key)

    async def claim(self, name: str, seconds: float) -> bool:
        """Take or renew the lease on ``name`` for ``seconds``; False while another worker holds it."""
        holder = await self._db.fetchval(
            "INSERT INTO leases AS l (name, holder, until) "
            "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until "
            "WHERE l.holder = excluded.holder OR l.until < clock_timestamp() RETURNING holder",
            name,
            self._id,
            seconds,
        )
        return holder is not None

    async def release(self, name: str) -> None:
        """Give back the lease on ``name`` if this worker holds it."""
        await self._db.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, self._id)

    async def hit(self, key: str, limit: int, window: float = 60.0) -> float | None:
        """Count one use of ``key`` if there is room under ``limit`` (one upsert); else the
        seconds until the current window ends."""
        seconds = max(1, round(window))
        if await self._db.fetchval(_HIT, key, limit, seconds) is not None:
            return None
        now = time.time()  # only for the wait shown to the user
        return seconds - now % seconds
