"""Naming a user or a chat's shared balance, as admins type it, and finding its account.

A user is ``platform:id`` exactly as ADMIN_USER_IDS, ``/whoami`` and ``venice-bots admin
users`` show it: ``telegram:123456789``, ``discord:80351110224678912``, ``console:alice`` (the
operator at the terminal) or ``console:guest:bob`` (``venice-bots chat --guest bob``). A chat's
shared balance (/pool) is ``chat:platform:chat_id``; Telegram group ids are negative.
Finding never creates anything: a name the bot has not seen is refused, so a typo cannot
fund or forget the wrong person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import BotError, InvalidInput
from core.ports.storage import ConversationStore, LedgerStore, UserDirectory
from core.settings import KNOWN_PLATFORMS

_MAX_ID = 2**64 - 1  # Discord snowflakes are unsigned 64-bit; Telegram ids are far below
_NUMBER = re.compile(r"[1-9][0-9]{0,19}")
_SIGNED = re.compile(r"-?[1-9][0-9]{0,19}")
_CONSOLE = re.compile(r"guest:\S+|[^\s:]+")  # the operator's login name, or guest:<name>

USER_FORMS = {
    "telegram": "Telegram ids are numbers, like telegram:123456789",
    "discord": "Discord ids are numbers (snowflakes), like discord:80351110224678912",
    "console": (
        "Console ids are console:<login name> for the operator or console:guest:<name> for a "
        "guest, like console:alice or console:guest:bob"
    ),
}
CHAT_FORMS = {
    "telegram": "Telegram chat ids are numbers, negative for groups, like chat:telegram:-1001234567890",
    "discord": "Discord channel ids are numbers, like chat:discord:80351110224678912",
    "console": "The console's chat is chat:console:terminal",
}
CHAT_UNSEEN_HINT = "/whoami sent in a chat shows its id"
ANY_FORM = (
    f"Name a user as platform:id (platforms: {', '.join(KNOWN_PLATFORMS)}), like telegram:123456789, "
    "or a chat's shared balance as chat:platform:chat_id"
)


@dataclass(frozen=True)
class AccountName:
    """A well-formed user (``telegram:123``) or chat's shared balance (``chat:telegram:-100…``)."""

    platform: str
    id: str
    is_chat: bool = False

    def __str__(self) -> str:
        return f"{'chat:' if self.is_chat else ''}{self.platform}:{self.id}"


class MalformedName(InvalidInput):
    """A user or chat named in a form its platform never uses."""

    def __init__(self, given: str, expected: str, hint: str) -> None:
        super().__init__(f"Not a valid id: {given!r}. {expected}; {hint}.")
        self.given = given
        self.expected = expected


class NoSuchUser(BotError):
    """A well-formed name of a user (or chat) the bot has never seen."""

    def __init__(self, name: AccountName, hint: str) -> None:
        if name.is_chat:
            seen = f"No such chat: {name} (the bot has not seen that chat yet; {CHAT_UNSEEN_HINT})."
        else:
            seen = f"No such user: {name} (the bot has not seen them yet; {hint})."
        super().__init__(seen)
        self.name = name
        self.hint = hint


def parse_account_name(
    text: str, *, default_platform: str | None = None, chats: bool = True, hint: str
) -> AccountName:
    """Check a name against its platform's id form; ``hint`` says where to find real ones.

    Args:
        default_platform: the platform of a bare id (``/grant 123`` in a Telegram chat).
        chats: whether ``chat:platform:chat_id`` (a shared balance) is accepted here.
    """
    given = text.strip()
    if given.lower().startswith("chat:"):
        platform, _, chat_id = given[5:].partition(":")
        platform = platform.lower()
        if not chats:
            raise MalformedName(given, "This takes a user, not a chat's shared balance", hint)
        if platform not in KNOWN_PLATFORMS:
            raise MalformedName(given, ANY_FORM, hint)
        if not _valid(platform, chat_id, chat=True):
            raise MalformedName(given, CHAT_FORMS[platform], hint)
        return AccountName(platform, chat_id, is_chat=True)
    platform, sep, user = given.partition(":")
    if not sep and default_platform:
        platform, user = default_platform, given
    platform = platform.lower()
    if platform not in KNOWN_PLATFORMS:
        raise MalformedName(given, ANY_FORM, hint)
    if not _valid(platform, user, chat=False):
        raise MalformedName(given, USER_FORMS[platform], hint)
    return AccountName(platform, user)


def _valid(platform: str, value: str, *, chat: bool) -> bool:
    if platform == "console":
        return bool(_CONSOLE.fullmatch(value))
    pattern = _SIGNED if chat and platform == "telegram" else _NUMBER
    return bool(pattern.fullmatch(value)) and abs(int(value)) <= _MAX_ID


@dataclass(frozen=True)
class NamedAccount:
    """A name resolved to the ledger account it spends from.

    Attributes:
        user_id: the internal user id (None for a chat's shared balance).
        shared_with: the other users on the same account (joined with /link).
    """

    name: AccountName
    owner: str
    user_id: int | None
    shared_with: tuple[str, ...] = ()

    @property
    def shared_note(self) -> str:
        """A note naming the others who share this balance (joined with /link), or nothing."""
        return f" (one balance with {', '.join(self.shared_with)})" if self.shared_with else ""


class AccountFinder:
    """Resolve names to accounts, refusing ones the bot has not seen."""

    def __init__(self, users: UserDirectory, ledger: LedgerStore, conversations: ConversationStore) -> None:
        self._users = users
        self._ledger = ledger
        self._conversations = conversations

    async def find(self, name: AccountName, *, hint: str, create: bool = False) -> NamedAccount:
        """The account behind a name; ``NoSuchUser`` when it is unseen, unless ``create``."""
        if name.is_chat:
            if not create and not await self._users.chat_seen(name.platform, name.id):
                raise NoSuchUser(name, hint)
            return NamedAccount(name, str(name), None)
        user_id = await self._users.find(name.platform, name.id)
        if user_id is None:
            if not create:
                raise NoSuchUser(name, hint)
            user_id = await self._conversations.user_id(name.platform, name.id, None)
        owner = await self._ledger.owner_of_user(user_id)
        others = tuple(n for n in await self._users.sharing(owner) if n != str(name))
        return NamedAccount(name, owner, user_id, others)
