"""The ledger's writer: entries appended in order, many per transaction under load."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from adapters.storage.sqlite.database import Database
from core.errors import StorageUnavailable

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO ledger_entries (account_id, kind, amount, request_id, feature, actor, note, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

Row = tuple[int, str, int, str | None, str | None, str | None, str | None, float]


class GroupCommit:
    """Append entries, many per transaction when many requests arrive at once.

    Alone, an entry is one statement (one trip to the database thread, one commit). Entries
    that queue up meanwhile are written together: one transaction, one ``executemany``, one
    commit. A row the triggers refuse fails alone (the trigger's ABORT undoes only its own
    statement); the rest of the batch goes on. Results are given out only after the commit.
    """

    SMALL_BATCH = 4  # up to this many rows: one executemany without BEGIN/COMMIT (one trip)

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        # Queued entries the database could not save (a full disk): they go with the next write.
        self._unsaved: list[Row] = []
        self._writing = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def append(self, row: Row) -> None:
        """Write one entry; return once it is committed (or raise why it was refused).

        Inside a transaction of the caller's, the entry joins it, written at once: a batch
        waiting for the database would wait for that very transaction to end.
        """
        if self._db.in_transaction():
            await self._db.execute(_INSERT, row)
            return
        future = self._queue(row)
        if not self._writing:
            await self._drain()
        await future

    def append_later(self, row: Row) -> None:
        """Queue an entry without waiting: it is written before any entry queued after it.

        For settlements: the next write of the same user often comes right behind and
        shares its trip to the database thread. A refusal is only logged; an entry the
        database could not save at all is written with the next entry, once it can. Inside
        a transaction of the caller's, use ``append``.
        """
        self._queue_later(row)
        if not self._writing:
            self._writing = True  # taken now, so entries queued meanwhile join this batch
            self._idle.clear()
            asyncio.get_running_loop().create_task(self._drain(started=True))

    async def flush(self) -> None:
        """Wait until every queued entry is written (reads call this first).

        Inside a transaction of the caller's it returns at once (the writer waits for that
        transaction to end): such a read sees what was committed before it.
        """
        if self._db.in_transaction():
            return
        if self._pending and not self._writing:
            await self._drain()
        await self._idle.wait()

    def _queue(self, row: Row) -> asyncio.Future[None]:
        retry, self._unsaved = self._unsaved, []
        for earlier in retry:  # before this one: entries keep their order
            self._queue_later(earlier)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        return future

    def _queue_later(self, row: Row) -> None:
        future = self._queue(row)
        future.add_done_callback(lambda done: self._refused(row, done))

    def _refused(self, row: Row, future: asyncio.Future[None]) -> None:
        """Log why a queued entry was refused; keep one the database could not save for later."""
        if future.cancelled() or future.exception() is None:
            return
        if isinstance(future.exception(), StorageUnavailable):
            self._unsaved.append(row)  # the database logged it already
            return
        log.warning("A queued ledger entry was refused: %s", future.exception())

    async def _drain(self, *, started: bool = False) -> None:
        if not started:
            self._writing = True
            self._idle.clear()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write(batch)
        finally:
            self._writing = False
            self._idle.set()

    async def _write(self, batch: list[tuple[Row, asyncio.Future[None]]]) -> None:
        if len(batch) == 1:
            row, future = batch[0]
            try:
                await self._db.execute(_INSERT, row)
                future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - handed to the one waiting caller
                future.set_exception(exc)
            return
        outcomes: list[BaseException | None] = []
        failed: BaseException | None = None
        # A few rows: each commits on its own, in one trip. More: one transaction.
        atomic = len(batch) > self.SMALL_BATCH
        try:
            async with self._db.transaction(begin=atomic) as conn:
                rest = batch
                while rest:
                    before = conn.total_changes
                    try:
                        await conn.executemany(_INSERT, [row for row, _ in rest])
                        outcomes.extend([None] * len(rest))
                        rest = []
                    except sqlite3.Error as exc:
                        # Each applied row changed two rows (the entry, and the account's
                        # balance through the trigger); the next row is the one that failed.
                        applied = (conn.total_changes - before) // 2
                        outcomes.extend([None] * applied)
                        if not isinstance(exc, sqlite3.IntegrityError):
                            raise  # e.g. a full disk: the rows after it are not written either
                        outcomes.append(exc)
                        rest = rest[applied + 1 :]
        except Exception as exc:  # noqa: BLE001 - handed to the callers of the rows not written
            failed = exc
            if atomic:
                outcomes = []  # the transaction was rolled back: nothing was written
            # Without a transaction the rows before the failure are committed: they succeeded.
        for index, (_, future) in enumerate(batch):
            outcome = outcomes[index] if index < len(outcomes) else failed
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
