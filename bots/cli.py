"""The ``venice-bots`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bots.logs import setup_logging
from core.errors import BotError, ConfigurationError
from core.settings import API_KEY_URL, Settings

if TYPE_CHECKING:
    from core.chat import ChatService

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
HEARTBEAT_SECONDS = 30.0


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
        description="Venice AI chat bots for Telegram, Discord and the terminal.",
        epilog="Settings come from the environment or .env; see README.md and .env.example.",
    )
    from core.version import version

    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="start every configured platform (the console chat when none is)")
    chat = sub.add_parser("chat", help="chat with Venice in this terminal")
    chat.add_argument(
        "--guest", metavar="NAME", help="chat as a guest (not an admin, own balance) to see what users see"
    )
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("doctor", help="check the API key, the account balance and the database")
    sub.add_parser("health", help="exit 0 while a running bot is alive (Docker health check)")
    from bots.admin import add_parser

    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``venice-bots`` and ``python -m bots``."""
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    settings = load_settings()
    setup_logging(settings.log_level, settings.secret_values(), log_content=settings.log_content)
    try:
        if command == "migrate":
            return asyncio.run(_migrate(settings))
        if command == "doctor":
            from bots.doctor import doctor

            return asyncio.run(doctor(settings, sys.stdout))
        if command == "health":
            return _health(settings)
        if command == "admin":
            from bots.admin import admin

            return asyncio.run(admin(settings, args, sys.stdout))
        guest = getattr(args, "guest", None)
        return asyncio.run(_run(settings, announce=command == "run", guest=guest))
    except ConfigurationError as exc:
        print(exc.user_message, file=sys.stderr)
        return EXIT_CONFIG
    except BotError as exc:  # bad arguments to an admin action, and the like
        print(exc.user_message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _migrate(settings: Settings) -> int:
    from core.storage.database import Database, sqlite_path
    from core.storage.migrations import applied_version, migrate

    async with Database.open(sqlite_path(settings.database_url)) as db:
        applied = await migrate(db)
        version = await applied_version(db)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to do"
    print(f"Database at schema version {version} ({names}).")
    return 0


async def _run(settings: Settings, *, announce: bool, guest: str | None = None) -> int:
    from adapters.console import ConsoleAdapter, terminal_io
    from bots.bootstrap import build_service
    from core.storage.database import sqlite_path

    heartbeat = _heartbeat_path(sqlite_path(settings.database_url))
    async with build_service(settings) as service:
        beat = asyncio.create_task(_beat(heartbeat))
        try:
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
            read_line, write = terminal_io()
            user = f"guest:{guest}" if guest else None
            await ConsoleAdapter(service, read_line=read_line, write=write, user_id=user).run()
        finally:
            beat.cancel()
    return 0


async def _serve_platforms(service: ChatService, settings: Settings) -> None:
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


def _heartbeat_path(db_path: str) -> Path:
    base = Path(db_path).parent if db_path != ":memory:" else Path(".")
    return base / ".venice-bots.heartbeat"


async def _beat(path: Path) -> None:
    """Touch a file while the process is alive, for ``venice-bots health``."""
    while True:
        _touch(path)
        await asyncio.sleep(HEARTBEAT_SECONDS)


def _touch(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(time.time()))
    except OSError as exc:
        log.warning("Cannot write heartbeat %s: %s", path, exc)


def _health(settings: Settings) -> int:
    from core.storage.database import sqlite_path

    path = _heartbeat_path(sqlite_path(settings.database_url))
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        print("unhealthy: no heartbeat yet", file=sys.stderr)
        return 1
    if age > HEARTBEAT_SECONDS * 3:
        print(f"unhealthy: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"healthy: heartbeat {age:.0f} s ago")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
