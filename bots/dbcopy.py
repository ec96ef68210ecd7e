"""``venice-bots db copy SRC_URL DST_URL``: every table from SQLite into an empty PostgreSQL, or back.

Both databases are brought to this version's schema first (each engine has its own migrations:
the tables and columns must then match, which the copy checks before it writes anything). Tables are copied parents first (the
order the source's foreign keys give), in batches, with a progress line on stderr; ids are copied
as they are, and PostgreSQL's identity sequences are moved past them afterwards. The copy refuses
a target that holds any row, and ends by comparing each table's row count on both sides.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TextIO

from adapters.storage.postgres import database as pg
from adapters.storage.postgres import migrations as pg_migrations
from adapters.storage.sqlite import database as sq
from adapters.storage.sqlite import migrations as sq_migrations
from core.errors import ConfigurationError, InvalidInput

BATCH = 1_000
# Each database keeps its own; the workers' shared state (PostgreSQL's 0004_workers) is no data.
SKIPPED = {"schema_migrations", "sqlite_sequence", "workers", "rate_hits", "venice_failures", "leases"}


@dataclass(frozen=True)
class Table:
    """A table to copy, with the columns both sides have (source order)."""

    name: str
    columns: tuple[str, ...]


class SqliteSide:
    """A SQLite database as a source or a target."""

    def __init__(self, db: sq.Database) -> None:
        self.db = db
        self.where = db.path

    async def tables(self) -> list[str]:
        """Table names, parents before the tables whose foreign keys point at them."""
        rows = await self.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        names = [str(r[0]) for r in rows if str(r[0]) not in SKIPPED and not str(r[0]).startswith("sqlite_")]
        parents = {
            name: {str(f[2]) for f in await self.db.fetchall(f'PRAGMA foreign_key_list("{name}")')} - {name}
            for name in names
        }
        ordered: list[str] = []
        while len(ordered) < len(names):
            ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
            if not ready:
                raise ConfigurationError(
                    f"The tables' foreign keys form a cycle: {sorted(set(names) - set(ordered))}."
                )
            ordered += ready
        return ordered

    async def columns(self, table: str) -> list[str]:
        return [str(r[1]) for r in await self.db.fetchall(f'PRAGMA table_info("{table}")')]

    async def count(self, table: str) -> int:
        row = await self.db.fetchone(f'SELECT COUNT(*) FROM "{table}"')
        return int(row[0]) if row else 0

    async def read(self, table: Table) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows in batches, in rowid order (keyset: each batch is one indexed range)."""
        columns = ", ".join(f'"{c}"' for c in table.columns)
        if await self._without_rowid(table.name):  # a small key-value table (bot_state): at once
            rows = await self.db.fetchall(f'SELECT {columns} FROM "{table.name}"')
            for start in range(0, len(rows), BATCH):
                yield [tuple(r) for r in rows[start : start + BATCH]]
            return
        last = None
        while True:
            where = "" if last is None else "WHERE rowid > ?"
            rows = await self.db.fetchall(
                f'SELECT rowid, {columns} FROM "{table.name}" {where} ORDER BY rowid LIMIT {BATCH}',
                () if last is None else (last,),
            )
            if not rows:
                return
            last = rows[-1][0]
            yield [tuple(r[1:]) for r in rows]

    async def _without_rowid(self, table: str) -> bool:
        row = await self.db.fetchone(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        )
        return bool(row and "WITHOUT ROWID" in str(row[0]).upper())

    async def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        columns = ", ".join(f'"{c}"' for c in table.columns)
        marks = ", ".join("?" for _ in table.columns)
        async with self.db.transaction() as conn:
            await conn.executemany(f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})', rows)

    async def finish(self, table: Table) -> None:
        """Nothing to do: SQLite's AUTOINCREMENT follows the largest id inserted."""

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.db.fetchall(sql)]

    async def limited_accounts(self) -> list[int]:
        return [
            int(r[0]) for r in await self.db.fetchall(f"SELECT id FROM {LEDGER_ACCOUNTS} WHERE NOT unlimited")
        ]

    async def limit(self, ids: list[int]) -> None:
        async with self.db.transaction() as conn:
            await conn.executemany(
                f"UPDATE {LEDGER_ACCOUNTS} SET unlimited = 0 WHERE id = ?", [(i,) for i in ids]
            )


