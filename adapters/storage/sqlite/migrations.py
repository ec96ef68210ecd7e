"""Forward-only migrations: ``migrations/sqlite/NNNN_name.sql``, each applied in its own transaction.

The SQL files ship inside the ``migrations`` package and are read through ``importlib.resources``, so an
installed wheel migrates wherever it lives; ``VENICE_BOTS_MIGRATIONS`` points at another folder instead.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from adapters.storage.sqlite.database import Database
from core.errors import ConfigurationError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Traversable


def default_migrations_dir() -> Traversable:
    """``VENICE_BOTS_MIGRATIONS`` or the ``sqlite/`` folder of the installed ``migrations`` package."""
    override = os.environ.get("VENICE_BOTS_MIGRATIONS")
    return Path(override) if override else resources.files("migrations") / "sqlite"


def discover(directory: Traversable | None = None) -> list[Migration]:
    """Return the migrations in order; refuse gaps, duplicates and stray names."""
    directory = directory or default_migrations_dir()
    if not directory.is_dir():
        raise ConfigurationError(f"The migrations folder {directory} does not exist.")
    found: list[Migration] = []
    for path in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if not path.name.endswith(".sql"):
            continue
        match = _NAME.match(path.name)
        if not match:
            raise ConfigurationError(f"Migration {path.name} is not named NNNN_name.sql.")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ConfigurationError(
                f"Migrations must be numbered 0001, 0002, … without gaps: expected "
                f"{expected:04d}, found {migration.path.name}."
            )
    return found


async def applied_version(db: Database) -> int:
    """The highest migration version recorded in the database (0 when none)."""
    await db.executescript(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    row = await db.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


async def recorded_version(db: Database) -> int:
    """The applied version, read without writing (0 when no migration was ever recorded)."""
    table = await db.fetchone(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    if table is None:
        return 0
    row = await db.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


async def migrate(db: Database, directory: Traversable | None = None) -> list[Migration]:
    """Apply every migration newer than the database; return those applied."""
    migrations = discover(directory)
    current = await applied_version(db)
    if current > len(migrations):
        raise ConfigurationError(
            f"The database is at schema version {current}, newer than this code knows "
            f"({len(migrations)}). Upgrade venice-bots instead of downgrading it."
        )
    applied = []
    for migration in migrations[current:]:
        sql = migration.path.read_text(encoding="utf-8")
        # executescript runs the file and the version record in one explicit transaction:
        # a failing statement rolls the whole file back, and the version is not recorded.
        await db.executescript(
            "BEGIN IMMEDIATE;\n"
            f"{sql}\n;\n"
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', {time.time()!r});\n"
            "COMMIT;"
        )
        log.info("Applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    return applied
