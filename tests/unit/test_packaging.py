"""The installable package: migrations found as package resources, wherever the code is installed."""

import tomllib
from importlib import metadata, resources
from pathlib import Path

import pytest

from bots.cli import main
from core.storage.migrations import default_migrations_dir, discover
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
