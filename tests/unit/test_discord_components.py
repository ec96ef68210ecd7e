"""Every component the bot lays out is one it recognises again; nothing else is."""

from __future__ import annotations

from typing import Any

from adapters.discord.components import COMMAND_BUTTON, MAX_CUSTOM_ID, is_ours, view_for
from core.chat.turn import REGENERATE
from core.events import Choice


def custom_ids(choices: tuple[Choice, ...]) -> list[Any]:
    view = view_for(choices)
    assert view is not None
    return [item.custom_id for item in view.children]  # DynamicItems, each with its custom_id


def test_the_bots_own_buttons_and_menus_are_recognised() -> None:
    longest = "/" + "x" * (MAX_CUSTOM_ID - len(COMMAND_BUTTON) - 1)
    few = (REGENERATE, Choice("Use it", "/character set Lady Quill"), Choice("Long", longest))
    many = tuple(Choice(f"voice {i}", f"/voice v{i}") for i in range(60))
    ids = custom_ids(few) + custom_ids(many)
    assert len(ids) > 5 and all(is_ours(i) for i in ids), ids


def test_ids_it_never_makes_are_not() -> None:
    for forged in (
        "",
        "venice:retry ",
        "venice:cmd:hi",
        "venice:cmd:/" + "x" * 89,
        "venice:pick:123",
        "venice:pick:٣",
    ):
        assert not is_ours(forged), forged
