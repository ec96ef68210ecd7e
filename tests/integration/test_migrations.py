"""Migrations: numbered without gaps, applied once each, atomically."""

from pathlib import Path

import pytest

from adapters.storage.sqlite.database import Database, sqlite_path
from adapters.storage.sqlite.migrations import applied_version, discover, migrate
from core.errors import ConfigurationError

REAL = Path(__file__).resolve().parents[2] / "migrations" / "sqlite"


def test_real_migrations_are_numbered_without_gaps() -> None:
    found = discover(REAL)
    assert [m.version for m in found] == list(range(1, len(found) + 1))


async def test_empty_database_gets_every_table_and_a_second_run_is_a_no_op(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "bot.db")
    async with Database.open(path) as db:
        applied = await migrate(db, REAL)
        assert [m.version for m in applied] == [m.version for m in discover(REAL)]
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "conversations", "messages", "chat_settings", "schema_migrations"} <= tables
        assert await db.pragma("journal_mode") == "wal"
        assert await db.pragma("foreign_keys") == 1
        assert await db.pragma("busy_timeout") == 5000
    async with Database.open(path) as db:
        assert await migrate(db, REAL) == []
        assert await applied_version(db) == len(discover(REAL))


async def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_two.sql").write_text("CREATE TABLE b (x INTEGER);\nINSERT INTO nope VALUES (1);")
    async with Database.open(str(tmp_path / "x.db")) as db:
        with pytest.raises(Exception, match="nope"):
            await migrate(db, folder)
        assert await applied_version(db) == 1
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "a" in tables and "b" not in tables  # 0002 rolled back whole
        (folder / "0002_two.sql").write_text("CREATE TABLE b (x INTEGER);")
        assert [m.version for m in await migrate(db, folder)] == [2]


def test_gaps_and_bad_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0003_c.sql").write_text("")
    with pytest.raises(ConfigurationError, match="expected 0002"):
        discover(tmp_path)
    (tmp_path / "0003_c.sql").unlink()
    (tmp_path / "2_b.sql").write_text("")
    with pytest.raises(ConfigurationError, match="NNNN_name"):
        discover(tmp_path)


async def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    async with Database.open(str(tmp_path / "x.db")) as db:
        await migrate(db, REAL)
        await db.executescript("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
        with pytest.raises(ConfigurationError, match="newer"):
            await migrate(db, REAL)


def test_database_url_forms() -> None:
    assert sqlite_path("sqlite:///data/bot.db") == "data/bot.db"
    assert sqlite_path("sqlite:////var/lib/bot.db") == "/var/lib/bot.db"
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        sqlite_path("postgres://x")


async def test_the_inbox_prunes_after_a_week_and_keeps_what_processed_updates_knew(tmp_path: Path) -> None:
    from adapters.storage.sqlite.inbox import Inbox

    now = [1000.0]
    path = str(tmp_path / "u.db")
    older = tmp_path / "older"  # the migrations of the release before the inbox
    older.mkdir()
    for sql in sorted(REAL.glob("000[1-8]_*.sql")):
        (older / sql.name).write_text(sql.read_text())
    async with Database.open(path) as db:
        await migrate(db, older)
        await db.executescript(
            "INSERT INTO processed_updates (platform, update_id, processed_at) VALUES ('telegram', '1', 999)"
        )
        await migrate(db, REAL)
        inbox = Inbox(db, clock=lambda: now[0])
        assert await inbox.record("telegram", "1", "5", "{}", lease=60) is False  # handled before the upgrade
        assert await inbox.unanswered() == 0
        now[0] += Inbox.KEEP_SECONDS + 1
        inbox.PRUNE_EVERY = 1
        await inbox.record("telegram", "2", "5", "{}", lease=60)
        rows = await db.fetchall("SELECT key FROM inbox WHERE platform = 'telegram'")
        assert [r[0] for r in rows] == ["2"]