class PostgresSide:
    """A PostgreSQL database as a source or a target."""

    def __init__(self, db: pg.Database) -> None:
        self.db = db
        self.where = db.where
        self._types: dict[str, dict[str, str]] = {}

    async def tables(self) -> list[str]:
        rows = await self.db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        return [str(r[0]) for r in rows if str(r[0]) not in SKIPPED]

    async def columns(self, table: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        self._types[table] = {str(r[0]): str(r[1]) for r in rows}
        return [str(r[0]) for r in rows]

    async def count(self, table: str) -> int:
        return int(await self.db.fetchval(f'SELECT COUNT(*) FROM "{table}"'))

    async def read(self, table: Table) -> AsyncIterator[list[tuple[Any, ...]]]:
        columns = ", ".join(f'"{c}"' for c in table.columns)
        async with self.db.transaction() as conn:
            batch: list[tuple[Any, ...]] = []
            async for record in conn.cursor(f'SELECT {columns} FROM "{table.name}"', prefetch=BATCH):
                batch.append(tuple(record))
                if len(batch) == BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

    async def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        types = self._types.get(table.name) or {}
        convert = [_converter(types.get(c, "text")) for c in table.columns]
        records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows]
        async with self.db.transaction() as conn:
            await conn.copy_records_to_table(table.name, records=records, columns=list(table.columns))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.db.fetch(sql)]

    async def limited_accounts(self) -> list[int]:
        return [
            int(r[0]) for r in await self.db.fetch(f"SELECT id FROM {LEDGER_ACCOUNTS} WHERE NOT unlimited")
        ]

    async def limit(self, ids: list[int]) -> None:
        await self.db.execute(
            f"UPDATE {LEDGER_ACCOUNTS} SET unlimited = false WHERE id = ANY($1::bigint[])", ids
        )

    async def finish(self, table: Table) -> None:
        """Move each identity sequence past the largest id copied, so new rows get new ids."""
        identities = await self.db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = $1 AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')",
            table.name,
        )
        for row in identities:
            column = str(row[0])
            await self.db.execute(
                f'SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX("{column}"), 1), '
                f'MAX("{column}") IS NOT NULL) FROM "{table.name}"',
                table.name,
                column,
            )


Side = SqliteSide | PostgresSide


def _converter(data_type: str) -> Callable[[Any], Any]:
    """How a SQLite value becomes the Python value asyncpg's COPY wants for a column type."""
    if data_type == "boolean":
        return lambda v: None if v is None else bool(v)
    if data_type in ("double precision", "real", "numeric"):
        return lambda v: None if v is None else float(v)
    if data_type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    if data_type == "bytea":
        return lambda v: None if v is None else bytes(v)
    return lambda v: v


async def _open(url: str, stack: AsyncExitStack) -> Side:
    """Open (creating and migrating) the database a URL names."""
    if pg.is_postgres_url(url):
        db = await stack.enter_async_context(pg.Database.open(url, pool_size=2))
        await pg_migrations.migrate(db)
        return PostgresSide(db)
    sqlite_db = await stack.enter_async_context(sq.Database.open(sq.sqlite_path(url)))
    await sq_migrations.migrate(sqlite_db)
    return SqliteSide(sqlite_db)


