"""What the Telegram end-to-end tests share: ids, a fast pace, what a user sees, character cards."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from adapters.telegram.writer import Pace
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript

ALICE, BOB = 1001, 1002
GROUP, FORUM = -100111, -100222
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
