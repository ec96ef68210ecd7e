"""Discord's rules for the fake Discord: permission and intent bits, error bodies, message and command limits."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ALL_PERMISSIONS",
    "ATTACHMENT_SIZE_LIMIT",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DM_PERMISSIONS",
    "DcError",
    "Intent",
    "Perm",
    "check_autocomplete_choices",
    "check_commands",
    "check_message",
    "iso",
    "missing_permissions",
]

ATTACHMENT_SIZE_LIMIT = (
    10 * 1024 * 1024
)  # per file, for a server without boosts (Discord lowered it to 10 MiB in 2024)
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
_EMBED_LIMITS = {"title": 256, "description": 4096}
_FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_FIELDS = 25
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


class Perm:
    """Permission bits, as in Discord's documentation."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    SEND_VOICE_MESSAGES = 1 << 46


ALL_PERMISSIONS = (1 << 53) - 1
# Roughly what a new server gives @everyone: read, write, embed, attach, react, threads, slash commands.
DEFAULT_EVERYONE_PERMISSIONS = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_VOICE_MESSAGES
)
DM_PERMISSIONS = (
    Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
)


class Intent:
    """Gateway intent bits."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_WEBHOOKS = 1 << 5
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
    ALL = (1 << 26) - 1


class DcError(Exception):
    """An error answer of the Discord API: HTTP status, JSON (or text) body, extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def coded(cls, status: int, code: int, message: str) -> DcError:
        """Return Discord's usual ``{"message", "code"}`` error."""
        return cls(status, {"message": message, "code": code})

    @classmethod
    def form(cls, errors: dict[str, Any]) -> DcError:
        """Return 400 Invalid Form Body (50035) with Discord's nested ``errors``."""
        return cls(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})

    @classmethod
    def unknown(cls, what: str) -> DcError:
        """Return Discord's 404 for an unknown object: "Channel", "Message", "Webhook", "interaction", ...."""
        codes = {
            "Guild": 10004,
            "Channel": 10003,
            "Message": 10008,
            "User": 10013,
            "Webhook": 10015,
            "interaction": 10062,
            "Application": 10002,
            "application command": 10063,
        }
        return cls.coded(404, codes[what], f"Unknown {what}")


def missing_permissions() -> DcError:
    """Return 403 Missing Permissions (50013)."""
    return DcError.coded(403, 50013, "Missing Permissions")


