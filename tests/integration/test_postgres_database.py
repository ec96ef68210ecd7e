"""The PostgreSQL layer against a real server: migrations under an advisory lock, shared
transactions, and a server that cannot save reported as such (tests/postgres.py starts it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.storage.postgres.database import Database, safe_url
from adapters.storage.postgres.migrations import migrate, recorded_version
from core.errors import StorageUnavailable
from tests.postgres import PostgresCluster


def schema(folder: Path) -> Path:
    (folder / "0001_first.sql").write_text(
        "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);"
    )
    (folder / "0002_second.sql").write_text(
        "ALTER TABLE notes ADD COLUMN stamp double precision NOT NULL DEFAULT 0;"
    )
    return folder


async def test_workers_migrating_at_once_apply_each_file_once_as_a_role_that_is_no_superuser(
    postgres_url: str, tmp_path: Path
) -> None:
    folder = schema(tmp_path)
    async with Database.open(postgres_url) as one, Database.open(postgres_url) as two:
        assert await one.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        applied = await asyncio.gather(*(migrate(db, folder) for db in (one, two, one, two)))
        assert sorted(len(a) for a in applied) == [0, 0, 0, 2]  # one applied both, the others nothing
        assert await recorded_version(one) == 2
        assert await migrate(two, folder) == []  # idempotent
        assert await one.fetchval("SELECT count(*) FROM schema_migrations") == 2


async def test_what_a_task_asks_inside_its_transaction_joins_it(postgres_url: str, tmp_path: Path) -> None:
    async with Database.open(postgres_url, pool_size=3) as db:
        await migrate(db, schema(tmp_path))
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.execute("INSERT INTO notes (body) VALUES ($1)", "kept only if all is")
                async with db.transaction():  # a store's own transaction joins the open one
                    await db.execute("INSERT INTO notes (body) VALUES ($1)", "second")
                assert await db.fetchval("SELECT count(*) FROM notes") == 2  # seen inside
                raise RuntimeError("the unit fails")
        assert await db.fetchval("SELECT count(*) FROM notes") == 0
        assert await db.execute("INSERT INTO notes (body) VALUES ($1), ($2)", "a", "b") == 2


async def test_a_server_that_cannot_save_is_reported_with_its_cause_and_no_password(
    postgres: PostgresCluster, postgres_url: str, tmp_path: Path
) -> None:
    reported: list[StorageUnavailable] = []
    database = postgres_url.rsplit("/", 1)[1]
    async with Database.open(postgres_url) as db:
        await migrate(db, schema(tmp_path))
        db.watch_unavailable(reported.append)
        postgres.sql(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
        async with Database.open(postgres_url) as fresh:  # new sessions read the setting
            fresh.watch_unavailable(reported.append)
            with pytest.raises(StorageUnavailable) as caught:
                await fresh.execute("INSERT INTO notes (body) VALUES ('x')")
    assert caught.value.cause == StorageUnavailable.READ_ONLY and reported
    assert safe_url("postgresql://venice:s3cret@db:5432/bot") == "postgresql://venice@db:5432/bot"
