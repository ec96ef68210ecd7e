"""Personas and SillyTavern character cards (V1/V2 JSON, or PNG with a ``chara`` text chunk)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

MAX_CARD_BYTES = 4 * 1024 * 1024  # a card with its picture; bigger ones are refused, not parsed
MAX_FIELD_CHARS = 32_000  # one field of a card (a whole novel in a description helps nobody)
# A compressed text chunk may unpack to no more than an uncompressed card may be: a 1 MB chunk
# of zeros inflates to a gigabyte, so it is inflated in a stream and stopped at this size.
MAX_INFLATED_BYTES = MAX_CARD_BYTES
# Real cards nest a handful of levels (data → character_book → entries → …); a card nested
# 100,000 deep would exhaust the parser's recursion, so deeper ones are refused before parsing.
MAX_JSON_DEPTH = 64
_CARD_KEYWORDS = ("chara", "ccv3")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_TOO_DEEP = (
    f"The card's JSON is nested more than {MAX_JSON_DEPTH} levels deep; real cards never are. "
    "Export it again from SillyTavern."
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_ROLEPLAY_PROMPT = (
    "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}. Stay in "
    "character; never mention being an AI unless {{char}} is one."
)
_USER = re.compile(r"\{\{user\}\}|<user>", re.I)
_CHAR = re.compile(r"\{\{char\}\}|<bot>", re.I)
_TEXT_FIELDS = (
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "system_prompt",
    "post_history_instructions",
)


@dataclass(frozen=True)
class Persona:
    """A character the bot can play: made by an admin, or imported from a card."""

    name: str
    system_prompt: str = ""
    greeting: str = ""
    example_dialogue: str = ""  # SillyTavern's mes_example: dropped first when context is tight
    avatar_url: str | None = None
    voice: str | None = None
    model: str | None = None
    description: str = ""
    personality: str = ""
    scenario: str = ""
    alternate_greetings: tuple[str, ...] = ()
    post_history_instructions: str = ""
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Fields to store (the id is the row's)."""
        data = dataclasses.asdict(self)
        data.pop("id")
        data["alternate_greetings"] = list(self.alternate_greetings)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, id: int | None = None) -> Persona:
        """Load stored fields, ignoring unknown ones."""
        names = {f.name for f in dataclasses.fields(cls)} - {"id"}
        values = {k: v for k, v in data.items() if k in names}
        values["alternate_greetings"] = tuple(values.get("alternate_greetings") or ())
        return cls(**values, id=id)

    def system(self, user: str, *, original: str, with_example: bool = True) -> str:
        """The system prompt: instructions, who the character is, the scene, maybe the example."""
        parts = [(self.system_prompt or DEFAULT_ROLEPLAY_PROMPT).replace("{{original}}", original)]
        if self.description:
            parts.append(self.description)
        if self.personality:
            parts.append(f"{{{{char}}}}'s personality: {self.personality}")
        if self.scenario:
            parts.append(f"Scenario: {self.scenario}")
        if with_example and self.example_dialogue:
            parts.append(self.example_text())
        return self.fill("\n\n".join(p.strip() for p in parts if p.strip()), user)

    def example_text(self) -> str:
        """The example dialogue, introduced as such (``<START>`` separators become blank lines)."""
        return "Example of how {{char}} talks:\n" + re.sub(r"<START>\s*", "\n", self.example_dialogue).strip()

    def fill(self, text: str, user: str) -> str:
        """Replace ``{{char}}`` and ``{{user}}`` (and the old ``<BOT>``/``<USER>``)."""
        return _USER.sub(lambda _: user, _CHAR.sub(lambda _: self.name, text))


def parse_card(data: bytes) -> Persona:
    """A persona from a character card file, or ``InvalidInput`` saying what is wrong with it."""
    if len(data) > MAX_CARD_BYTES:
        raise InvalidInput(
            f"That card is {len(data) / 1048576:.1f} MB; the bot takes cards up to "
            f"{MAX_CARD_BYTES // 1048576} MB. Export it again without a large picture, or as JSON."
        )
    if data.startswith(PNG_SIGNATURE):
        raw = _png_card(data)
    elif data.lstrip()[:1] == b"{":
        raw = data
    else:
        raise InvalidInput("That file is not a character card: send the card's JSON or its PNG.")
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError:
        raise InvalidInput("The card is not UTF-8 text.") from None
    if _nesting(text) > MAX_JSON_DEPTH:
        raise InvalidInput(_TOO_DEEP)
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The card is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    return _persona(card)


