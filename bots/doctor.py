"""``venice-bots doctor``: check the settings, the database, Venice and the platforms, read-only.

Doctor changes nothing: it opens the database read-only (and leaves no file behind), and it
only reads from Venice, Telegram and Discord. Each failure names the URL, the cause and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import httpx

from adapters.storage.postgres.database import is_postgres_url, safe_url
from adapters.storage.sqlite.database import Database, is_wal_file, sqlite_path
from adapters.storage.sqlite.migrations import discover, recorded_version
from bots.checks import READ_SECONDS, Report, doctor_http, reach_fix, status_text
from bots.doctor_platforms import check_discord, check_telegram
from core.catalogue import Catalogue
from core.errors import BotError, ConfigurationError
from core.settings import API_KEY_URL, Settings
from core.text import plural
from core.venice.client import VeniceClient
from core.venice.errors import (
    AuthenticationFailed,
    InsufficientBalance,
    NotFound,
    RateLimited,
    UnreadableAnswer,
    VeniceError,
    VeniceUnreachable,
)
from core.venice.retry import RetryPolicy

VENICE_DEFAULT_URL = str(Settings.model_fields["venice_base_url"].default)


async def doctor(settings: Settings, out: TextIO) -> int:
    """Print what is configured and whether each part works; 0 when all do."""
    report = Report(out)
    _configuration(settings, report)
    await check_database(settings, report)
    async with doctor_http(settings) as http:
        await _check_venice(settings, http, report)
        if settings.telegram_bot_token is not None:
            await check_telegram(settings, report)
        if settings.discord_bot_token is not None:
            await check_discord(settings, http, report)
    await check_mcp_servers(settings, report)
    out.write("All checks passed.\n" if report.ok else "Some checks failed.\n")
    return 0 if report.ok else 1


def _configuration(settings: Settings, report: Report) -> None:
    key = settings.venice_api_key.get_secret_value()
    report.line("info", f"VENICE_API_KEY: set ({len(key)} characters)")
    report.line("info", f"VENICE_BASE_URL: {settings.venice_base_url}")
    shown = (
        safe_url(settings.database_url) if is_postgres_url(settings.database_url) else settings.database_url
    )
    report.line("info", f"DATABASE_URL: {shown}")  # never a PostgreSQL password
    report.line("info", f"DEFAULT_CHAT_MODEL: {settings.default_chat_model}")
    report.line("info", f"ADMIN_USER_IDS: {', '.join(sorted(settings.admin_user_ids)) or '(none)'}")
    platforms = [
        name
        for name, token in (
            ("Telegram", settings.telegram_bot_token),
            ("Discord", settings.discord_bot_token),
        )
        if token
    ]
    report.line("info", f"Platforms: {', '.join(platforms) or 'none configured (the console chat)'}")
    _web_console(settings, report)


def _web_console(settings: Settings, report: Report) -> None:
    """Whether `run` serves the console, where, and whether it is exposed without HTTPS."""
    if settings.web_admin_password is None:
        report.line("info", "Web console: off (set WEB_ADMIN_PASSWORD to serve it)")
        return
    where = f"http://{settings.web_host}:{settings.web_port}/"
    report.line("info", f"Web console: {where} (WEB_ADMIN_PASSWORD set)")
    if settings.web_host not in ("127.0.0.1", "localhost", "::1") and not settings.web_trust_proxy:
        report.line(
            "warn",
            f"The web console listens on {settings.web_host} in plain HTTP: put an HTTPS reverse "
            "proxy in front of it (and set WEB_TRUST_PROXY=true), or bind it to 127.0.0.1",
        )


async def check_mcp_servers(settings: Settings, report: Report) -> None:
    """Each MCP server of MCP_CONFIG: connected with its tools, or why not (a warning: the bot
    starts without it); a file that cannot be used fails (the bot would not start)."""
    if not settings.mcp_config:
        return
    from adapters.mcp.servers import McpServers, health_lines

    try:
        # The servers' stderr goes to the log (silenced in doctor), and their last words into a failure.
        async with McpServers.open(
            settings, connect_seconds=READ_SECONDS, wait_seconds=READ_SECONDS + 1
        ) as servers:
            for status, line in health_lines(servers) or [("info", "MCP_CONFIG lists no server")]:
                report.line(status, line)
    except ConfigurationError as exc:
        report.line("FAIL", exc.user_message)


# ----- the database


async def check_database(settings: Settings, report: Report) -> None:
    """Report the schema version, journal mode and integrity, opening the file read-only."""
    if is_postgres_url(settings.database_url):
        await _check_postgres(settings, report)
        return
    found = _find_database(settings, report)
    if found is None:
        return
    path, where, latest = found
    try:
        async with Database.open(path, read_only=True) as db:
            version = await recorded_version(db)
            problems = await db.integrity_problems(5)
            mode = "wal" if is_wal_file(path) else await db.pragma("journal_mode")
    except Exception as exc:  # noqa: BLE001 - a folder, a damaged or foreign file: say what, no traceback
        report.line(
            "FAIL",
            f"Database at {where} cannot be read ({type(exc).__name__}: {exc}). Check DATABASE_URL: "
            "it must name the bot's SQLite file, readable by this user.",
        )
        return
    if problems != ["ok"]:
        first = problems[0].splitlines()[-1] if problems else "no answer"
        report.line(
            "FAIL",
            f"Database at {where} is damaged (integrity check: {first}). Stop the bot, keep a copy "
            f"of the file, and restore a backup (or try `sqlite3 {where} .recover`).",
        )
    elif version > latest:
        report.line(
            "FAIL",
            f"Database at {where}: schema {version}, newer than this venice-bots knows ({latest}). "
            "Upgrade venice-bots; an older version must not run against it.",
        )
    elif version < latest:
        report.line(
            "warn",
            f"Database at {where}: schema {version} of {latest}: run `venice-bots migrate` "
            f"(the bot also migrates when it starts); journal {mode}, integrity ok",
        )
    else:
        report.line("ok", f"Database at {where}: schema {version} of {latest}, journal {mode}, integrity ok")


async def _check_postgres(settings: Settings, report: Report) -> None:
    """Connect, and report the server, the schema version and the role (writes nothing)."""
    from adapters.storage.postgres import database as pg
    from adapters.storage.postgres import migrations as pg_migrations

    latest = len(discover(pg_migrations.default_migrations_dir()))
    try:
        async with pg.Database.open(settings.database_url, pool_size=1) as db:
            version = await pg_migrations.recorded_version(db)
            server = await db.fetchval("SHOW server_version")
            superuser = await db.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            where = db.where
    except BotError as exc:
        report.line("FAIL", f"Database: {exc.user_message}")
        return
    if version > latest:
        report.line(
            "FAIL",
            f"Database at {where}: schema {version}, newer than this venice-bots knows ({latest}). "
            "Upgrade venice-bots; an older version must not run against it.",
        )
    elif version < latest:
        report.line(
            "warn",
            f"Database at {where} (PostgreSQL {server}): schema {version} of {latest}: run "
            "`venice-bots migrate` (the bot also migrates when it starts)",
        )
    else:
        report.line("ok", f"Database at {where} (PostgreSQL {server}): schema {version} of {latest}")
    if superuser:
        report.line(
            "warn", "The database role is a superuser: a role that owns the bot's database is enough."
        )


def _find_database(settings: Settings, report: Report) -> tuple[str, str, int] | None:
    """The database's path, absolute path and the newest schema; None (said why) when unusable."""
    try:
        path = sqlite_path(settings.database_url)
        latest = len(discover())
    except BotError as exc:
        report.line("FAIL", f"Database: {exc.user_message}")
        return None
    if path == ":memory:":
        report.line("info", "Database: in memory, so nothing is kept after the bot stops")
        return None
    where = os.path.abspath(path)
    if not os.path.exists(path):
        _missing_database(where, report)
        return None
    return path, where, latest


