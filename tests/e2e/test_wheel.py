"""The wheel as an operator installs it: a fresh venv, the runtime lock, the wheel, then run from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_KEY
from tests.e2e.test_console import run_cli
from tests.fakes.venice import FakeVenice

pytestmark = pytest.mark.wheel


@pytest.fixture(scope="session")
def wheel_venv(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv (not the project's) with requirements.lock and the wheel installed, once per session."""
    venv = tmp_path_factory.mktemp("wheel-venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    python = str(venv / "bin" / "python")
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        # pip's own cache is reused, so the session after the first downloads nothing.
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--require-hashes",
            "-r",
            str(ROOT / "requirements.lock"),
        ],
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(built_wheel)],
    ]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{step}:\n{done.stdout}{done.stderr}"
    return venv


async def test_the_installed_wheel_migrates_and_answers_from_an_empty_folder(
    wheel_venv: Path, venice: FakeVenice, tmp_path: Path
) -> None:
    here = tmp_path / "empty"
    here.mkdir()
    database = tmp_path / "data" / "x.db"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV")
        and not k.startswith(("VENICE_", "DATABASE_", "ADMIN_", "LOG_"))
    }
    env |= {
        "DATABASE_URL": f"sqlite:///{database}",
        "VENICE_API_KEY": TEST_KEY,
        "VENICE_BASE_URL": venice.base_url,
    }

    bots = [str(wheel_venv / "bin" / "venice-bots")]
    code, out, _ = await run_cli(["--version"], env, cwd=here, program=bots)
    assert code == 0 and out.strip() == f"venice-bots {metadata.version('venice-bots')}"

    code, out, err = await run_cli(["migrate"], env, cwd=here, program=bots)
    assert code == 0, err
    assert "0001_initial" in out and database.is_file()

    code, out, err = await run_cli(["chat"], env, b"Hello from the wheel\n", here, program=bots)
    assert code == 0, err
    assert "You said: “Hello from the wheel”" in out
    assert len(venice.calls_to("/chat/completions")) == 1

    where = "import core, migrations; print(core.__file__); print(migrations.__file__)"
    code, out, err = await run_cli(["-c", where], env, cwd=here, program=[str(wheel_venv / "bin" / "python")])
    assert code == 0, err
    site_packages = next((wheel_venv / "lib").glob("python3.*/site-packages")).resolve()
    for module_file in out.split():
        assert Path(module_file).resolve().is_relative_to(site_packages), module_file
    assert not any(here.iterdir())  # nothing written where it was started
