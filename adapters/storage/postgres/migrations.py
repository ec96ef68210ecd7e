"""Forward-only migrations for PostgreSQL: ``migrations/postgres/NNNN_name.sql``, shipped in the package.

Several workers may start at once: each migrates under a transaction-level advisory lock, so one
applies what is missing and the others, once they get the lock, find nothing left to do. Every
pending file and its version record go in one transaction (PostgreSQL's DDL is transactional): a
failing statement leaves the schema as it was. Nothing needs a superuser: a role that owns its
database can run them all.
"""

from __future__ import annotations

import logging
import os
import time
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from adapters.storage.postgres.database import Database
from adapters.storage.sqlite.migrations import Migration, discover
from core.errors import ConfigurationError

log = logging.getLogger(__name__)

LOCK_KEY = 0x76656E696365  # "venice": the advisory lock all workers migrate under


def default_migrations_dir() -> Traversable:
    """``VENICE_BOTS_PG_MIGRATIONS`` or the ``postgres/`` folder of the installed ``migrations`` package."""
    override = os.environ.get("VENICE_BOTS_PG_MIGRATIONS")
    return Path(override) if override else resources.files("migrations") / "postgres"


async def recorded_version(db: Database) -> int:
    """The applied version, read without writing (0 when no migration was ever recorded)."""
    exists = await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def migrate(db: Database, directory: Traversable | None = None) -> list[Migration]:
    """Apply every migration newer than the database; return those applied (none: up to date)."""
    migrations = discover(directory or default_migrations_dir())
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
        if current > len(migrations):
            raise ConfigurationError(
                f"The database is at schema version {current}, newer than this code knows "
                f"({len(migrations)}). Upgrade venice-bots instead of downgrading it."
            )
        applied = []
        for migration in migrations[current:]:
            await conn.execute(migration.path.read_text(encoding="utf-8"))
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )
            log.info("Applied PostgreSQL migration %04d_%s", migration.version, migration.name)
            applied.append(migration)
    return applied