def iso(timestamp: float) -> str:
    """Return ``timestamp`` as Discord writes times: ISO 8601 with microseconds and +00:00."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def field_error(code: str, message: str) -> dict[str, Any]:
    """Return one leaf of an Invalid Form Body ``errors`` tree."""
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> dict[str, Any]:
    return field_error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def embed_size(embed: dict[str, Any]) -> int:
    """Return the characters that count against the 6000 total, as Discord counts them."""
    size = len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
    size += len(str((embed.get("footer") or {}).get("text") or ""))
    size += len(str((embed.get("author") or {}).get("name") or ""))
    for field in embed.get("fields") or []:
        size += len(str(field.get("name") or "")) + len(str(field.get("value") or ""))
    return size


def check_message(payload: dict[str, Any], *, files: int, edit: bool = False) -> None:
    """Raise DcError as Discord does for a message body that breaks its limits (or, unless ``edit``, is empty).

    An edit is checked for emptiness on the message it produces: see ``check_not_empty``.
    """
    errors: dict[str, Any] = {}
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors["content"] = field_error("BASE_TYPE_STRING", "Must be a string.")
    elif isinstance(content, str) and len(content) > MAX_CONTENT:
        errors["content"] = _too_long(MAX_CONTENT)
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors["embeds"] = _too_long(MAX_EMBEDS)
    else:
        embed_errors = {str(i): e for i, e in enumerate(_embed_errors(embed) for embed in embeds) if e}
        if embed_errors:
            errors["embeds"] = embed_errors
        elif sum(embed_size(embed) for embed in embeds) > MAX_EMBED_TOTAL:
            errors["embeds"] = field_error(
                "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
    if errors:
        raise DcError.form(errors)
    if not edit:
        check_not_empty({**payload, "attachments": [None] * files})


def check_not_empty(message: dict[str, Any]) -> None:
    """Raise 50006 unless ``message`` has content, embeds, attachments, stickers, components or a poll."""
    content = message.get("content")
    if isinstance(content, str) and content.strip():
        return
    if any(
        message.get(key)
        for key in ("embeds", "attachments", "sticker_ids", "sticker_items", "components", "poll")
    ):
        return
    raise DcError.coded(400, 50006, "Cannot send an empty message")


def _embed_errors(embed: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for key, limit in _EMBED_LIMITS.items():
        if len(str(embed.get(key) or "")) > limit:
            errors[key] = _too_long(limit)
    if len(str((embed.get("footer") or {}).get("text") or "")) > 2048:
        errors["footer"] = {"text": _too_long(2048)}
    if len(str((embed.get("author") or {}).get("name") or "")) > 256:
        errors["author"] = {"name": _too_long(256)}
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        errors["fields"] = _too_long(MAX_FIELDS)
    else:
        field_errors: dict[str, Any] = {}
        for index, field in enumerate(fields):
            bad = {
                key: _too_long(limit)
                for key, limit in _FIELD_LIMITS.items()
                if len(str(field.get(key) or "")) > limit
            }
            bad.update(
                {
                    key: field_error("BASE_TYPE_REQUIRED", "This field is required")
                    for key in _FIELD_LIMITS
                    if not str(field.get(key) or "")
                }
            )
            if bad:
                field_errors[str(index)] = bad
        if field_errors:
            errors["fields"] = field_errors
    return errors


def check_commands(commands: Sequence[Any]) -> None:
    """Raise Invalid Form Body for a bulk command overwrite Discord would refuse (names, descriptions, options)."""
    if not isinstance(commands, list):
        raise DcError.form({"_errors": [{"code": "BASE_TYPE_ARRAY", "message": "Must be an array."}]})
    errors: dict[str, Any] = {}
    seen: set[tuple[int, str]] = set()
    for index, command in enumerate(commands):
        problems = _command_errors(command, top=True)
        key = (int(command.get("type", 1)), str(command.get("name")))
        if key in seen:
            problems["name"] = field_error(
                "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(key)
        if problems:
            errors[str(index)] = problems
    if errors:
        raise DcError.form(errors)


def _command_errors(command: dict[str, Any], *, top: bool) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    name = str(command.get("name") or "")
    chat_input = not top or int(command.get("type", 1)) == 1
    if chat_input and (not _COMMAND_NAME.match(name) or name != name.lower()):
        errors["name"] = field_error("APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    description = str(command.get("description") or "")
    if chat_input and not 1 <= len(description) <= 100:
        errors["description"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    options = command.get("options") or []
    if len(options) > 25:
        errors["options"] = _too_long(25)
        return errors
    option_errors: dict[str, Any] = {}
    optional_seen = False
    for index, option in enumerate(options):
        problems = _command_errors(option, top=False)
        if option.get("required"):
            if optional_seen:
                problems["required"] = field_error(
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        elif int(option.get("type", 3)) > 2:
            optional_seen = True
        if len(option.get("choices") or []) > 25:
            problems["choices"] = _too_long(25)
        if problems:
            option_errors[str(index)] = problems
    if option_errors:
        errors["options"] = option_errors
    return errors


def check_autocomplete_choices(data: Any) -> list[dict[str, Any]]:
    """Return the choices of an autocomplete result (callback type 8), or raise as Discord does."""
    choices = (data or {}).get("choices")
    if not isinstance(choices, list):
        raise DcError.form({"data": {"choices": field_error("BASE_TYPE_REQUIRED", "This field is required")}})
    if len(choices) > 25:
        raise DcError.form({"data": {"choices": _too_long(25)}})
    errors: dict[str, Any] = {}
    for index, choice in enumerate(choices):
        bad: dict[str, Any] = {}
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            bad["name"] = field_error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if isinstance(choice.get("value"), str) and len(choice["value"]) > 100:
            bad["value"] = _too_long(100)
        if bad:
            errors[str(index)] = bad
    if errors:
        raise DcError.form({"data": {"choices": errors}})
    return choices
