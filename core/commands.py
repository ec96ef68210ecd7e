"""The command registry: one definition per command, rendered by each adapter its own way."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import PermissionDenied, UnknownCommand, UsageError
from core.events import AttachmentKind, IncomingMessage, Reply, ReplyStream
from core.text import or_list


class ArgType(enum.Enum):
    """How an argument is read from text."""

    WORD = "word"  # one whitespace-separated word
    TEXT = "text"  # the rest of the line
    INTEGER = "integer"


class Access(enum.Enum):
    """Who may run a command."""

    EVERYONE = "everyone"
    CHAT_ADMIN = "chat_admin"  # an admin of the chat (anyone in a DM) or a bot admin
    BOT_ADMIN = "bot_admin"  # listed in ADMIN_USER_IDS


class Audience(enum.Enum):
    """Who sees a command's reply, where a platform can show a reply to its asker alone (Discord)."""

    # The chat when the command changes something (given arguments, by someone who may change
    # the chat); otherwise (a look at the current value, a refusal) only the asker.
    CHANGE = "change"
    ACTION = "action"  # the chat: it acts on the chat even without arguments (/reset, /retry)
    CHAT = "chat"  # the chat, whoever asks: what it makes (pictures, speech, video) is for everyone
    ASKER = "asker"  # only the asker: information, and a user's own data


@dataclass(frozen=True)
class Arg:
    """One argument of a command.

    Attributes:
        choices: the only values allowed (adapters may show them as options).
        autocomplete: a named source of suggestions ("models"), for adapters that offer it.
        option: given by name in text (``--seed 42``) rather than by position; adapters with
            typed options (Discord) show it as an optional field of its own.
        example: a value to show in the example of a command that was sent without it.
        what: how "/command needs …" names it when it is missing (default: "a <name>"
            and the description).
    """

    name: str
    description: str
    type: ArgType = ArgType.WORD
    required: bool = False
    choices: tuple[str, ...] = ()
    autocomplete: str | None = None
    option: bool = False
    example: str = ""
    what: str = ""

    @property
    def label(self) -> str:
        """How error messages name it: ``--name`` for an option, ``<name>`` otherwise."""
        return f"--{self.name}" if self.option else f"<{self.name}>"

    @property
    def missing(self) -> str:
        """What a command lacks without it: "a prompt (what the image shows)"."""
        if self.what:
            return self.what
        article = "an" if self.name[:1].lower() in "aeio" else "a"
        about = self.description[:1].lower() + self.description[1:]
        return f"{article} {self.name} ({about})"


@dataclass(frozen=True)
class FileArg:
    """A file a command works on, sent with it as an attachment rather than typed.

    Attributes:
        name: what the file is, for people ("image", "card").
        kinds: the attachment kinds the command reads.
        max_bytes: the largest file the command takes.
        action: the value of the command's first argument that takes the file (``import``
            for ``/persona import``); None: the command itself.
        optional: the command works without the file too (``/video`` animates one if given).
    """

    name: str
    description: str
    kinds: tuple[AttachmentKind, ...]
    max_bytes: int
    action: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class CommandContext:
    """Who runs a command, and where."""

    message: IncomingMessage
    is_bot_admin: bool

    @property
    def may_administer_chat(self) -> bool:
        """A DM's user, a chat admin, or a bot admin."""
        return self.is_bot_admin or self.message.is_direct or self.message.is_chat_admin

    def require_chat_admin(self, what: str) -> None:
        """Refuse unless the caller may change this chat's settings."""
        if not self.may_administer_chat:
            raise PermissionDenied(f"Only admins of this chat can {what}.")


Handler = Callable[[CommandContext, dict[str, Any]], Awaitable[Reply | ReplyStream]]


@dataclass(frozen=True)
class Command:
    """A command's definition and its handler."""

    name: str
    description: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    access: Access = Access.EVERYONE
    hidden: bool = False  # run by buttons only: left out of menus, help and slash commands
    file: FileArg | None = None
    audience: Audience = Audience.CHANGE
    # Values of the first argument that only show something (``/character search``): their
    # reply is the asker's alone, whatever the command's audience.
    private_actions: tuple[str, ...] = ()

    def audience_for(self, raw_args: str) -> Audience:
        """Who sees the reply to the command run with these arguments."""
        action = raw_args.split(" ", 1)[0].lower()
        return Audience.ASKER if action in self.private_actions else self.audience

    @property
    def usage(self) -> str:
        """``/name <required> [optional]``, with choices spelled out."""
        parts = [f"/{self.name}"]
        for arg in self.args:
            label = "|".join(arg.choices) if arg.choices else arg.name
            if arg.option:
                parts.append(f"[--{arg.name} {label}]")
            else:
                parts.append(f"<{label}>" if arg.required else f"[{label}]")
        return " ".join(parts)

    @property
    def example(self) -> str:
        """The command with an example for each required argument ("" if one has none)."""
        required = [a for a in self.args if a.required]
        if not all(a.example for a in required):
            return ""
        return " ".join([f"/{self.name}", *(a.example for a in required)])

    def text_args(self, values: dict[str, Any]) -> str:
        """The text form of typed values (positional first, then ``--name value``)."""
        parts = [str(values[a.name]) for a in self.args if not a.option and values.get(a.name) is not None]
        parts += [
            f"--{a.name} {values[a.name]}" for a in self.args if a.option and values.get(a.name) is not None
        ]
        return " ".join(parts)


