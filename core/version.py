"""The installed version of venice-bots, from the package metadata (pyproject.toml is the only source)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

DISTRIBUTION = "venice-bots"


def version() -> str:
    """Return the installed venice-bots version, or ``0+unknown`` when the code runs uninstalled."""
    try:
        return _installed_version(DISTRIBUTION)
    except PackageNotFoundError:  # a checkout on PYTHONPATH that pip never installed
        return "0+unknown"