def _missing_database(where: str, report: Report) -> None:
    folder = Path(where).parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        report.line(
            "FAIL",
            f"Database: no database at {where}, and none can be created there: {existing} is a "
            "file, not a folder. Check DATABASE_URL.",
        )
    elif not os.access(existing, os.W_OK | os.X_OK):
        report.line(
            "FAIL",
            f"Database: no database at {where}, and none can be created there: {existing} is not "
            f"writable by this user (uid {os.getuid()}). Make it writable, or point DATABASE_URL "
            "at a folder that is.",
        )
    else:
        report.line(
            "warn",
            f"Database: no database at {where} yet: `venice-bots migrate` creates it, "
            "and the bot does at start",
        )


# ----- Venice


async def _check_venice(settings: Settings, http: httpx.AsyncClient, report: Report) -> None:
    url = settings.venice_base_url
    venice = VeniceClient(
        http, api_key=settings.venice_api_key, base_url=url, retry=RetryPolicy(max_attempts=1)
    )
    try:
        models = await venice.models("text")
    except VeniceError as exc:
        report.line("FAIL", venice_failure(url, "/models", exc))
        return  # the balance would fail the same way
    report.line("ok", f"Venice API key works at {url}: {plural(len(models), 'text model')} listed")
    if not any(m.id == settings.default_chat_model for m in models):
        offered = ", ".join(m.id for m in models[:6])
        report.line(
            "FAIL",
            f"DEFAULT_CHAT_MODEL {settings.default_chat_model} is not offered by Venice. "
            f"Set DEFAULT_CHAT_MODEL to one that is ({offered}{', …' if len(models) > 6 else ''}).",
        )
    await _check_memory_models(settings, venice, report)
    try:
        balance = await venice.balance()
    except VeniceError as exc:
        # A key without billing scope cannot read the balance: the bot can still answer.
        report.line("warn", venice_failure(url, "/billing/balance", exc))
        return
    money = ", ".join(
        f"{v:g} {k}" for k, v in (("USD", balance.usd), ("DIEM", balance.diem)) if v is not None
    )
    if balance.can_consume:
        report.line("ok", f"Venice account: {money or 'no balance reported'}; can consume")
    else:
        report.line(
            "FAIL",
            f"Venice account: {money or 'no balance reported'}; CANNOT consume. Add credit at {API_KEY_URL}.",
        )


