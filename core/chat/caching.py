"""Venice's prompt cache: a stable ``prompt_cache_key`` per conversation, and cache breakpoints.

Venice routes requests with the same ``prompt_cache_key`` to servers that likely hold their
prefix cached. The key is a keyed hash of the conversation's id, so Venice learns neither the
id nor who is talking; the secret is made once and kept in the database, so a restart, or
several workers sharing the database, give a conversation the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from core.ports.storage import StateStore
from core.venice.types import ChatMessage, EncodedMessage, ModelInfo, dumps

SECRET_STATE_KEY = "prompt_cache_secret"
KEY_HEX_DIGITS = 32  # 128 bits of the HMAC: no two conversations share a key by chance
# The roles whose content parts may carry ``cache_control`` in Venice's spec (tool messages may not).
MARKABLE_ROLES = frozenset({"system", "developer", "user", "assistant"})


def cache_key(secret: bytes, conversation_id: int) -> str:
    """The ``prompt_cache_key`` of a conversation: HMAC-SHA256 of its id, in hex."""
    digest = hmac.new(secret, f"conversation:{conversation_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:KEY_HEX_DIGITS]


async def cache_secret(state: StateStore) -> bytes:
    """The secret of the prompt cache keys: made on first use, then read from the state store.

    Stored only if none is yet, so workers starting together agree on the first one written.
    """
    stored = await state.setdefault(SECRET_STATE_KEY, secrets.token_hex(32))
    return stored.encode()


class PromptCacheKeys:
    """Each conversation's ``prompt_cache_key``, with the secret read once per process.

    A conversation kept in memory only (ephemeral) has an id that only this process knows and
    a later one reuses: its key comes from a secret that lives and dies with the process.
    """

    def __init__(self, state: StateStore) -> None:
        self._state = state
        self._secret: bytes | None = None
        self._process_secret = secrets.token_bytes(32)

    async def key(self, conversation_id: int) -> str:
        """The key to send with every request of this conversation."""
        if conversation_id < 0:  # in memory only: see the class docstring
            return cache_key(self._process_secret, conversation_id)
        if self._secret is None:
            self._secret = await cache_secret(self._state)
        return cache_key(self._secret, conversation_id)


def supports_cache_control(model: ModelInfo) -> bool:
    """Whether the prompt wants explicit ``cache_control`` breakpoints for this model.

    Venice's docs: models that charge for cache writes (Anthropic's, whose pricing lists
    ``cache_write``) cache only up to explicit breakpoints; the others cache automatically.
    """
    return model.cache_write_usd_per_mtok is not None


def mark_cache_breakpoint(message: ChatMessage) -> ChatMessage:
    """The message with ``cache_control: {"type": "ephemeral"}`` on its last content part (a
    string content becomes one text part), so the provider caches the prompt up to its end.

    A message the spec lets carry no mark (a tool message, an empty one) comes back as it was.
    Providers key the cache on the content, not the mark: moving the breakpoint to a later
    message on the next turn keeps this prefix cached.
    """
    data: dict[str, Any] = json.loads(message.json) if isinstance(message, EncodedMessage) else message
    content = data.get("content")
    if data.get("role") not in MARKABLE_ROLES:
        return message
    if isinstance(content, str) and content:
        parts: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content and isinstance(content[-1], dict):
        parts = list(content)
    else:
        return message
    parts[-1] = {**parts[-1], "cache_control": {"type": "ephemeral"}}
    marked = {**data, "content": parts}
    return EncodedMessage(dumps(marked)) if isinstance(message, EncodedMessage) else marked
