"""Every command and option of `venice-bots` explains itself in --help, and the README names
every command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from bots.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    for action in parser._actions:  # argparse offers no public walk of its sub-commands
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield (*path, name), child, helps.get(name)
                yield from _commands(child, (*path, name))


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    assert "means `venice-bots run`" in (parser.description or "")
    found = list(_commands(parser))
    assert {p for p, _, _ in found} >= {("run",), ("chat",), ("migrate",), ("doctor",), ("health",)}
    for path, command, summary in found:
        assert summary, f"`venice-bots {' '.join(path)}` has no line in the parent's --help"
        assert command.description, f"`venice-bots {' '.join(path)} --help` has no description"
        for action in command._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"`venice-bots {' '.join(path)}`: {action.dest} has no help"


def test_the_readme_names_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path, _, _ in _commands(build_parser()):
        assert f"`venice-bots {' '.join(path)}" in readme, path