async def _check_memory_models(settings: Settings, venice: VeniceClient, report: Report) -> None:
    """Which models write summaries and embed for recall, and whether the ones set are offered."""
    catalogue = Catalogue(settings, venice)
    chat = await venice.model(settings.default_chat_model)
    if settings.summary_model and not any(
        m.id == settings.summary_model for m in await catalogue.models_of("text")
    ):
        report.line(
            "warn",
            f"SUMMARY_MODEL {settings.summary_model} is not offered by Venice"
            f"{' as a private model' if settings.private_models_only else ''}: summaries are written "
            "by the chat's own model. Unset it for the cheapest private one.",
        )
    elif chat is not None:
        summary = await catalogue.summary_model(chat)
        report.line("ok", f"Summaries written by {summary.id}")
    if settings.recall_token_budget <= 0:
        report.line("info", "Long-term recall: off (RECALL_TOKEN_BUDGET=0)")
        return
    try:
        embedding = await catalogue.embedding_model()
    except BotError as exc:
        report.line("FAIL", f"Long-term recall cannot embed: {exc.user_message}")
        return
    report.line("ok", f"Long-term recall embeds with {embedding.id}")


def venice_failure(url: str, path: str, exc: VeniceError) -> str:
    """One line for a failed Venice request: where, what went wrong, and what to do."""
    where = f"Venice at {url}"
    if isinstance(exc, VeniceUnreachable):
        return f"{where}: {exc.cause.detail}. {reach_fix(exc.cause, 'VENICE_BASE_URL')}"
    if isinstance(exc, AuthenticationFailed):
        return f"{where}: 401, the API key was rejected. Check VENICE_API_KEY (get one at {API_KEY_URL})."
    not_the_api = f"so this is not the Venice API. Check VENICE_BASE_URL: Venice's is {VENICE_DEFAULT_URL}."
    if isinstance(exc, UnreadableAnswer):
        kind = f" ({exc.content_type})" if exc.content_type else ""
        return f"{where}: {path} answered with something that is not JSON{kind}, {not_the_api}"
    status = exc.status or 0
    if isinstance(exc, NotFound) or status == 405:
        return f"{where}: {path} answered {status_text(status)}, {not_the_api}"
    if isinstance(exc, InsufficientBalance):
        return f"{where}: 402, the account is out of credit. Add credit at {API_KEY_URL}."
    if isinstance(exc, RateLimited):
        return f"{where}: 429, rate limited. Wait a minute, then run `venice-bots doctor` again."
    if status >= 500:
        ray = f" (Venice request id {exc.cf_ray})" if exc.cf_ray else ""
        return (
            f"{where}: {path} answered {status_text(status)}{ray}: the server failed. Try again in a "
            "few minutes; if it lasts, check VENICE_BASE_URL (and any proxy in between)."
        )
    said = f" ({exc.api_message[:120]})" if exc.api_message else ""
    return f"{where}: {path} answered {status_text(status)}{said}. Check VENICE_API_KEY and VENICE_BASE_URL."
