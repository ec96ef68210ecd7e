"""The heartbeat a running bot keeps beside its database, and ``venice-bots health``, which reads it.

The bot rewrites the file every ``HEARTBEAT_SECONDS`` while its event loop runs, and removes it
when it stops (return, exception, Ctrl-C or SIGTERM). Health is its age: older than three beats
means stuck or killed. The file also names the bot's process: when that process is gone (a
SIGKILL, a crash) the bot is reported as not running at once, without waiting for the file to age.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.private_files import private_dir, write_private
from adapters.storage.postgres.database import is_postgres_url
from adapters.storage.sqlite.database import sqlite_path
from core.errors import ConfigurationError
from core.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
MISSED_BEATS = 3
FILE_NAME = ".venice-bots.heartbeat"


class HeartbeatSettings(BaseSettings):
    """The one setting health needs (no API key): where the database, and so the heartbeat, is."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = str(Settings.model_fields["database_url"].default)


def heartbeat_path(database_url: str) -> Path:
    """The heartbeat file: beside the SQLite database (in the working folder for ``:memory:``
    and for PostgreSQL, whose workers each run in their own folder or container)."""
    if is_postgres_url(database_url):
        return Path(".").absolute() / FILE_NAME
    db_path = sqlite_path(database_url)
    base = Path(db_path).parent if db_path != ":memory:" else Path(".")
    return base.absolute() / FILE_NAME


@contextlib.asynccontextmanager
async def heartbeat(path: Path, *, every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Keep ``path`` fresh while the block runs; remove it when the block ends, however it ends."""
    _beat(path)  # at once: a bot that has started is healthy from its first moment
    task = asyncio.create_task(_keep_beating(path, every), name="heartbeat")
    try:
        yield
    finally:
        task.cancel()
        _remove(path)


async def _keep_beating(path: Path, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        _beat(path)


def _beat(path: Path) -> None:
    try:
        private_dir(path.parent)
        write_private(path, json.dumps({"pid": os.getpid(), "pid_namespace": _pid_namespace()}).encode())
    except OSError as exc:
        log.warning("Cannot write the heartbeat %s (venice-bots health reads it): %s", path, exc)


def _remove(path: Path) -> None:
    """Remove the heartbeat if it is this process's (another bot may have taken it over)."""
    if _read(path).pid not in (os.getpid(), None):
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("Cannot remove the heartbeat %s: %s", path, exc)


@dataclass(frozen=True)
class _Beat:
    pid: int | None = None
    pid_namespace: int | None = None


def _read(path: Path) -> _Beat:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return _Beat()  # gone, half-written, or an older version's plain timestamp
    if not isinstance(data, dict):
        return _Beat()
    pid, namespace = data.get("pid"), data.get("pid_namespace")
    return _Beat(pid if isinstance(pid, int) else None, namespace if isinstance(namespace, int) else None)


def _pid_namespace() -> int | None:
    """This process's PID namespace (Linux), so a pid is only looked up where it means something."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def _gone(beat: _Beat) -> bool:
    """Whether the process that wrote the heartbeat has surely exited."""
    if beat.pid is None or beat.pid_namespace is None or beat.pid_namespace != _pid_namespace():
        return False  # written elsewhere (another container, another host): the age decides
    try:
        os.kill(beat.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, but belongs to another user
    return False


def check(path: Path) -> tuple[bool, str]:
    """Whether the bot that keeps ``path`` is alive, and one line saying so."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False, f"unhealthy: the bot is not running (no heartbeat at {path})"
    age = max(0.0, time.time() - modified)
    beat = _read(path)
    pid = f" (pid {beat.pid})" if beat.pid is not None else ""
    if _gone(beat):
        return (
            False,
            f"unhealthy: the bot is not running (pid {beat.pid} has exited; last heartbeat {age:.0f} s ago)",
        )
    if age > HEARTBEAT_SECONDS * MISSED_BEATS:
        return False, (
            f"unhealthy: last heartbeat {age:.0f} s ago{pid}; the bot beats every "
            f"{HEARTBEAT_SECONDS:.0f} s, so it is stuck or was killed"
        )
    return True, f"healthy: last heartbeat {age:.0f} s ago{pid}"


def health() -> int:
    """``venice-bots health``: print one line; 0 when healthy, else 1 (never 2: Docker reserves it)."""
    try:
        path = heartbeat_path(HeartbeatSettings().database_url)
    except ConfigurationError as exc:
        print(f"unhealthy: {exc.user_message}")
        return 1
    healthy, line = check(path)
    print(line)
    return 0 if healthy else 1