class CommandRegistry:
    """All commands, by name."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        """Register a command; names are unique."""
        if command.name in self._commands:
            raise ValueError(f"command /{command.name} is registered twice")
        self._commands[command.name] = command

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def get(self, name: str) -> Command:
        """Return a command or raise ``UnknownCommand``."""
        try:
            return self._commands[name.lower()]
        except KeyError:
            raise UnknownCommand(name) from None

    def visible_to(self, ctx: CommandContext) -> list[Command]:
        """The commands this caller may run (buttons-only ones left out)."""
        return [c for c in self if _allowed(c, ctx) and not c.hidden]

    def parse(self, text: str) -> tuple[Command, dict[str, Any]]:
        """Parse ``/name args…`` (``/name@botname`` too) into a command and typed arguments."""
        head, _, rest = text.strip().partition(" ")
        name = head[1:].split("@", 1)[0]
        if not name:
            raise UnknownCommand("")
        command = self.get(name)
        return command, self.parse_args(command, rest)

    def parse_args(self, command: Command, text: str) -> dict[str, Any]:
        """Read a command's arguments from the text after its name."""
        values: dict[str, Any] = {}
        rest = text.strip()
        options = {a.name: a for a in command.args if a.option}
        if options:
            rest = self._read_options(command, options, rest, values)
        for arg in command.args:
            if arg.option:
                continue
            if not rest:
                if arg.required:
                    raise UsageError(
                        f"/{command.name} needs {arg.missing}.", command.usage, example=command.example
                    )
                continue
            if arg.type is ArgType.TEXT:
                raw, rest = rest, ""
            else:
                raw, _, rest = rest.partition(" ")
                rest = rest.strip()
            values[arg.name] = self.convert(command, arg, raw)
        if rest:
            raise UsageError(f"/{command.name} does not take {rest!r}.", command.usage)
        return values

    def _read_options(
        self, command: Command, options: dict[str, Arg], text: str, values: dict[str, Any]
    ) -> str:
        """Take ``--name value`` pairs out of the text; a value runs to the next option."""
        pieces = re.split(r"(?:^|\s)--([A-Za-z][\w-]*)(?=\s|$)", text)
        rest = pieces[0].strip()
        for name, raw in zip(pieces[1::2], pieces[2::2], strict=True):
            arg = options.get(name.lower())
            if arg is None:
                known = or_list([f"--{n}" for n in options])
                raise UsageError(f"/{command.name} has no option --{name}; it has {known}.", command.usage)
            if not raw.strip():
                raise UsageError(f"{arg.label} needs a value.", command.usage)
            values[arg.name] = self.convert(command, arg, raw.strip())
        return rest

    def convert(self, command: Command, arg: Arg, raw: Any) -> Any:
        """Check and convert one argument value (adapters with typed options call this too)."""
        if arg.type is ArgType.INTEGER:
            try:
                value: Any = int(raw)
            except (TypeError, ValueError):
                raise UsageError(f"{arg.label} must be a whole number, not {raw!r}.", command.usage) from None
        else:
            value = str(raw).strip()
        if arg.choices and str(value).lower() not in arg.choices:
            raise UsageError(
                f"{self._chooser(command, arg)} takes {or_list(arg.choices)}, not {str(value)!r}.",
                command.usage,
            )
        return str(value).lower() if arg.choices else value

    @staticmethod
    def _chooser(command: Command, arg: Arg) -> str:
        """Who takes a choice: "/websearch" for its first argument, else the argument's label."""
        first = next((a for a in command.args if not a.option), None)
        return f"/{command.name}" if arg is first else arg.label

    async def run(self, ctx: CommandContext, command: Command, args: dict[str, Any]) -> Reply | ReplyStream:
        """Check access, then run the handler."""
        if not _allowed(command, ctx):
            who = "the bot's admins" if command.access is Access.BOT_ADMIN else "chat admins"
            raise PermissionDenied(f"Only {who} can use /{command.name}.")
        return await command.handler(ctx, args)


def help_text(commands: Iterable[Command], usage: Callable[[Command], str] | None = None) -> str:
    """The /help text: each command's usage (as the adapter writes it) and what it does."""
    lines = [
        "Send a message to chat with Venice AI, or a photo, a voice note or a document (PDF, DOCX, "
        "PPTX, XLSX, text) with or without a question about it. Commands:"
    ]
    lines += [f"{usage(c) if usage else c.usage} — {c.description}" for c in commands]
    return "\n".join(lines)


def _allowed(command: Command, ctx: CommandContext) -> bool:
    if command.access is Access.BOT_ADMIN:
        return ctx.is_bot_admin
    if command.access is Access.CHAT_ADMIN:
        return ctx.may_administer_chat
    return True
