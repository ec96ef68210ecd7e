"""The ``venice-bots`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bots.logs import setup_logging
from core.errors import BotError, ConfigurationError, StorageUnavailable
from core.ports.metrics import NO_METRICS
from core.settings import API_KEY_URL, Settings

if TYPE_CHECKING:
    from core.app import App

log = logging.getLogger(__name__)

EXIT_CONFIG = 2


def load_settings() -> Settings:
    """Read settings; on a missing or invalid one, print one clear line and exit with 2."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def describe_settings_error(exc: ValidationError) -> str:
    """One line per problem, naming the variable (never echoing a value)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        if name == "VENICE_API_KEY" and (error["type"] == "missing" or "empty" in str(error["msg"])):
            lines.append(
                f"VENICE_API_KEY is not set. Get an API key at {API_KEY_URL} and put it in "
                "the environment or in .env (see .env.example)."
            )
        else:
            reason = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"Invalid setting {name}: {reason}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="venice-bots",
        description="Venice AI chat bots for Telegram, Discord and the terminal. "
        "With no command, `venice-bots` means `venice-bots run`.",
        epilog="Settings come from the environment or .env; see README.md and .env.example.",
    )
    from core.version import version

    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary, description in COMMANDS:
        command = sub.add_parser(name, help=summary, description=description)
        if name == "chat":
            command.add_argument(
                "--guest",
                metavar="NAME",
                help="chat as the plain user console:guest:NAME (own conversation and balance, "
                "no admin rights) to see what users see",
            )
    from bots.admin import add_parser

    add_parser(sub)
    database = sub.add_parser(
        "db",
        help="copy the database between SQLite and PostgreSQL",
        description="Database tools that need no API key.",
    )
    actions = database.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    copying = actions.add_parser(
        "copy",
        help="copy every table into an empty database (SQLite -> PostgreSQL, or back)",
        description="Copy every table from SRC_URL into the empty database DST_URL, in batches with "
        "a progress line, then compare each table's row count. Both are migrated to this version's "
        "schema first; a target that holds any row is refused. Stop the bot while copying.",
    )
    copying.add_argument("source", metavar="SRC_URL", help="e.g. sqlite:///data/venice-bots.db")
    copying.add_argument("target", metavar="DST_URL", help="e.g. postgresql://venice:secret@db:5432/venice")
    return parser


# Each command: its name, a line for `venice-bots --help`, and what `venice-bots NAME --help` says.
COMMANDS = (
    (
        "run",
        "start every configured platform (the console chat when none is)",
        "Start the bot on every platform whose token is set (TELEGRAM_BOT_TOKEN, "
        "DISCORD_BOT_TOKEN); with none set, chat in this terminal. The database is migrated "
        "first. Stop with Ctrl-C or SIGTERM. This is what `venice-bots` with no command does.",
    ),
    (
        "chat",
        "chat with Venice in this terminal",
        "Chat in this terminal as the operator (console:<your login name>, a bot admin), or "
        "with --guest NAME as a plain user. Ctrl-C stops an answer; Ctrl-C or Ctrl-D at the "
        "prompt, or /quit, leaves.",
    ),
    (
        "migrate",
        "bring the database schema up to date",
        "Apply the database migrations this version has and the database lacks (each in its "
        "own transaction), then print the schema version. `run` does this at every start too.",
    ),
    (
        "doctor",
        "check the settings, the database, Venice and the platforms (read-only)",
        "Check the configuration without changing anything: the database (present, migrated, "
        "intact), the Venice API key and account, and each platform token. Prints what is "
        "configured (never a secret) and, for each failure, the URL, the cause and the fix. "
        "Exit 0 when every check passes, 1 otherwise.",
    ),
    (
        "web",
        "serve the operator's web console alone (no platform polling)",
        "Serve the web console on WEB_HOST:WEB_PORT (default 127.0.0.1:8080): the overview, "
        "users, their ledgers and the grant form behind WEB_ADMIN_PASSWORD, and /healthz, "
        "/readyz and /metrics. It polls no platform, even with their tokens set; `run` serves "
        "the same console beside the bot when WEB_ADMIN_PASSWORD is set. Stop with Ctrl-C or SIGTERM.",
    ),
    (
        "health",
        "exit 0 while a running bot is alive (the Docker health check)",
        "Exit 0 while a bot started by `run` or `chat` with the same DATABASE_URL is alive "
        "(its heartbeat is fresh), 1 otherwise. Needs no API key.",
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``venice-bots`` and ``python -m bots``."""
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "health":  # needs no API key: only where the heartbeat is
        from bots.health import health

        return health()
    if command == "db":  # needs no API key: the two URLs are its arguments
        from bots.dbcopy import copy

        try:
            return asyncio.run(copy(args.source, args.target))
        except BotError as exc:
            print(exc.user_message, file=sys.stderr)
            return EXIT_CONFIG if isinstance(exc, ConfigurationError) else 1
    settings = load_settings()
    setup_logging(settings.log_level, settings.secret_values(), log_content=settings.log_content)
    if command == "doctor" and settings.log_level != "DEBUG":
        # Doctor's output is its own lines: no library's warnings (discord.py's intents,
        # PTB's, the Venice client's) unless LOG_LEVEL=DEBUG asks for everything.
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")
    try:
        if command == "migrate":
            return asyncio.run(_migrate(settings))
        if command == "doctor":
            from bots.doctor import doctor

            return asyncio.run(doctor(settings, sys.stdout))
        if command == "admin":
            from bots.admin import admin

            return asyncio.run(admin(settings, args, sys.stdout))
        if command == "web":
            from bots.web import serve_console_alone

            return asyncio.run(serve_console_alone(settings))
        guest = getattr(args, "guest", None)
        return asyncio.run(_run(settings, announce=command == "run", guest=guest))
    except ConfigurationError as exc:
        print(exc.user_message, file=sys.stderr)
        return EXIT_CONFIG
    except StorageUnavailable as exc:  # e.g. a migration at start-up on a full disk
        print(exc.advice, file=sys.stderr)
        return 1
    except BotError as exc:  # bad arguments to an admin action, and the like
        print(exc.user_message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _migrate(settings: Settings) -> int:
    from adapters.storage.postgres.database import is_postgres_url

    if is_postgres_url(settings.database_url):
        from adapters.storage.postgres import database as pg
        from adapters.storage.postgres import migrations as pg_migrations

        # Under an advisory lock: workers starting at once, or this beside them, apply each file once.
        async with pg.Database.open(settings.database_url, pool_size=1) as pool:
            applied = await pg_migrations.migrate(pool)
            version = await pg_migrations.recorded_version(pool)
    else:
        from adapters.storage.sqlite.database import Database, sqlite_path
        from adapters.storage.sqlite.migrations import applied_version, migrate

        async with Database.open(sqlite_path(settings.database_url)) as db:
            applied = await migrate(db)
            version = await applied_version(db)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to do"
    print(f"Database at schema version {version} ({names}).")
    return 0


async def _run(settings: Settings, *, announce: bool, guest: str | None = None) -> int:
    from adapters.terminal import chat_in_terminal
    from bots.bootstrap import build_service
    from bots.health import heartbeat, heartbeat_path

    metrics = None
    if announce and settings.web_admin_password is not None:  # the console's libraries load only then
        from adapters.web.metrics import PrometheusMetrics

        metrics = PrometheusMetrics()
    async with contextlib.AsyncExitStack() as stack:
        service = await stack.enter_async_context(build_service(settings, metrics=metrics or NO_METRICS))
        await stack.enter_async_context(heartbeat(heartbeat_path(settings.database_url)))
        if metrics is not None:
            from bots.web import console_beside

            await stack.enter_async_context(console_beside(settings, service, metrics))
        if announce and (settings.telegram_bot_token or settings.discord_bot_token):
            await _serve_platforms(service, settings)
            return 0
        if announce:
            print(
                "No platform token is configured, so the console chat starts. To run on "
                "Telegram, set TELEGRAM_BOT_TOKEN (from @BotFather); on Discord, "
                "DISCORD_BOT_TOKEN (from the developer portal). See README.md.",
                file=sys.stderr,
            )
        await chat_in_terminal(service, guest=guest)  # until Ctrl-D, Ctrl-C at the prompt, SIGTERM
    return 0


async def _serve_platforms(service: App, settings: Settings) -> None:
    """Run every configured platform until SIGINT or SIGTERM."""
    from adapters.discord.bot import DiscordAdapter
    from adapters.telegram.bot import TelegramAdapter

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if settings.telegram_bot_token is not None:
            await stack.enter_async_context(TelegramAdapter(service, settings))
        if settings.discord_bot_token is not None:
            await stack.enter_async_context(DiscordAdapter(service, settings))
        print("The bot is running; stop it with Ctrl-C.", file=sys.stderr)
        await stop.wait()
    print("Stopped.", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