def _nesting(text: str) -> int:
    """How deep the JSON's brackets nest (outside strings), counted up to just past the limit."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                break
    return deepest


def _persona(card: Any) -> Persona:
    if not isinstance(card, dict):
        raise InvalidInput("The card's JSON is not an object.")
    inner = card.get("data")
    fields: dict[str, Any] = inner if isinstance(inner, dict) else card  # V2 (and V3) or V1
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("The card has no name (the `name` field is missing or empty).")
    values: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = fields.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(f"The card's `{key}` must be text, not {type(value).__name__}.")
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(
                f"The card's `{key}` is {len(value):,} characters; up to {MAX_FIELD_CHARS:,} fit."
            )
        values[key] = value
    greetings = fields.get("alternate_greetings") or []
    if not isinstance(greetings, list) or not all(isinstance(g, str) for g in greetings):
        raise InvalidInput("The card's `alternate_greetings` must be a list of texts.")
    if not any(values[k].strip() for k in ("description", "personality", "system_prompt", "first_mes")):
        raise InvalidInput(
            "The card says nothing about the character: `description`, `personality`, "
            "`first_mes` and `system_prompt` are all empty."
        )
    return Persona(
        name=name.strip()[:100],
        system_prompt=values["system_prompt"],
        greeting=values["first_mes"],
        example_dialogue=values["mes_example"],
        description=values["description"],
        personality=values["personality"],
        scenario=values["scenario"],
        alternate_greetings=tuple(greetings),
        post_history_instructions=values["post_history_instructions"],
    )


def _png_card(data: bytes) -> bytes:
    """The JSON inside a PNG card's ``chara`` (or V3 ``ccv3``) text chunk."""
    found: dict[str, bytes] = {}
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IEND":
            break
        keyword, text, compressed = _text_chunk(kind, body)
        if keyword in _CARD_KEYWORDS:  # other chunks are never inflated
            found[keyword] = _inflate(text) if compressed else text
    encoded = found.get("chara") or found.get("ccv3")
    if encoded is None:
        raise InvalidInput(
            "That PNG has no character card in it (no `chara` text chunk). Export the "
            "card from SillyTavern as PNG or JSON."
        )
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "The card inside the PNG is damaged: its `chara` chunk is not valid base64."
        ) from None


def _inflate(compressed: bytes) -> bytes:
    """A zlib stream inflated piece by piece, refused once it passes ``MAX_INFLATED_BYTES``."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(compressed, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        raise InvalidInput(
            "The card inside the PNG is damaged: its compressed `chara` chunk does not unpack."
        ) from None
    if len(text) > MAX_INFLATED_BYTES:
        raise InvalidInput(
            f"The card inside the PNG unpacks to more than {MAX_INFLATED_BYTES // 1048576} MB; "
            "real cards are far smaller. Export it again from SillyTavern, or send its JSON."
        )
    return text


def _text_chunk(kind: bytes, body: bytes) -> tuple[str, bytes, bool]:
    """(keyword, text, whether the text is zlib-compressed) of a tEXt, zTXt or iTXt chunk.

    ("", b"", False) for any other chunk. Nothing is inflated here: only the card's chunk is,
    and only up to a limit (see ``_inflate``).
    """
    try:
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            return keyword.decode("latin-1").lower(), text, False
        if kind == b"zTXt":
            keyword, _, rest = body.partition(b"\0")
            return keyword.decode("latin-1").lower(), rest[1:], True
        if kind == b"iTXt":
            keyword, _, rest = body.partition(b"\0")
            compressed = rest[0] == 1
            _language, _, rest = rest[2:].partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            return keyword.decode("latin-1").lower(), text, compressed
    except IndexError:
        return "", b"", False
    return "", b"", False
