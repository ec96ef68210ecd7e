"""What the Telegram end-to-end tests share: ids, a fast pace, what a user sees, character cards."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from adapters.telegram.writer import Pace
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript

ALICE, BOB = 1001, 1002
GROUP, FORUM = -100111, -100222
MB = 1 << 20
FAST = Pace(draft=0.05, private_edit=0.05, group_edit=0.05)


def texts(tg: FakeTelegram, chat_id: int, thread_id: int | None = None) -> list[str]:
    """What the user sees in a chat: the bot's text messages, as plain text."""
    return [m["text"] for m in tg.visible(chat_id, thread_id) if "text" in m]


def slow(content: str, delay: float = 0.03) -> ChatScript:
    """A chat answer that streams in small pieces."""
    return ChatScript(content=content, chunk_delay=delay)


def card(name: str = "Captain Mira", **fields: Any) -> dict[str, Any]:
    """A SillyTavern V2 character card; ``fields`` replace or add to its ``data``."""
    data: dict[str, Any] = {
        "name": name,
        "description": "{{char}} commands the airship Kestrel and trusts {{user}} with the maps.",
        "personality": "Brisk, loyal, allergic to paperwork.",
        "scenario": "A storm gathers over the northern sea.",
        "first_mes": "Welcome aboard the Kestrel, {{user}}. I am {{char}}.",
        "mes_example": "<START>\n{{user}}: Where are we?\n{{char}}: Above the clouds, where we belong.",
        "alternate_greetings": ["{{char}} nods at {{user}}."],
        "system_prompt": "",
        "post_history_instructions": "",
        "creator_notes": "",
        "tags": ["adventure"],
        "creator": "tests",
        "character_version": "1",
        "extensions": {},
    }
    data.update(fields)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def card_json(value: dict[str, Any]) -> bytes:
    """A card as the JSON file a user sends."""
    return json.dumps(value).encode()


def card_png(value: dict[str, Any] | None, chunk: bytes | None = None) -> bytes:
    """A PNG with the card in its ``chara`` text chunk (base64 of the JSON), as SillyTavern exports it.

    ``chunk`` puts those bytes (e.g. broken base64) in the chunk instead; with neither, the PNG has none.
    """
    info = PngInfo()
    if chunk is not None:
        info.add_text("chara", chunk.decode("latin-1"))
    elif value is not None:
        info.add_text("chara", base64.b64encode(card_json(value)).decode())
    out = io.BytesIO()
    Image.new("RGB", (64, 96), (40, 90, 160)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """``png`` with one more chunk just before its IEND."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def bomb(megabytes: int) -> bytes:
    """A zlib stream of about ``megabytes`` MB of zeros, in about a thousandth of that.

    After a full flush deflate starts afresh, so each further megabyte compresses to the same bytes:
    the stream is built without ever holding what it inflates to.
    """
    deflate = zlib.compressobj(9)
    zeros = bytes(MB)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    return first + again * (megabytes - 1) + deflate.flush()


def bomb_card() -> bytes:
    """A PNG whose ``chara`` zTXt chunk is 2.1 MB that inflates to 2.1 GB."""
    return with_chunk(card_png(None), b"zTXt", b"chara\0\0" + bomb(2100))


def deep_card(depth: int) -> bytes:
    """A card whose ``extensions`` hold lists nested ``depth`` deep."""
    return card_json(card())[:-2] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}}"
