"""The storage contract: every backend opens a ``Store`` here, and every test in this folder
runs against each of them through the Protocols of core/ports/storage.py.

A backend is added by naming it in ``BACKENDS`` and opening it in ``open_backend``.
PostgreSQL runs on the session's throwaway server (tests/postgres.py): a test's folder stands
for a database of its own, made on first use and named in the folder's ``postgres-url`` file,
so a test that opens the backend twice on one folder reopens the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.storage.postgres.store import PostgresStore
from adapters.storage.sqlite.store import SqliteStore
from core.money import AllowancePolicy
from core.ports.storage import Store
from tests.postgres import PostgresCluster

BACKENDS = ["sqlite", "postgres"]
START = 1_800_000_000.0


class Now:
    """The time every store of a test reads; moves only when a test moves it."""

    def __init__(self, start: float = START) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@asynccontextmanager
async def open_backend(
    backend: str, folder: Path, *, policy: AllowancePolicy, clock: Callable[[], float]
) -> AsyncIterator[Store]:
    """An opened (and migrated) store of ``backend`` in an empty database."""
    if backend == "sqlite":
        async with SqliteStore(
            str(folder / "store.db"), policy=policy, clock=clock, ledger_clock=clock
        ) as store:
            yield store
        return
    if backend == "postgres":
        async with PostgresStore(
            postgres_database(folder), policy=policy, clock=clock, ledger_clock=clock, pool_size=4
        ) as store:
            yield store
        return
    raise AssertionError(f"unknown backend {backend}")


class _Server:
    """The session's PostgreSQL server, once a test of the postgres backend asked for it."""

    cluster: PostgresCluster | None = None


def postgres_database(folder: Path) -> str:
    """The URL of the database that stands for ``folder``: made empty on first use."""
    named = folder / "postgres-url"
    if not named.exists():
        assert _Server.cluster is not None, "the backend fixture starts the server"
        named.write_text(_Server.cluster.new_database())
    return named.read_text()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":  # skipped where PostgreSQL is not installed (failed under CI)
        _Server.cluster = request.getfixturevalue("postgres")
    return str(request.param)


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, now: Now, request: pytest.FixtureRequest
) -> AsyncIterator[Store]:
    if backend == "postgres":
        (tmp_path / "postgres-url").write_text(request.getfixturevalue("postgres_url"))
    async with open_backend(
        backend, tmp_path, policy=AllowancePolicy(amount=0, period="none"), clock=now
    ) as opened:
        yield opened
