"""Inline keyboards from the core's choices (short callback data, pages for long lists), and the command menus."""

from __future__ import annotations

import itertools
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.error import TelegramError

from core.commands import Access, Command
from core.events import Choice

log = logging.getLogger(__name__)

PAGE_SIZE = 8
MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data
_NUMBER = re.compile(r"[0-9]{1,9}")  # the ids this bot puts in buttons (str.isdigit takes "²" too)


@dataclass(frozen=True)
class Pressed:
    """What a button press asks for: run a command, or show another page of a menu."""

    command: str | None = None
    menu: int | None = None
    page: int = 0


class Menus:
    """Build keyboards and read button presses back.

    Commands that fit go into the button itself (``c:/model x``), so they work after a
    restart; longer ones and paged lists are kept in memory, the newest few thousand.
    """

    KEEP = 5000

    def __init__(self) -> None:
        self._menus: OrderedDict[int, tuple[Choice, ...]] = OrderedDict()
        self._commands: OrderedDict[int, str] = OrderedDict()
        self._ids = itertools.count(1)

    def keyboard(
        self, choices: tuple[Choice, ...], page: int = 0, menu: int | None = None
    ) -> InlineKeyboardMarkup | None:
        """A keyboard for the choices, paged when there are many."""
        if not choices:
            return None
        if len(choices) <= PAGE_SIZE:
            return InlineKeyboardMarkup([[self._button(c)] for c in choices])
        if menu is None:
            menu = next(self._ids)
            self._remember(self._menus, menu, choices)
        pages = (len(choices) + PAGE_SIZE - 1) // PAGE_SIZE
        page = max(0, min(page, pages - 1))
        shown = choices[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        rows = [[self._button(c) for c in shown[i : i + 2]] for i in range(0, len(shown), 2)]
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton("◀", callback_data=f"p:{menu}:{page - 1}"))
        nav.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=f"p:{menu}:{page}"))
        if page < pages - 1:
            nav.append(InlineKeyboardButton("▶", callback_data=f"p:{menu}:{page + 1}"))
        rows.append(nav)
        return InlineKeyboardMarkup(rows)

    def page(self, menu: int, page: int) -> InlineKeyboardMarkup | None:
        """Another page of a menu shown earlier; None when it is no longer known."""
        choices = self._menus.get(menu)
        return None if choices is None else self.keyboard(choices, page, menu)

    def read(self, data: str) -> Pressed | None:
        """Decode a button's callback data; None for data this bot did not make (or forgot)."""
        if len(data.encode()) > MAX_CALLBACK_BYTES:  # no button of this bot carries more
            return None
        kind, _, rest = data.partition(":")
        if kind == "c" and rest.startswith("/"):
            return Pressed(command=rest)
        if kind == "k" and _NUMBER.fullmatch(rest) and int(rest) in self._commands:
            return Pressed(command=self._commands[int(rest)])
        if kind == "p":
            menu, _, page = rest.partition(":")
            if _NUMBER.fullmatch(menu) and _NUMBER.fullmatch(page) and int(menu) in self._menus:
                return Pressed(menu=int(menu), page=int(page))
        return None

    def _button(self, choice: Choice) -> InlineKeyboardButton:
        data = f"c:{choice.command}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            key = next(self._ids)
            self._remember(self._commands, key, choice.command)
            data = f"k:{key}"
        return InlineKeyboardButton(choice.label[:64], callback_data=data)

    def _remember(self, store: OrderedDict, key: int, value: object) -> None:  # type: ignore[type-arg]
        store[key] = value
        while len(store) > self.KEEP:
            store.popitem(last=False)


async def publish_commands(bot: Bot, commands: Iterable[Command], admin_ids: Iterable[int]) -> None:
    """Publish the command menus: everyone, chat admins, and the bot's own admins."""
    shown = [c for c in commands if not c.hidden]  # buttons run the hidden ones

    def menu(*levels: Access) -> list[BotCommand]:
        return [BotCommand(c.name, c.description[:256]) for c in shown if c.access in levels]

    everyone = menu(Access.EVERYONE)
    chat_admins = menu(Access.EVERYONE, Access.CHAT_ADMIN)
    await bot.set_my_commands(chat_admins, scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(everyone, scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands(chat_admins, scope=BotCommandScopeAllChatAdministrators())
    for user_id in admin_ids:
        try:  # the admin's private chat shows every command
            await bot.set_my_commands(
                menu(Access.EVERYONE, Access.CHAT_ADMIN, Access.BOT_ADMIN), scope=BotCommandScopeChat(user_id)
            )
        except TelegramError as exc:  # the admin has not started the bot yet
            log.info("Cannot show admin commands to telegram:%s yet: %s", user_id, exc.message)
