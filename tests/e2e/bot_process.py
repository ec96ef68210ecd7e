"""A real ``venice-bots run`` process against the in-process fakes, to kill with SIGKILL and start again.

The bot runs as ``python -m bots run`` with Telegram at the fake Telegram and Venice at the fake
Venice, on a database file in the test's folder; its output goes to a log file beside it (a
pipe nobody reads would fill and stall it). Killing it is a real SIGKILL: no handler, no
clean-up, whatever it was writing stays as it was. Starting it again keeps the database.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, BinaryIO

from tests.e2e.test_console import cli_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """``python -m bots run`` on one database; ``start``, ``kill`` (SIGKILL), ``stop`` (SIGINT)."""

    def __init__(self, tmp_path: Path, tg: FakeTelegram, venice: FakeVenice, **settings: str) -> None:
        self.folder = tmp_path
        self.env = cli_env(
            tmp_path,
            venice,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_BASE_URL=tg.base_url,
            TELEGRAM_BASE_FILE_URL=tg.base_file_url,
            **settings,
        )
        self.database = tmp_path / "cli.db"
        self.tg = tg
        self.runs = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def log(self) -> str:
        """Everything every run printed so far."""
        return "".join(
            (self.folder / f"run-{n}.log").read_text(errors="replace") for n in range(1, self.runs + 1)
        )

    async def start(self) -> None:
        """Start the bot and wait until it asks Telegram for updates."""
        assert self._process is None, "already running"
        self.runs += 1
        polls = len(self.tg.calls_to("getUpdates"))
        with _log_file(self.folder / f"run-{self.runs}.log") as out:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bots",
                "run",
                cwd=self.folder,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        await self.tg.wait_for(lambda: len(self.tg.calls_to("getUpdates")) > polls, timeout=30)

    async def kill(self) -> None:
        """SIGKILL the bot: it stops wherever it is."""
        process = self._take()
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), timeout=10) == -signal.SIGKILL

    async def stop(self) -> None:
        """Stop the bot as Ctrl-C does, and check that it stopped cleanly."""
        process = self._take()
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=30)
        assert code == 0, self.log

    async def admin(self, *args: str) -> tuple[int, str]:
        """Run ``venice-bots admin ARGS`` on the bot's database; its exit code and output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots",
            "admin",
            *args,
            cwd=self.folder,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the bot's database directly (the bot may be stopped or running)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            return list(conn.execute(sql, params))

    def spent(self, platform_user_id: int | str) -> int:
        """What a Telegram user paid in all (micro-USD): their holds less what came back."""
        rows = self.query(
            "SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e "
            "JOIN accounts a ON a.id = e.account_id JOIN users u ON a.owner = 'user:' || u.id "
            "WHERE u.platform = 'telegram' AND u.platform_user_id = ? "
            "AND e.kind IN ('reserve', 'settle', 'refund')",
            str(platform_user_id),
        )
        return -int(rows[0][0])

    async def close(self) -> None:
        """Kill what still runs (the end of a failed test)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None

    def _take(self) -> asyncio.subprocess.Process:
        process, self._process = self._process, None
        assert process is not None and process.returncode is None, "not running"
        return process


def _log_file(path: Path) -> BinaryIO:
    # Opened before the process starts, and only handed to it: nothing here waits on the disk.
    return path.open("wb")
