"""Tool calls waiting for the user's yes: kept in the database (any worker may get the button
press), for the asker only, for ``KEEP_SECONDS``, taken once."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

from core.errors import InvalidInput, PermissionDenied
from core.events import IncomingMessage
from core.ports.storage import StateStore
from core.tools.base import ToolCall

KEEP_SECONDS = 15 * 60
_PREFIX = "tools:pending:"
GONE = "This request has expired or was answered already. Ask again."


class PendingCalls:
    """Calls a turn did not run because they cost more than its ceiling."""

    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._clock = clock

    async def keep(self, message: IncomingMessage, call: ToolCall) -> str:
        """Keep a call for the asker's button; returns its id."""
        pending = secrets.token_hex(6)
        record = {
            "platform": message.platform,
            "chat_id": message.chat_id,
            "user_id": message.user_id,
            "name": call.name,
            "arguments": dict(call.arguments or {}),
            "at": self._clock(),
        }
        await self._state.set(_PREFIX + pending, json.dumps(record))
        return pending

    async def take(self, message: IncomingMessage, pending: str) -> ToolCall:
        """The kept call, once: for its asker, in its chat, within ``KEEP_SECONDS``."""
        if not pending.isalnum():
            raise InvalidInput(GONE)
        raw = await self._state.get(_PREFIX + pending)
        record = json.loads(raw) if raw else None
        if not record or self._clock() - float(record["at"]) > KEEP_SECONDS:
            raise InvalidInput(GONE)
        if (record["platform"], record["chat_id"]) != (message.platform, message.chat_id):
            raise InvalidInput(GONE)
        if record["user_id"] != message.user_id:
            raise PermissionDenied("Only the person who asked can confirm or cancel this.")
        # Taken at most once: the first press wins, a second finds nothing (one worker or many).
        if not await self._claim(pending):
            raise InvalidInput(GONE)
        return ToolCall(
            f"confirmed-{pending}", str(record["name"]), record["arguments"], json.dumps(record["arguments"])
        )

    async def _claim(self, pending: str) -> bool:
        token = secrets.token_hex(8)
        return await self._state.setdefault(_PREFIX + pending + ":by", token) == token

    async def drop(self, message: IncomingMessage, pending: str) -> None:
        """Forget a kept call (the user said no)."""
        await self.take(message, pending)
