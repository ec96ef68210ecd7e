"""The Bot API's rules for the fake Telegram: how parameters arrive, what it rejects and with which words.

Error texts are Telegram's own where known (collected from Bot API answers quoted in bug reports); the few
the fake had to invent are marked so below.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from tests.fakes.telegram_html import (
    HtmlParseError,
    parse_html,
    trim_formatted,
    utf16_len,
)

__all__ = [
    "ALLOWED_REACTIONS",
    "CHAT_ACTIONS",
    "TgError",
    "chat_member",
    "check_commands",
    "check_reply_markup",
    "decode_param",
    "detect_entities",
    "formatted_text",
    "image_size",
]

MAX_TEXT = 4096
MAX_CAPTION = 1024

# Every value arrives as a string (PTB posts forms; nested values are JSON strings). These are decoded back.
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "message_thread_id",
        "draft_id",
        "offset",
        "limit",
        "user_id",
        "from_chat_id",
        "reply_to_message_id",
        "duration",
        "width",
        "height",
        "max_connections",
        "cache_time",
        "until_date",
        "direct_messages_topic_id",
    }
)
_NUMBER_PARAMS = frozenset({"timeout"})  # PTB sends a float when given a fractional timedelta
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "drop_pending_updates",
        "show_alert",
        "is_big",
        "has_spoiler",
        "disable_content_type_detection",
        "allow_paid_broadcast",
        "supports_streaming",
        "only_if_banned",
        "revoke_messages",
        "show_caption_above_media",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
        "reaction",
        "media",
        "message_ids",
        "results",
        "options",
        "explanation_entities",
        "suggested_post_parameters",
        "input_message_content",
        "permissions",
    }
)
_INT_RE = re.compile(r"-?\d+")

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# ReactionTypeEmoji's list in the Bot API: bots can react with these and nothing else (no ✅, for one).
ALLOWED_REACTIONS = frozenset(
    (
        "\U0001f44d",
        "\U0001f44e",
        "\u2764",
        "\U0001f525",
        "\U0001f970",
        "\U0001f44f",
        "\U0001f601",
        "\U0001f914",
        "\U0001f92f",
        "\U0001f631",
        "\U0001f92c",
        "\U0001f622",
        "\U0001f389",
        "\U0001f929",
        "\U0001f92e",
        "\U0001f4a9",
        "\U0001f64f",
        "\U0001f44c",
        "\U0001f54a",
        "\U0001f921",
        "\U0001f971",
        "\U0001f974",
        "\U0001f60d",
        "\U0001f433",
        "\u2764\ufe0f\u200d\U0001f525",
        "\U0001f31a",
        "\U0001f32d",
        "\U0001f4af",
        "\U0001f923",
        "\u26a1",
        "\U0001f34c",
        "\U0001f3c6",
        "\U0001f494",
        "\U0001f928",
        "\U0001f610",
        "\U0001f353",
        "\U0001f37e",
        "\U0001f48b",
        "\U0001f595",
        "\U0001f608",
        "\U0001f634",
        "\U0001f62d",
        "\U0001f913",
        "\U0001f47b",
        "\U0001f468\u200d\U0001f4bb",
        "\U0001f440",
        "\U0001f383",
        "\U0001f648",
        "\U0001f607",
        "\U0001f628",
        "\U0001f91d",
        "\u270d",
        "\U0001f917",
        "\U0001fae1",
        "\U0001f385",
        "\U0001f384",
        "\u2603",
        "\U0001f485",
        "\U0001f92a",
        "\U0001f5ff",
        "\U0001f192",
        "\U0001f498",
        "\U0001f649",
        "\U0001f984",
        "\U0001f618",
        "\U0001f48a",
        "\U0001f64a",
        "\U0001f60e",
        "\U0001f47e",
        "\U0001f937\u200d\u2642\ufe0f",
        "\U0001f937",
        "\U0001f937\u200d\u2640\ufe0f",
        "\U0001f621",
    )
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]+")
# A bot command anywhere in a message, as Telegram marks them: "/name" or "/name@bot", standing alone.
_COMMAND_IN_TEXT = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")
_MENTION_IN_TEXT = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")


class TgError(Exception):
    """An error answer: ``{"ok": false, "error_code": …, "description": …}`` (+ ``parameters.retry_after``)."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends with this error."""
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> TgError:
    """Return a 400 error with Telegram's "Bad Request: " prefix."""
    return TgError(400, f"Bad Request: {reason}")


def decode_param(name: str, value: Any) -> Any:
    """Turn one wire value back into what the Bot API means: ints, bools and JSON where the API says so."""
    if not isinstance(value, str):
        return value  # a JSON body's value, or an uploaded file
    if name in _INT_PARAMS and _INT_RE.fullmatch(value):
        return int(value)
    if name in _NUMBER_PARAMS:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if name in _BOOL_PARAMS and value in ("true", "false"):
        return value == "true"
    if name in _JSON_PARAMS or name.endswith(("_entities", "_markup", "_parameters", "_options")):
        try:
            return json.loads(value)
        except ValueError:
            return value  # left as a string; the method answers "can't parse …" when it reads it
    return value


