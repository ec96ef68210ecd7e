"""One SQLite connection (aiosqlite) with WAL, foreign keys and a busy timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from adapters.private_files import create_private, private_dir
from core.errors import ConfigurationError, StorageUnavailable

log = logging.getLogger(__name__)

# SQLite's primary result codes (the low byte of an extended code) that mean the database
# cannot save at all, whatever is asked: the operator must act. SQLITE_BUSY and SQLITE_LOCKED
# (another writer) are not among them: they pass, and are retried or fail on their own.
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL: StorageUnavailable.DISK_FULL,
    sqlite3.SQLITE_READONLY: StorageUnavailable.READ_ONLY,
    sqlite3.SQLITE_IOERR: StorageUnavailable.IO_ERROR,
    sqlite3.SQLITE_CANTOPEN: StorageUnavailable.CANNOT_OPEN,
}


def sqlite_path(database_url: str) -> str:
    """Turn ``sqlite:///relative.db`` / ``sqlite:////abs.db`` / ``sqlite:///:memory:`` into a path."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise ConfigurationError(
            f"DATABASE_URL must start with {prefix!r} (e.g. sqlite:///data/venice-bots.db); "
            f"got a URL with scheme {database_url.split(':', 1)[0]!r}."
        )
    path = database_url[len(prefix) :]
    if not path:
        raise ConfigurationError("DATABASE_URL names no file (e.g. sqlite:///data/venice-bots.db).")
    return path


class Database:
    """A serialised async SQLite connection.

    SQLite has one writer at a time anyway; one connection behind an ``asyncio.Lock`` keeps
    statements of concurrent conversations from interleaving inside each other's transactions.
    Inside a transaction, what the task that opened it asks of the database (through any
    store) joins it: that is how several stores write one unit, all of it or none.
    """

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self._conn = connection
        self.path = path
        self._lock = asyncio.Lock()
        self._watchers: list[Callable[[StorageUnavailable], None]] = []
        # The task whose transaction is open. Tasks it starts inherit the variable but are
        # other tasks: they wait for the lock like everyone else.
        self._holder: ContextVar[asyncio.Task[object] | None] = ContextVar(f"sqlite-{id(self)}", default=None)

    def in_transaction(self) -> bool:
        """Whether this task has a transaction open (what it writes now joins it)."""
        holder = self._holder.get()
        return holder is not None and holder is asyncio.current_task()

    def _locked(self) -> AbstractAsyncContextManager[object]:
        return nullcontext() if self.in_transaction() else self._lock

    def watch_unavailable(self, report: Callable[[StorageUnavailable], None]) -> None:
        """Call ``report`` with every ``StorageUnavailable`` this database raises."""
        self._watchers.append(report)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: str, *, busy_timeout_ms: int = 5000, read_only: bool = False
    ) -> AsyncIterator[Database]:
        """Open (creating the folder), set the pragmas, and close on exit.

        ``read_only`` opens an existing file and writes nothing at all: no folder, no file,
        no schema change, not even the WAL's ``-shm`` and ``-wal`` files.
        """
        if read_only:
            target, uri = _read_only_uri(path), True
        else:
            if path != ":memory:":
                private_dir(Path(path).parent)
                # SQLite gives its -wal and -shm files the database file's mode: 0600 for all three.
                create_private(Path(path))
            target, uri = path, False
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # what `transaction()` spans and nothing is committed implicitly.
        conn = await aiosqlite.connect(target, isolation_level=None, uri=uri)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not read_only:
                await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            # Deleted rows are overwritten with zeros, not left in free pages: what /forget
            # and retention delete is gone from the file (checkpoint() clears the WAL too).
            await conn.execute("PRAGMA secure_delete = ON")
            yield cls(conn, path)
        finally:
            await conn.close()

    @asynccontextmanager
    async def transaction(self, *, begin: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """Run statements atomically: all are committed, or none on an exception.

        ``begin=False`` is for a single statement, which SQLite already runs atomically: it
        saves the BEGIN and COMMIT round trips on the hot path.
        """
        if self.in_transaction():  # a part of the transaction this task has open
            yield self._conn
            return
        async with self._lock:
            with self._saving():
                if not begin:
                    yield self._conn
                    return
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    token = self._holder.set(asyncio.current_task())
                    try:
                        yield self._conn
                    finally:
                        self._holder.reset(token)
                    await self._conn.execute("COMMIT")
                except BaseException:
                    # SQLite ends the transaction itself after some errors (a full disk, an
                    # I/O error): a ROLLBACK then would fail and hide the error.
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Run a query and return every row (one trip to the database thread)."""
        async with self._locked():
            with self._saving():
                return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """Run a query and return the first row, if any."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement on its own (atomic by itself); return the rows it changed."""
        async with self._locked():
            with self._saving():
                cursor = await self._conn.execute(sql, tuple(params))
            return cursor.rowcount

    async def executescript(self, script: str) -> None:
        """Run a script of several statements (used by migrations)."""
        async with self._lock:
            with self._saving():
                try:
                    await self._conn.executescript(script)
                except BaseException:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise

    async def checkpoint(self) -> None:
        """Copy the WAL into the database and empty it, so deleted content leaves the WAL too."""
        async with self._lock:
            with self._saving():
                await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def _saving(self) -> Iterator[None]:
        """Turn SQLite's "cannot save" errors (full disk, read-only, I/O) into
        ``StorageUnavailable``; any other error passes through as it is."""
        try:
            yield
        except sqlite3.Error as exc:
            self._raise_unavailable(exc)
            raise

    def _raise_unavailable(self, exc: sqlite3.Error) -> None:
        """Raise the ``StorageUnavailable`` an SQLite error means; return for any other error.

        Logged as one warning line per failed operation, without a traceback (the cause is
        the disk, not the code), and reported to the watchers.
        """
        code = getattr(exc, "sqlite_errorcode", None)
        cause = _UNAVAILABLE.get(code & 0xFF) if isinstance(code, int) else None
        if cause is None:
            return
        name = getattr(exc, "sqlite_errorname", "")
        error = StorageUnavailable(cause, where=self.path, detail=f"{exc} ({name})")
        log.warning("The database %s cannot save (%s): %s (%s)", self.path, cause, exc, name)
        for report in self._watchers:
            report(error)
        raise error from exc

    async def integrity_problems(self, limit: int = 5) -> list[str]:
        """What SQLite's quick integrity check finds, up to ``limit`` lines (["ok"]: nothing)."""
        return [str(row[0]) for row in await self.fetchall(f"PRAGMA quick_check({int(limit)})")]

    async def pragma(self, name: str) -> Any:
        """Read one pragma's value."""
        row = await self.fetchone(f"PRAGMA {name}")
        return None if row is None else row[0]


def is_wal_file(path: str) -> bool:
    """Whether a database file is in WAL mode, read from its header (bytes 18 and 19 are 2)."""
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header[18:20] == b"\x02\x02"


def _read_only_uri(path: str) -> str:
    # mode=ro still creates a WAL database's -wal and -shm files when they are missing, and
    # leaves them behind. Without a -shm file no connection has the database open, so it
    # cannot change while it is read: "immutable" then reads it without creating anything.
    # (A -shm file that exists is used as it is: the bot may be running.)
    fresh = is_wal_file(path) and not os.path.exists(f"{path}-shm")
    return f"file:{quote(os.path.abspath(path))}?{'immutable=1' if fresh else 'mode=ro'}"
