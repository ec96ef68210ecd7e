"""A pool of asyncpg connections to PostgreSQL, with transactions that stores share.

Several workers (processes) use one database; each has a pool of ``DATABASE_POOL_SIZE``
connections. A statement outside a transaction borrows a connection for itself. Inside
``transaction()`` the task that opened it holds one connection, and what it asks of the
database (through any store) joins that transaction: that is how several stores write one
unit, all of it or none. Tasks it starts are other tasks and borrow their own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from core.errors import ConfigurationError, StorageUnavailable

log = logging.getLogger(__name__)

# What stores write through: a pooled connection (held by a transaction, or borrowed for one statement).
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

SCHEMES = ("postgresql://", "postgres://")

# SQLSTATEs that mean the server cannot save, whatever is asked: the operator must act.
_UNAVAILABLE = {
    "53100": StorageUnavailable.DISK_FULL,  # disk_full
    "25006": StorageUnavailable.READ_ONLY,  # read_only_sql_transaction (a standby, or read-only)
    "58030": StorageUnavailable.IO_ERROR,  # io_error
    "53000": StorageUnavailable.CANNOT_OPEN,  # insufficient_resources
    "53300": StorageUnavailable.CANNOT_OPEN,  # too_many_connections
    "57P03": StorageUnavailable.CANNOT_OPEN,  # cannot_connect_now (starting up, shutting down)
}


def is_postgres_url(url: str) -> bool:
    """Whether DATABASE_URL names a PostgreSQL database."""
    return url.startswith(SCHEMES)


def safe_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    where = f"{host}:{parts.port}" if parts.port else host
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{where}{parts.path}"


class Database:
    """A connection pool; ``transaction()`` spans one held connection for its task."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.where = safe_url(url)
        self._watchers: list[Callable[[StorageUnavailable], None]] = []
        self._held: ContextVar[tuple[asyncio.Task[Any], Connection] | None] = ContextVar(
            f"postgres-{id(self)}", default=None
        )

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, *, pool_size: int = 10) -> AsyncIterator[Database]:
        """Open a pool of up to ``pool_size`` connections, and close it on exit."""
        if not is_postgres_url(url):
            raise ConfigurationError(
                f"DATABASE_URL must start with postgresql:// or postgres:// here; got {safe_url(url)}."
            )
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, command_timeout=60)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConfigurationError(
                f"Cannot connect to PostgreSQL at {safe_url(url)}: {exc}. Check DATABASE_URL, that the "
                "server runs and accepts this user from here."
            ) from exc
        try:
            yield cls(pool, url)
        finally:
            await pool.close()

    def watch_unavailable(self, report: Callable[[StorageUnavailable], None]) -> None:
        """Call ``report`` with every ``StorageUnavailable`` this database raises."""
        self._watchers.append(report)

    def _holding(self) -> Connection | None:
        held = self._held.get()
        return held[1] if held is not None and held[0] is asyncio.current_task() else None

    def in_transaction(self) -> bool:
        """Whether this task has a transaction open (what it writes now joins it)."""
        return self._holding() is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Run statements atomically: all are committed, or none on an exception."""
        held = self._holding()
        if held is not None:  # a part of the transaction this task has open
            yield held
            return
        task = asyncio.current_task()
        assert task is not None
        with self._saving():
            async with self._pool.acquire() as conn, conn.transaction():
                token = self._held.set((task, conn))
                try:
                    yield conn
                finally:
                    self._held.reset(token)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """The transaction's connection, or one borrowed from the pool for a statement or two."""
        held = self._holding()
        if held is not None:
            yield held
            return
        with self._saving():
            async with self._pool.acquire() as conn:
                yield conn

    @asynccontextmanager
    async def dedicated(self) -> AsyncIterator[Connection]:
        """A connection of its own from the pool, never the task's transaction (a session-level
        advisory lock lives on it)."""
        with self._saving():
            async with self._pool.acquire() as conn:
                yield conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run a query and return every row."""
        async with self.connection() as conn:
            with self._saving():
                return list(await conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """Run a query and return its first row, if any."""
        async with self.connection() as conn:
            with self._saving():
                return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query and return the first column of its first row."""
        async with self.connection() as conn:
            with self._saving():
                return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the rows it changed (from the command tag)."""
        async with self.connection() as conn:
            with self._saving():
                status = await conn.execute(sql, *args)
        return _rowcount(status)

    async def executemany(self, sql: str, args: list[tuple[Any, ...]]) -> None:
        """Run one statement for each set of arguments (one round trip, in the transaction if any)."""
        async with self.connection() as conn:
            with self._saving():
                await conn.executemany(sql, args)

    @contextlib.contextmanager
    def _saving(self) -> Iterator[None]:
        """Turn the server's "cannot save" errors (full disk, read-only, cannot connect) into
        ``StorageUnavailable``; any other error passes through as it is."""
        try:
            yield
        except asyncpg.PostgresError as exc:
            cause = _UNAVAILABLE.get(getattr(exc, "sqlstate", "") or "")
            if cause is not None:
                self._unavailable(cause, exc)
            raise
        except (OSError, asyncpg.InterfaceError) as exc:  # the server went away
            if isinstance(exc, asyncpg.InterfaceError) and "another operation" in str(exc):
                raise  # a bug (two statements on one connection at once), not the server
            self._unavailable(StorageUnavailable.CANNOT_OPEN, exc)
            raise

    def _unavailable(self, cause: str, exc: BaseException) -> None:
        error = StorageUnavailable(cause, where=self.where, detail=f"{type(exc).__name__}: {exc}")
        log.warning("PostgreSQL at %s cannot save: %s (%s)", self.where, cause, exc)
        for report in self._watchers:
            report(error)
        raise error from exc


def _rowcount(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1] if status else ""
    return int(last) if last.isdigit() else 0
