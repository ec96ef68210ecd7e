"""A throwaway PostgreSQL server for the tests: Debian's own binaries, started in a temp dir.

One cluster per test session (``initdb`` + ``pg_ctl start`` on a free port of 127.0.0.1, no unix
socket, fsync off: tests only), stopped at its end. Each test gets a database of its own, owned
by a role that is **not** a superuser, as managed PostgreSQL services give operators. No mock:
the bot's SQL runs against the real server.

``initdb`` refuses to run as root: as root, the server runs as the ``postgres`` user (Debian's
package creates it). Where no PostgreSQL is installed the tests that need it are skipped, except
under CI (``CI`` set), where that is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

ROLE = "venice"  # the bot's role: owns its databases, not a superuser
SUPERUSER = "postgres"


def binaries() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: Debian's versioned one, newest first, else PATH."""
    for folder in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    ):
        if Path(folder, "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One running server; ``new_database()`` makes an empty database for one test."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="venice-pg-"))
        self.data = self._root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SUPERUSER, "--"] if self._as_root else []
        return subprocess.run([*prefix, *command], check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        if self._as_root:
            shutil.chown(self._root, SUPERUSER)
        self._run(
            str(self._bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        started = self._run(
            str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self._root / "server.log"),
            "-o", options, "-w", "-t", "60", "start", check=False,
        )  # fmt: skip
        if started.returncode != 0:
            log = (self._root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}")
        self.sql(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser (setting up, never the bot's own SQL)."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", SUPERUSER, "-d", database, "-c", statement],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip()

    def url(self, database: str) -> str:
        """The bot's DATABASE_URL for one of this server's databases (as the non-superuser role)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database owned by the bot's role; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server fast and remove its files."""
        with contextlib.suppress(Exception):
            self._run(
                str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False
            )
        shutil.rmtree(self._root, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    """A started cluster, or a skip (a failure under CI) where PostgreSQL is not installed."""
    found = binaries()
    if found is None or shutil.which("psql") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    cluster = PostgresCluster(found)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
