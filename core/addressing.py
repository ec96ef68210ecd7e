"""Which conversation a message belongs to: the chat, its thread, the speaker where memory is
per user, the bound character, and whether it lives in memory only."""

from __future__ import annotations

from core.events import IncomingMessage
from core.ports.records import ConversationKey
from core.ports.storage import ChatSettingsStore


class Addressing:
    """Map incoming messages to conversation keys, from the chat's settings."""

    def __init__(self, chat_settings: ChatSettingsStore) -> None:
        self._chat_settings = chat_settings

    async def conversation_key(self, message: IncomingMessage) -> ConversationKey:
        """The conversation a message belongs to (per user in shared chats that say so)."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        scope = message.user_id if (chat.per_user_memory and not message.is_direct) else ""
        # Each character has its own conversations here: switching back resumes the old one.
        return ConversationKey(
            message.platform,
            message.chat_id,
            message.thread_id or "",
            scope,
            chat.character or "",
            chat.ephemeral,
        )
