"""Crash tests: ``python -m bots run`` as a real process, killed with SIGKILL and started again.

The process talks to the in-process fakes (Telegram and Venice, on 127.0.0.1) and keeps its
database in a file under the test's ``tmp_path``, so a restart finds what the killed process
wrote, and nothing it had not written yet::

    bot = BotProcess.for_telegram(tmp_path, tg, venice)
    await bot.start()  # returns once the bot serves (polls Telegram, is ready on Discord)
    ...                # drive it through the fakes; wait for the moment to kill it
    await bot.kill()  # SIGKILL: no clean-up code runs, buffers are lost
    await bot.start()  # the same database and environment
    ...                # wait for what the restart must do
    await bot.stop()  # SIGINT: a clean stop (asserts exit code 0)
    code, output = await bot.admin_check()

Each run's output goes to its own log file (``bot-1.log``, ...): ``bot.log()`` reads them all.

Several workers of one bot (on PostgreSQL: ``DATABASE_URL`` set to the test's database) run in
one folder, as their heartbeat is shared there, each with its own logs::

    first = BotProcess.for_telegram(tmp_path, tg, venice, DATABASE_URL=postgres_url)
    workers = [first, first.another("worker-2"), first.another("worker-3")]
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.test_console import cli_env
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

START_TIMEOUT = 30.0  # a cold interpreter on a busy machine imports slowly
STOP_TIMEOUT = 30.0
RUNNING = "The bot is running"


class BotProcess:
    """One bot deployment (environment, working folder, database) run as successive processes."""

    def __init__(self, folder: Path, env: dict[str, str], name: str = "bot") -> None:
        self.folder = folder
        self.env = env
        self.name = name  # of its log files
        self._process: asyncio.subprocess.Process | None = None
        self.runs = 0  # processes started so far

    def another(self, name: str, **settings: str) -> BotProcess:
        """Another worker of the same bot: the same environment (but ``settings``), database
        and folder."""
        return BotProcess(self.folder, {**self.env, **settings}, name)

    @classmethod
    def for_telegram(
        cls, tmp_path: Path, tg: FakeTelegram, venice: FakeVenice, **settings: str
    ) -> BotProcess:
        """A Telegram bot against the fakes; ``settings`` are extra environment variables."""
        env = cli_env(
            tmp_path,
            venice,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_BASE_URL=tg.base_url,
            TELEGRAM_BASE_FILE_URL=tg.base_file_url,
            **settings,
        )
        return cls(tmp_path, env)

    @classmethod
    def for_discord(cls, tmp_path: Path, dc: FakeDiscord, venice: FakeVenice, **settings: str) -> BotProcess:
        """A Discord bot against the fakes; ``settings`` are extra environment variables."""
        env = cli_env(
            tmp_path,
            venice,
            DISCORD_BOT_TOKEN=dc.token,
            DISCORD_API_BASE_URL=dc.api_base,
            DISCORD_GATEWAY_URL=dc.gateway_url,
            **settings,
        )
        return cls(tmp_path, env)

    @property
    def database(self) -> Path:
        """The SQLite file the bot keeps its state in."""
        return Path(self.env["DATABASE_URL"].removeprefix("sqlite:///"))

    @property
    def pid(self) -> int | None:
        """The running process's id (None before the first start)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether a process was started and has not exited."""
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start a process and return once it serves its platforms."""
        assert not self.running, "the previous process is still running"
        self.runs += 1
        with self._log_file(self.runs).open("wb") as output:  # a local file: opening it does not block
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bots",
                "run",
                cwd=self.folder,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,  # a file, not a pipe: a pipe nobody reads would block the bot
                stderr=asyncio.subprocess.STDOUT,
            )
        process = self._process
        log = self._log_file(self.runs)
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        # Printed once every platform is connected (Telegram polls, Discord is ready).
        while RUNNING not in log.read_text(errors="replace") and process.returncode is None:
            if asyncio.get_running_loop().time() > deadline:
                await self.kill()
                raise AssertionError(f"the bot did not start:\n{self.log()}")
            await asyncio.sleep(0.05)
        assert process.returncode is None, f"the bot exited with {process.returncode}:\n{self.log()}"

    async def kill(self) -> None:
        """Kill the process with SIGKILL (nothing of it runs after this) and wait for it to go."""
        process = self._process
        assert process is not None
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)

    async def stop(self) -> str:
        """Stop the process cleanly with SIGINT; assert it exits with 0; returns every run's log."""
        process = self._process
        assert process is not None and process.returncode is None, "no process is running"
        process.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"the bot did not stop on SIGINT:\n{self.log()}") from None
        assert code == 0, f"the bot exited with {code}:\n{self.log()}"
        return self.log()

    async def aclose(self) -> None:
        """Kill a process a failed test left running (for ``finally:`` blocks)."""
        if self.running:
            await self.kill()

    async def admin_check(self) -> tuple[int, str]:
        """Run ``venice-bots admin check`` on the database; returns its exit code and output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots",
            "admin",
            "check",
            cwd=self.folder,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT)
        assert process.returncode is not None
        return process.returncode, out.decode("utf-8", "replace")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the bot's database directly (while it runs, or after), in its engine's SQL."""
        url = self.env["DATABASE_URL"]
        if url.startswith(("postgresql://", "postgres://")):
            # asyncpg wants an event loop: its own, in a thread (the test's is busy awaiting this).
            with ThreadPoolExecutor(1) as thread:
                return thread.submit(asyncio.run, _pg_query(url, sql, params)).result()
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return list(db.execute(sql, params))

    def log(self) -> str:
        """The output of every run so far, each headed by its number."""
        return "\n".join(
            f"----- run {run} -----\n{self._log_file(run).read_text(errors='replace')}"
            for run in range(1, self.runs + 1)
        )

    def _log_file(self, run: int) -> Path:
        return self.folder / f"{self.name}-{run}.log"


async def _pg_query(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql, *params)]
    finally:
        await conn.close()
