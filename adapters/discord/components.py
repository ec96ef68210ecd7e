"""Buttons and select menus under answers: the core's choices, laid out in Discord's five rows."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import discord

from core.chat.turn import REGENERATE
from core.events import Choice

log = logging.getLogger(__name__)

COMMAND_BUTTON = "venice:cmd:"
COMMAND_SELECT = "venice:pick:"
MAX_CUSTOM_ID = 100
MAX_ROWS = 5
ROW_WIDTH = 5  # buttons in a row
MAX_OPTIONS = 25  # options in a select menu
MAX_LABEL = 80  # a button's label; a select option's may be 100
MAX_VALUE = 100  # a select option's value

# The custom_ids this bot makes, as the DynamicItem templates that read them back. ASCII digits
# and bounded lengths: a forged id that merely looks close never reaches ``int()`` or a command.
_REGENERATE_ID = r"venice:retry"
_COMMAND_ID = re.escape(COMMAND_BUTTON) + rf"(?P<command>/.{{0,{MAX_CUSTOM_ID - len(COMMAND_BUTTON) - 1}}})"
_SELECT_ID = re.escape(COMMAND_SELECT) + r"(?P<index>[0-9]{1,2})"
_OURS = tuple(re.compile(template) for template in (_REGENERATE_ID, _COMMAND_ID, _SELECT_ID))


def is_ours(custom_id: str) -> bool:
    """Whether a component's custom_id is one this bot makes (and a DynamicItem will answer)."""
    return any(pattern.fullmatch(custom_id) for pattern in _OURS)


class ChoiceHandler(Protocol):
    """What the components call when pressed: the adapter."""

    async def regenerate(self, interaction: discord.Interaction) -> None:
        """The Regenerate button was pressed."""

    async def press(self, interaction: discord.Interaction, command: str) -> None:
        """A command button was pressed, or a command picked in a select menu."""

    async def expired(self, interaction: discord.Interaction) -> None:
        """A component this bot cannot act on was used: say the button has expired."""


class RegenerateButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_REGENERATE_ID):
    """The "Regenerate" button under an answer; works after a restart too."""

    handler: ChoiceHandler | None = None  # set when the adapter starts

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="Regenerate", emoji="🔄", custom_id="venice:retry", style=discord.ButtonStyle.secondary
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RegenerateButton:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.handler is not None:
            await self.handler.regenerate(interaction)


class CommandButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_COMMAND_ID):
    """A button that runs a core command (a /video quote's "Make it", a character to bind); survives restarts."""

    handler: ChoiceHandler | None = None  # set when the adapter starts

    def __init__(self, command: str, label: str = "OK") -> None:
        self.command = command
        super().__init__(
            discord.ui.Button(
                label=label[:MAX_LABEL], custom_id=f"{COMMAND_BUTTON}{command}", style=button_style(command)
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CommandButton:
        label = getattr(item, "label", None) or "OK"
        return cls(match["command"], label)

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.handler is not None:
            await self.handler.press(interaction, self.command)


class CommandSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=_SELECT_ID):
    """A menu of commands, for more choices than buttons hold; each option's value is its command."""

    handler: ChoiceHandler | None = None  # set when the adapter starts

    def __init__(
        self, index: int, choices: list[Choice] | None = None, placeholder: str | None = None
    ) -> None:
        options = [discord.SelectOption(label=c.label[:100], value=c.command) for c in choices or ()]
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=f"{COMMAND_SELECT}{index}",
            placeholder=placeholder,
            options=options or [discord.SelectOption(label="…", value="…")],
        )  # rebuilt from a click: the options do not matter
        super().__init__(select)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CommandSelect:
        return cls(int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        values = data.get("values") or []
        if self.handler is not None and values:
            await self.handler.press(interaction, str(values[0]))
        elif self.handler is not None:  # nothing picked: not something this bot's menus send
            await self.handler.expired(interaction)


def button_style(command: str) -> discord.ButtonStyle:
    """Cancelling looks different from going ahead."""
    return (
        discord.ButtonStyle.secondary if "cancel" in command.split(" ", 1)[0] else discord.ButtonStyle.primary
    )


@dataclass(frozen=True)
class Part:
    """One component of a layout: a button (one choice) or a select menu (several)."""

    kind: Literal["regenerate", "button", "select"]
    choices: tuple[Choice, ...]


def plan_components(choices: tuple[Choice, ...]) -> list[Part]:
    """Lay choices out in Discord's five rows: buttons while they fit, else select menus of 25.

    Regenerate is always a button. Choices whose command cannot fit a custom_id or option value are
    left out (and logged), and so is whatever does not fit in five rows.
    """
    parts: list[Part] = []
    commands: list[Choice] = []
    seen: set[str] = set()
    for choice in choices:
        if choice == REGENERATE:
            parts.append(Part("regenerate", (choice,)))
        elif len(COMMAND_BUTTON) + len(choice.command) > MAX_CUSTOM_ID or len(choice.command) > MAX_VALUE:
            log.warning("Choice %r left out: its command is too long for a custom_id", choice.label)
        elif choice.command not in seen:  # Discord refuses two components (or options) with one id
            seen.add(choice.command)
            commands.append(choice)
    if len(commands) + len(parts) <= MAX_ROWS * ROW_WIDTH:
        return parts + [Part("button", (c,)) for c in commands]
    rows = MAX_ROWS - len(parts)  # a select menu takes a whole row
    selects = [
        Part("select", tuple(commands[i : i + MAX_OPTIONS])) for i in range(0, len(commands), MAX_OPTIONS)
    ]
    if len(selects) > rows:
        log.warning(
            "%d choices left out: more than %d select menus", len(commands) - rows * MAX_OPTIONS, rows
        )
    return parts + selects[:rows]


def view_for(choices: tuple[Choice, ...]) -> discord.ui.View | None:
    """The components under an answer: Regenerate, and the core's other choices (see ``plan_components``)."""
    parts = plan_components(choices)
    if not parts:
        return None
    view = discord.ui.View(timeout=None)
    selects = [part for part in parts if part.kind == "select"]
    shown = 0
    for index, part in enumerate(parts):
        if part.kind == "regenerate":
            view.add_item(RegenerateButton())
        elif part.kind == "button":
            view.add_item(CommandButton(part.choices[0].command, part.choices[0].label))
        else:
            first, shown = shown + 1, shown + len(part.choices)
            placeholder = f"Choose… ({first}–{shown})" if len(selects) > 1 else "Choose…"
            view.add_item(CommandSelect(index, list(part.choices), placeholder))
    return view