def formatted_text(
    params: dict[str, Any],
    *,
    field: str = "text",
    entities_field: str = "entities",
    limit: int = MAX_TEXT,
    allow_empty: bool = False,
    strict: bool = True,
) -> tuple[str, list[dict[str, Any]]]:
    """Return the text and entities Telegram would store for ``params[field]``, or raise its 400 error.

    Lengths count UTF-16 code units after entity parsing and trimming; that is the stricter of the two
    readings of "4096 characters", so an adapter that passes here passes on Telegram too.
    """
    raw = params.get(field)
    text = "" if raw is None else str(raw)
    given = params.get(entities_field)
    if given is not None:
        entities = _explicit_entities(given, text)
    else:
        mode = str(params.get("parse_mode") or "").lower()
        if not mode:
            entities = []
        elif mode == "html":
            try:
                text, entities = parse_html(text, strict=strict)
            except HtmlParseError as exc:
                raise bad_request(f"can't parse entities: {exc.reason}") from None
        elif mode in ("markdown", "markdownv2"):
            # Invented wording: the fake does not implement Markdown, and says so rather than pass it through.
            raise bad_request(
                f"unsupported parse_mode {params['parse_mode']!r}: the fake Telegram parses only HTML"
            )
        else:
            raise bad_request("unsupported parse_mode")
    text, entities = trim_formatted(text, entities)
    if not text and not allow_empty:
        raise bad_request("message text is empty")
    if utf16_len(text) > limit:
        raise bad_request("message caption is too long" if field == "caption" else "message is too long")
    return text, entities


def _explicit_entities(given: Any, text: str) -> list[dict[str, Any]]:
    if not isinstance(given, list):
        raise bad_request("can't parse entities JSON object")
    size = utf16_len(text)
    entities = []
    for entity in given:
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise bad_request('can\'t parse MessageEntity: Field "type" must be of type String')
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request('can\'t parse MessageEntity: Field "offset" must be of type Number')
        end = min(offset + length, size)
        if offset >= 0 and end > offset:  # Telegram clips or drops entities outside the text
            entities.append({**entity, "offset": offset, "length": end - offset})
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def check_reply_markup(markup: Any) -> None:
    """Reject a reply_markup Telegram would reject (inline buttons need an action; callback_data 1-64 bytes)."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return  # ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply: nothing the fake checks
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
            if not any(action in button for action in _BUTTON_ACTIONS):
                raise bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if "callback_data" in button and (not isinstance(data, str) or not 1 <= len(data.encode()) <= 64):
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if "url" in button and (
                not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://"))
            ):
                raise bad_request("BUTTON_URL_INVALID")


def check_commands(commands: Any) -> list[dict[str, str]]:
    """Return the commands as Telegram stores them (trimmed, without "/"), or raise its 400 error."""
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    stored = []
    for item in commands:
        for key in ("command", "description"):
            if not isinstance(item, dict) or not isinstance(item.get(key), str):
                raise bad_request(f"can't parse BotCommand: Can't find field \"{key}\"")
        name = item["command"].strip()
        name = name.removeprefix("/")
        description = item["description"].strip()
        if not name:
            raise bad_request("command must be non-empty")
        if len(name) > 32:
            raise bad_request("command length must not exceed 32")
        if not _COMMAND_NAME.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")  # upper case, "-", non-Latin letters...
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > 256:
            raise bad_request("command description length must not exceed 256")
        stored.append({"command": name, "description": description})
    return stored


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Return the bot_command and mention entities Telegram marks in a user's text (UTF-16 offsets)."""
    entities: list[dict[str, Any]] = []
    taken: list[range] = []
    for match in _COMMAND_IN_TEXT.finditer(text):
        taken.append(range(match.start(), match.end()))
        entities.append(_entity("bot_command", text, match.start(), match.end()))
    for match in _MENTION_IN_TEXT.finditer(text):
        if not any(match.start() in span for span in taken):
            entities.append(_entity("mention", text, match.start(), match.end()))
    return sorted(entities, key=lambda e: e["offset"])


def _entity(kind: str, text: str, start: int, end: int) -> dict[str, Any]:
    return {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}


def chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """Return a ChatMember of ``status`` ("creator", "administrator" or "member") with its required fields."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        rights = dict.fromkeys(
            (
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
            ),
            True,
        )
        rights |= dict.fromkeys(
            (
                "can_be_edited",
                "is_anonymous",
                "can_promote_members",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
                "can_manage_topics",
            ),
            False,
        )
        return {"status": "administrator", "user": user, **rights}
    return {"status": "member", "user": user}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a PNG, GIF, JPEG or WebP image, (1, 1) if the size is not found, None if not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 1, 1
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data) or (1, 1)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height then width
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None
