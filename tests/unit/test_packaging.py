"""The installable package: migrations found as package resources, wherever the code is installed."""

import re
import tomllib
import zipfile
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from adapters.storage.sqlite.migrations import default_migrations_dir, discover
from bots.cli import main
from core.version import version

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_are_package_resources_read_through_importlib() -> None:
    folder = resources.files("migrations") / "sqlite"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    assert names == sorted(p.name for p in (ROOT / "migrations" / "sqlite").glob("*.sql"))
    assert "0001_initial.sql" in names
    assert "CREATE TABLE" in (folder / "0001_initial.sql").read_text(encoding="utf-8")
    assert [f"{m.version:04d}_{m.name}.sql" for m in discover()] == names


def test_the_migrations_folder_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "0001_only.sql").write_text("CREATE TABLE only_one (x INTEGER);")
    monkeypatch.setenv("VENICE_BOTS_MIGRATIONS", str(tmp_path))
    assert default_migrations_dir() == tmp_path
    assert [m.name for m in discover()] == ["only"]


def test_the_version_is_read_from_the_installed_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert version() == metadata.version("venice-bots") == declared
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"venice-bots {declared}"


def _locked(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Map each package of a lock file to its pinned version and its hashes."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=\S)", (ROOT / name).read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        if match:
            hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", entry))
            pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))])
def test_each_lock_file_pins_every_dependency_within_its_range_with_hashes(
    lock: str, extras: tuple[str, ...]
) -> None:
    project = _project()
    wanted = [
        *project["dependencies"],
        *(d for extra in extras for d in project["optional-dependencies"][extra]),
    ]
    pins = _locked(lock)
    stale = []
    for requirement in map(Requirement, wanted):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned[0], prereleases=True):
            stale.append(f"{requirement} (locked: {pinned[0] if pinned else 'missing'})")
    assert stale == [], f"{lock} does not satisfy pyproject.toml: run `make lock`"
    assert all(hashes for _version, hashes in pins.values())


def test_the_dev_lock_keeps_the_runtime_lock_versions_and_hashes() -> None:
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


@pytest.mark.wheel
def test_the_wheel_carries_every_package_folder_the_migrations_and_the_license(built_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    sources = {
        path.relative_to(ROOT).as_posix()
        for top in ("core", "adapters", "bots", "migrations")
        for path in (ROOT / top).rglob("*")
        if path.suffix in (".py", ".sql") and "__pycache__" not in path.parts
    }
    assert sources - names == set()
    assert not {name for name in names if name.startswith("tests/")}
    dist_info = f"venice_bots-{metadata.version('venice-bots')}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    fields = zipfile.ZipFile(built_wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: MIT" in fields
