"""The storage contract: every backend opens a ``Store`` here, and every test in this folder
runs against each of them through the Protocols of core/ports/storage.py.

A backend is added by naming it in ``BACKENDS`` and opening it in ``open_backend``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.storage.sqlite.store import SqliteStore
from core.money import AllowancePolicy
from core.ports.storage import Store

BACKENDS = ["sqlite"]
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
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
async def store(backend: str, tmp_path: Path, now: Now) -> AsyncIterator[Store]:
    async with open_backend(
        backend, tmp_path, policy=AllowancePolicy(amount=0, period="none"), clock=now
    ) as opened:
        yield opened
