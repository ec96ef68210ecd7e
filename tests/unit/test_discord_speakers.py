"""The Discord adapter's character plumbing without sockets: webhook names, the webhook cache, component layout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from adapters.discord.components import (
    COMMAND_BUTTON,
    CommandSelect,
    plan_components,
    view_for,
)
from adapters.discord.speakers import (
    RETRY_AFTER,
    WEBHOOK_NAME,
    Webhooks,
    webhook_username,
)
from core.chat.turn import REGENERATE
from core.events import Choice

ME = 42


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sherlock Holmes", "Sherlock Holmes"),
        ("  Ada \n Lovelace  ", "Ada Lovelace"),
        ("", "Character"),
        ("x" * 100, "x" * 80),
    ],
)
def test_a_webhook_username_is_one_line_of_at_most_80_characters(name: str, expected: str) -> None:
    assert webhook_username(name) == expected


@pytest.mark.parametrize("name", ["Clyde the Robot", "DISCORD MOD", "discordian clyde", "Mr. cLyDe"])
def test_words_discord_refuses_in_a_webhook_name_get_a_look_alike_letter(name: str) -> None:
    shown = webhook_username(name)
    assert "clyde" not in shown.lower() and "discord" not in shown.lower()
    assert len(shown) == len(name)  # one letter swapped, the rest kept as it was
    assert sum(a != b for a, b in zip(shown, name, strict=True)) == name.lower().count(
        "clyde"
    ) + name.lower().count("discord")


@dataclass
class Home:
    """A channel as the webhook cache sees it: its webhooks, and a count of REST calls."""

    id: int = 1
    existing: list[Any] = field(default_factory=list)
    fail: discord.HTTPException | None = None
    listed: int = 0
    made: int = 0

    async def webhooks(self) -> list[Any]:
        self.listed += 1
        await asyncio.sleep(0)  # let a concurrent lookup run meanwhile
        if self.fail is not None:
            raise self.fail
        return list(self.existing)

    async def create_webhook(self, *, name: str, reason: str | None = None) -> Any:
        self.made += 1
        return hook(name, ME)


def hook(name: str, creator: int, token: str | None = "token") -> Any:
    return SimpleNamespace(name=name, token=token, user=SimpleNamespace(id=creator))


def forbidden() -> discord.Forbidden:
    response = SimpleNamespace(status=403, reason="Forbidden")
    return discord.Forbidden(response, {"message": "Missing Permissions", "code": 50013})  # type: ignore[arg-type]


async def test_the_webhook_is_looked_up_once_and_made_only_when_the_bot_has_none() -> None:
    home = Home(
        existing=[hook(WEBHOOK_NAME, creator=7), hook("other", ME), hook(WEBHOOK_NAME, ME, token=None)]
    )
    webhooks = Webhooks(lambda: ME)
    first = await webhooks.get(home)
    assert await webhooks.get(home) is first and webhooks.cached(home) is first
    # Someone else's "venice-bots" and one without a token cannot carry the bot's buttons: a new one is made.
    assert (home.listed, home.made) == (1, 1)


async def test_the_bots_own_webhook_is_reused() -> None:
    mine = hook(WEBHOOK_NAME, ME)
    home = Home(existing=[mine])
    assert await Webhooks(lambda: ME).get(home) is mine and home.made == 0


async def test_concurrent_lookups_make_one_webhook() -> None:
    home = Home()
    webhooks = Webhooks(lambda: ME)
    found = await asyncio.gather(*(webhooks.get(home) for _ in range(5)))
    assert len({id(f) for f in found}) == 1 and (home.listed, home.made) == (1, 1)


async def test_a_refusal_is_not_asked_again_until_later_and_a_forgotten_webhook_is_made_anew() -> None:
    now = [0.0]
    home = Home(fail=forbidden())
    webhooks = Webhooks(lambda: ME, clock=lambda: now[0])
    assert await webhooks.get(home) is None
    assert await webhooks.get(home) is None and home.listed == 1  # no REST call per message
    now[0] += RETRY_AFTER + 1
    home.fail = None
    found = await webhooks.get(home)
    assert found is not None and home.listed == 2
    webhooks.forget(home, found)
    assert await webhooks.get(home) is not found and home.made == 2


def choices(n: int) -> tuple[Choice, ...]:
    return tuple(Choice(f"Character {i}", f"/character set c{i}") for i in range(n))


def test_up_to_25_choices_are_buttons() -> None:
    parts = plan_components((REGENERATE, *choices(24)))
    assert [p.kind for p in parts] == ["regenerate"] + ["button"] * 24


def test_more_choices_than_buttons_hold_become_select_menus_of_25() -> None:
    parts = plan_components(choices(40))
    assert [p.kind for p in parts] == ["select", "select"]
    assert [len(p.choices) for p in parts] == [25, 15]


def test_regenerate_keeps_a_row_and_what_does_not_fit_is_left_out() -> None:
    parts = plan_components((REGENERATE, *choices(130)))
    assert [p.kind for p in parts] == ["regenerate"] + ["select"] * 4
    assert sum(len(p.choices) for p in parts[1:]) == 100


def test_duplicates_and_over_long_commands_are_left_out() -> None:
    long = Choice("Too long", "/character set " + "x" * 90)
    parts = plan_components((Choice("A", "/x"), Choice("A again", "/x"), long))
    assert [p.choices[0].label for p in parts] == ["A"]
    assert len(COMMAND_BUTTON) + len(long.command) > 100


async def test_the_view_of_many_choices_numbers_its_menus() -> None:
    view = view_for(choices(31))
    assert view is not None
    selects = [item.item for item in view.children if isinstance(item, CommandSelect)]
    assert [s.placeholder for s in selects] == ["Choose… (1–25)", "Choose… (26–31)"]
    assert [len(s.options) for s in selects] == [25, 6]
    assert selects[1].options[0].value == "/character set c25"
    assert {s.custom_id for s in selects} == {"venice:pick:0", "venice:pick:1"}
    assert all(CommandSelect.__discord_ui_compiled_template__.fullmatch(s.custom_id) for s in selects)


async def test_no_choices_no_view() -> None:
    assert view_for(()) is None
