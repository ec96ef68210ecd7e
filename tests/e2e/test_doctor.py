"""``venice-bots doctor``: read-only on the database, and every failure names the URL, the cause and the fix."""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.migrations import discover, migrate
from bots.doctor import doctor
from core.settings import Settings
from tests.conftest import TEST_KEY
from tests.e2e.test_console import cli_env, run_cli
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_api import Intent
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

LATEST = len(discover())


async def run_doctor(settings: Settings) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await doctor(settings, out)
    return code, out.getvalue().splitlines()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[FAIL]")]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes] | None]:
    """Every file and folder under ``folder``, with each file's mtime and bytes."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


async def create_database(path: Path, version: int, scratch: Path) -> None:
    """A database migrated by the real migrator, through the first ``version`` migrations only."""
    first = scratch / "first-migrations"
    first.mkdir()
    for migration in discover()[:version]:
        shutil.copy(migration.path, first / migration.path.name)
    async with Database.open(str(path)) as db:
        await migrate(db, first)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was bound a moment ago, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that accepts connections and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


# ----- the database


async def test_doctor_on_a_missing_database_creates_nothing_and_says_how(
    tmp_path: Path, venice: FakeVenice
) -> None:
    database = tmp_path / "data" / "bot.db"  # neither the file nor its folder exists
    before = snapshot(tmp_path)
    code, out, err = await run_cli(
        ["doctor"], cli_env(tmp_path, venice, DATABASE_URL=f"sqlite:///{database}"), cwd=tmp_path
    )
    assert snapshot(tmp_path) == before
    assert (
        f"no database at {database} yet: `venice-bots migrate` creates it, and the bot does at start" in out
    )
    assert code == 0, out + err  # the bot creates it at start: nothing is broken
    code, out, _ = await run_cli(
        ["doctor"], cli_env(tmp_path, venice, DATABASE_URL="sqlite:///data/bot.db"), cwd=tmp_path
    )
    assert f"no database at {database} yet" in out  # a relative URL is shown as the path it means
    assert snapshot(tmp_path) == before


async def test_doctor_says_when_no_database_can_be_created_where_the_url_points(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "data").write_text("a file where a folder should be")
    code, lines = await run_doctor(make_settings(database_url=f"sqlite:///{tmp_path}/data/bot.db"))
    assert code == 1
    assert failures(lines) == [
        f"[FAIL] Database: no database at {tmp_path}/data/bot.db, and none can be created there: "
        f"{tmp_path}/data is a file, not a folder. Check DATABASE_URL."
    ]


@pytest.mark.parametrize(
    ("behind", "expected"),
    [
        (
            3,
            "[warn] Database at {db}: schema {old} of {latest}: run `venice-bots migrate` (the bot also migrates when it starts); journal wal, integrity ok",
        ),
        (0, "[ ok ] Database at {db}: schema {latest} of {latest}, journal wal, integrity ok"),
    ],
)
async def test_doctor_reports_the_schema_and_writes_nothing(
    behind: int, expected: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    database = folder / "bot.db"
    await create_database(database, LATEST - behind, scratch=tmp_path)
    before = snapshot(folder)
    assert list(before) == ["bot.db"]
    code, lines = await run_doctor(make_settings(database_url=f"sqlite:///{database}"))
    assert snapshot(folder) == before  # same bytes, same mtime, and no -wal or -shm left behind
    assert expected.format(db=database, old=LATEST - behind, latest=LATEST) in lines
    assert code == 0  # behind is no failure: the bot migrates when it starts


async def test_a_damaged_foreign_or_newer_database_fails_with_the_fix(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    database = tmp_path / "bot.db"
    settings = make_settings(database_url=f"sqlite:///{database}")
    database.write_text("name,balance\nalice,5\n")  # not a database at all
    code, lines = await run_doctor(settings)
    assert code == 1
    assert failures(lines) == [
        f"[FAIL] Database at {database} cannot be read (DatabaseError: file is not a database). "
        "Check DATABASE_URL: it must name the bot's SQLite file, readable by this user."
    ]
    database.unlink()
    await create_database(database, LATEST, scratch=tmp_path)
    async with Database.open(str(database)) as db:  # as a newer venice-bots would leave it
        await db.execute("INSERT INTO schema_migrations VALUES (?, 'from_the_future', 0)", (LATEST + 1,))
    code, lines = await run_doctor(settings)
    assert code == 1
    assert failures(lines) == [
        f"[FAIL] Database at {database}: schema {LATEST + 1}, newer than this venice-bots knows ({LATEST}). "
        "Upgrade venice-bots; an older version must not run against it."
    ]
    async with Database.open(str(database)) as db:
        await db.execute("DELETE FROM schema_migrations WHERE version > ?", (LATEST,))
        for n in range(3000):
            await db.execute(
                "INSERT INTO users (platform, platform_user_id, created_at) VALUES ('telegram', ?, 0)",
                (str(n),),
            )
    data = bytearray(database.read_bytes())
    data[-3000:-1000] = b"A" * 2000  # a disk fault in the users' last page
    database.write_bytes(bytes(data))
    code, lines = await run_doctor(settings)
    assert code == 1
    assert len(failures(lines)) == 1, lines
    assert failures(lines)[0].startswith(f"[FAIL] Database at {database} is damaged (integrity check: ")
    assert failures(lines)[0].endswith(
        f"). Stop the bot, keep a copy of the file, and restore a backup (or try `sqlite3 {database} .recover`)."
    )


async def test_doctor_reads_the_database_of_a_running_bot(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    database = tmp_path / "bot.db"
    async with Database.open(str(database)) as bot_db:  # the bot has it open: -wal and -shm exist
        await migrate(bot_db)
        await bot_db.execute(
            "INSERT INTO users (platform, platform_user_id, created_at) VALUES ('telegram', '1', 0)"
        )
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["bot.db", "bot.db-shm", "bot.db-wal"]
        code, lines = await run_doctor(make_settings(database_url=f"sqlite:///{database}"))
        assert (
            f"[ ok ] Database at {database}: schema {LATEST} of {LATEST}, journal wal, integrity ok" in lines
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == names  # the bot's files untouched
        assert (
            await bot_db.fetchone("SELECT platform_user_id FROM users") is not None
        )  # and the bot carries on
    assert code == 0


# ----- Venice


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("refused", "{url}: connection refused. Check VENICE_BASE_URL and that the host is reachable."),
        (
            "rejected key",
            "{url}: 401, the API key was rejected. Check VENICE_API_KEY (get one at https://venice.ai/settings/api).",
        ),
        (
            "no /api/v1",
            "{url}: /models answered 404 Not Found, so this is not the Venice API. "
            "Check VENICE_BASE_URL: Venice's is https://api.venice.ai/api/v1.",
        ),
        (
            "a web page",
            "{url}: /models answered with something that is not JSON (text/html), so this is not the "
            "Venice API. Check VENICE_BASE_URL: Venice's is https://api.venice.ai/api/v1.",
        ),
        (
            "502",
            "{url}: /models answered 502 Bad Gateway (Venice request id fake1-IAD): the server failed. "
            "Try again in a few minutes; if it lasts, check VENICE_BASE_URL (and any proxy in between).",
        ),
        (
            "https to http",
            "{url}: TLS handshake failed (WRONG_VERSION_NUMBER). Check VENICE_BASE_URL (http or https?)",
        ),
        (
            "no answer",
            "{url}: connected, but no answer came in time. Check VENICE_BASE_URL, and that no firewall",
        ),
    ],
)
async def test_each_venice_failure_names_the_url_the_cause_and_the_fix(
    case: str, expected: str, venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    url = venice.base_url
    overrides: dict[str, Any] = {}
    if case == "refused":
        url = f"http://127.0.0.1:{closed_port()}/api/v1"
    elif case == "rejected key":
        venice.api_key = "another-key"
    elif case == "no /api/v1":
        url = url.removesuffix("/api/v1")
    elif case == "a web page":
        venice.fail("/models", 200, "<!doctype html><html><body>Welcome</body></html>")
    elif case == "502":
        venice.fail("/models", 502)
    elif case == "https to http":
        url = url.replace("http://", "https://")
    async with silent_server() as port:
        if case == "no answer":
            url, overrides = f"http://127.0.0.1:{port}/api/v1", {"venice_timeout_seconds": 0.5}
        code, lines = await run_doctor(make_settings(venice_base_url=url, **overrides))
    assert code == 1
    assert len(failures(lines)) == 1, lines
    assert failures(lines)[0].startswith("[FAIL] " + expected.format(url=f"Venice at {url}")), lines
    assert "try again in a moment" not in "\n".join(lines)  # causes, not the chat's apology
    assert TEST_KEY not in "\n".join(lines)


async def test_a_key_that_cannot_read_the_balance_is_a_warning_with_its_cause(
    venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    venice.fail("/billing/balance", 403, {"error": "Unauthorized access"})
    code, lines = await run_doctor(make_settings())
    assert (
        f"[warn] Venice at {venice.base_url}: /billing/balance answered 403 Forbidden (Unauthorized access). Check VENICE_API_KEY and VENICE_BASE_URL."
        in lines
    )
    assert code == 0


async def test_an_empty_account_and_an_unknown_default_model_fail_with_the_fix(
    venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    venice.balance["canConsume"] = False
    code, lines = await run_doctor(make_settings(default_chat_model="no-such-model"))
    assert code == 1
    found = failures(lines)
    assert found[0].startswith(
        "[FAIL] DEFAULT_CHAT_MODEL no-such-model is not offered by Venice. Set DEFAULT_CHAT_MODEL to one that is (venice-uncensored"
    )
    assert found[1].endswith("CANNOT consume. Add credit at https://venice.ai/settings/api.")


async def test_doctor_names_the_memory_models_and_fails_on_an_embedding_model_venice_does_not_offer(
    venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    code, lines = await run_doctor(make_settings(default_chat_model="llama-3.3-70b"))
    assert code == 0
    assert "[ ok ] Summaries written by venice-uncensored" in lines
    assert "[ ok ] Long-term recall embeds with text-embedding-bge-m3" in lines
    code, lines = await run_doctor(make_settings(embedding_model="no-such-embedder", summary_model="nope"))
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith("[FAIL] Long-term recall cannot embed: EMBEDDING_MODEL is no-such-embedder")
    assert any(line.startswith("[warn] SUMMARY_MODEL nope is not offered by Venice") for line in lines)


async def test_doctor_says_where_the_web_console_is_and_warns_when_it_is_exposed_in_plain_http(
    venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    _, lines = await run_doctor(make_settings())
    assert "[info] Web console: off (set WEB_ADMIN_PASSWORD to serve it)" in lines
    password = "a long console password"
    code, lines = await run_doctor(make_settings(web_admin_password=password))
    assert code == 0
    assert "[info] Web console: http://127.0.0.1:8080/ (WEB_ADMIN_PASSWORD set)" in lines
    assert not any(line.startswith("[warn] The web console") for line in lines)
    code, lines = await run_doctor(make_settings(web_admin_password=password, web_host="0.0.0.0"))
    assert code == 0  # a warning, not a failure: a proxy may stand in front
    assert any(line.startswith("[warn] The web console listens on 0.0.0.0 in plain HTTP") for line in lines)
    assert password not in "\n".join(lines)


# ----- Telegram and Discord


async def test_telegram_failures_name_the_url_and_the_fix_and_never_the_token(
    tg: FakeTelegram, venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    wrong = "999:wrong-token-value-1234"
    code, lines = await run_doctor(
        make_settings(
            telegram_bot_token=wrong, telegram_base_url=tg.base_url, telegram_base_file_url=tg.base_file_url
        )
    )
    assert code == 1
    assert failures(lines) == [
        f"[FAIL] Telegram at {tg.base_url}: the bot token was refused. Check TELEGRAM_BOT_TOKEN: "
        "@BotFather gives it (/mybots → your bot → API Token), and that TELEGRAM_BASE_URL ends in /bot."
    ]
    unreachable = f"http://127.0.0.1:{closed_port()}/bot"
    code, lines = await run_doctor(make_settings(telegram_bot_token=tg.token, telegram_base_url=unreachable))
    assert failures(lines) == [
        f"[FAIL] Telegram at {unreachable}: connection refused. Check TELEGRAM_BASE_URL and that the host is reachable."
    ]
    for line in lines:
        assert wrong not in line and tg.token not in line and tg.token.split(":")[1] not in line


async def test_discord_failures_name_the_url_and_the_fix(
    dc: FakeDiscord, venice: FakeVenice, make_settings: Callable[..., Settings]
) -> None:
    code, lines = await run_doctor(
        make_settings(discord_bot_token="not-the-token", discord_api_base_url=dc.api_base)
    )
    assert failures(lines) == [
        f"[FAIL] Discord at {dc.api_base}: 401, the bot token was rejected. Check DISCORD_BOT_TOKEN: copy it again "
        "from the developer portal (https://discord.com/developers/applications → your app → Bot → Reset Token)."
    ]
    unreachable = f"http://127.0.0.1:{closed_port()}/api/v10"
    code, lines = await run_doctor(
        make_settings(discord_bot_token=dc.token, discord_api_base_url=unreachable)
    )
    assert failures(lines) == [
        f"[FAIL] Discord at {unreachable}: connection refused. Check DISCORD_API_BASE_URL and that the host is reachable."
    ]
    dc.allowed_intents = Intent.ALL & ~Intent.MESSAGE_CONTENT  # the portal's switch is off
    code, lines = await run_doctor(
        make_settings(discord_bot_token=dc.token, discord_api_base_url=dc.api_base)
    )
    assert code == 1
    assert f"[ ok ] Discord bot venice-test works at {dc.api_base}" in lines
    assert failures(lines)[0].startswith("[FAIL] Discord: the Message Content intent is off")
    assert "Privileged Gateway Intents" in failures(lines)[0]
    assert all(dc.token not in line for line in lines)


async def test_doctor_prints_only_its_own_lines_with_every_platform_configured(
    dc: FakeDiscord, tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    env = cli_env(
        tmp_path,
        venice,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_base,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_BASE_FILE_URL=tg.base_file_url,
    )
    code, out, err = await run_cli(["doctor"], env, cwd=tmp_path)
    assert code == 0, out + err
    assert err == ""  # no discord.py warning (intents, PyNaCl), no log line of any library
    lines = out.splitlines()
    assert lines[-1] == "All checks passed."
    assert all(line[:6] in ("[info]", "[ ok ]", "[warn]") for line in lines[:-1]), out
    assert f"Telegram bot @{tg.bot_username} works" in out and "Discord bot venice-test works" in out
    for secret in (dc.token, tg.token, TEST_KEY):
        assert secret not in out


async def test_doctor_never_prints_a_postgresql_password(
    venice: FakeVenice, make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    with_password = postgres_url.replace("@", ":s3cret-pass@", 1)  # the test server trusts the role
    _, lines = await run_doctor(make_settings(database_url=with_password))
    assert "s3cret-pass" not in "\n".join(lines)
    assert f"[info] DATABASE_URL: {postgres_url}" in lines