async def copy(
    source_url: str, target_url: str, out: TextIO = sys.stdout, progress: TextIO = sys.stderr
) -> int:
    """Copy every table; return 0 when each table's row count matches on both sides."""
    if pg.is_postgres_url(source_url) == pg.is_postgres_url(target_url):
        raise InvalidInput(
            "db copy copies between SQLite and PostgreSQL: give one sqlite:/// URL and one postgresql:// URL."
        )
    async with AsyncExitStack() as stack:
        source = await _open(source_url, stack)
        target = await _open(target_url, stack)
        names = await (source.tables() if isinstance(source, SqliteSide) else target.tables())  # FK order
        others = set(await (target.tables() if isinstance(source, SqliteSide) else source.tables()))
        if set(names) != others:
            raise InvalidInput(
                f"The two schemas differ in tables: {sorted(set(names) ^ others)}. Nothing was copied."
            )
        full = [(n, await target.count(n)) for n in names]
        if any(count for _, count in full):
            held = ", ".join(f"{n} ({c:,})" for n, c in full if c)
            raise InvalidInput(
                f"The target at {target.where} is not empty: {held}. Copy into an empty database."
            )
        tables = await _tables(source, target, names)
        started = time.monotonic()
        for table in tables:
            await _copy_table(source, target, table, progress)
        await _restore_limits(source, target)
        counts = [(t.name, await source.count(t.name), await target.count(t.name)) for t in tables]
        balances = await _balances(source) == await _balances(target)
    width = max(len(name) for name, _, _ in counts)
    for name, here, there in counts:
        out.write(f"{name:<{width}}  {here:>10,} -> {there:>10,}{'' if here == there else '  MISMATCH'}\n")
    bad = [name for name, here, there in counts if here != there]
    out.write(
        f"Copied {len(counts)} tables, {sum(c for _, c, _ in counts):,} rows, in {time.monotonic() - started:.1f} s"
        + (f"; row counts differ in {', '.join(bad)}" if bad else "; every row count matches")
        + ("; every balance matches its entries.\n" if balances else "; BALANCES DIFFER.\n")
    )
    return 1 if bad or not balances else 0


# The ledger's triggers apply each entry to its account's balance, and refuse a hold beyond it:
# accounts are copied empty and unlimited, the entries then rebuild every balance (checking the
# whole history on the way), and the real limits are set back at the end.
LEDGER_ACCOUNTS = "accounts"


def _prepared(table: Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows as written: an account starts at balance 0, unlimited, until its entries are in."""
    if table.name != LEDGER_ACCOUNTS:
        return rows
    balance, unlimited = table.columns.index("balance"), table.columns.index("unlimited")
    out = []
    for row in rows:
        values = list(row)
        values[balance], values[unlimited] = 0, True
        out.append(tuple(values))
    return out


async def _restore_limits(source: Side, target: Side) -> None:
    """Set each account's own ``unlimited`` flag back once its entries are in."""
    limited = await source.limited_accounts()
    await target.limit(limited)


async def _balances(side: Side) -> list[tuple[Any, ...]]:
    return await side.rows(f"SELECT id, balance FROM {LEDGER_ACCOUNTS} ORDER BY id")


# Columns one engine keeps for itself, not data: PostgreSQL's revision of a conversation (how
# workers know their cached copy is current) starts afresh in a new database.
ENGINE_COLUMNS = {("conversations", "revision")}


async def _tables(source: Side, target: Side, names: Sequence[str]) -> list[Table]:
    tables = []
    for name in names:
        mine, theirs = await source.columns(name), await target.columns(name)
        differ = {c for c in set(mine) ^ set(theirs) if (name, c) not in ENGINE_COLUMNS}
        if differ:
            raise InvalidInput(
                f"Table {name} has other columns on each side: {sorted(differ)}. Nothing was copied."
            )
        tables.append(Table(name, tuple(c for c in mine if c in theirs)))
    return tables


async def _copy_table(source: Side, target: Side, table: Table, progress: TextIO) -> None:
    total = await source.count(table.name)
    done = 0
    async for rows in source.read(table):
        await target.write(table, _prepared(table, rows))
        done += len(rows)
        progress.write(f"\r{table.name}: {done:,}/{total:,} rows {_bar(done, total)}")
        progress.flush()
    await target.finish(table)
    progress.write(
        f"\r{table.name}: {done:,}/{total:,} rows {_bar(done, total)}\n"
        if total
        else f"{table.name}: empty\n"
    )


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = width if not total else round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"
