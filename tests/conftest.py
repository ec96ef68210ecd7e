"""Shared fixtures: the fake Venice server, settings pointing at it, an injected clock."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bots.bootstrap import build_service
from core.app import App
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.fakes import openapi
from tests.fakes.venice import FakeVenice
from tests.postgres import PostgresCluster, start_cluster

TEST_KEY = "vk-test-3f9a1c7e5b2d4680"
ROOT = Path(__file__).resolve().parents[1]
# What a wheel is built from: the files the Dockerfile copies into its build stage.
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "core", "adapters", "bots", "migrations")


class FakeClock:
    """Monotonic and wall time that only move when something sleeps."""

    def __init__(self, start: float | None = None) -> None:
        # Start at the real time: the fake server's rate-limit headers carry real timestamps.
        self.now = time.time() if start is None else start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def pytest_report_header() -> str:
    """Say which Venice OpenAPI spec validates the fake Venice, or that it is missing."""
    if openapi.spec_available():
        return f"Venice OpenAPI spec: {openapi.spec_path()}"
    outcome = "fail (CI is set)" if openapi.spec_required() else "are skipped"
    return f"Venice OpenAPI spec MISSING: tests that need it {outcome}. {openapi.missing_spec_message()}"


@pytest.fixture
def openapi_spec() -> Path:
    """The Venice OpenAPI spec file; without it the test skips, or fails under CI, naming the file."""
    if not openapi.spec_available():
        if openapi.spec_required():
            pytest.fail(openapi.missing_spec_message(), pytrace=False)
        pytest.skip(openapi.missing_spec_message())
    return openapi.spec_path()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retry(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(monotonic=clock.monotonic, wall=clock.time, sleep=clock.sleep, rng=random.Random(7))


@pytest.fixture
async def venice() -> AsyncIterator[FakeVenice]:
    async with FakeVenice() as fake:
        yield fake
        assert fake.spec_errors == [], "the client sent requests that break Venice's spec"


@pytest.fixture
def make_settings(tmp_path: Path, venice: FakeVenice) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "venice_api_key": TEST_KEY,
            "venice_base_url": venice.base_url,
            "database_url": f"sqlite:///{tmp_path}/bot.db",
            "default_chat_model": "venice-uncensored",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def make_service(make_settings: Callable[..., Settings], retry: RetryPolicy) -> Callable[..., Any]:
    """``async with make_service(**settings) as service`` builds the real core for a test."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[App]:
        async with build_service(make_settings(**overrides), retry=retry) as service:
            yield service

    return make


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once per session from a copy (no build/ left in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGE_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # No isolated build environment: setuptools comes from the dev lock, so nothing is downloaded.
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(source),
    ]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("venice_bots-*.whl")
    return wheel


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the session (skipped where none is installed, except in CI)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """An empty database of its own for one test, owned by a role that is not a superuser."""
    return postgres.new_database()
