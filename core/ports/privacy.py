"""What privacy (retention, /forget, /export) needs from storage."""

from __future__ import annotations

from typing import Any, Protocol

from core.ports.records import HeldMessage, UserRecord


class PrivacyStore(Protocol):
    """The queries of retention, /forget and /export; core/privacy.py decides what goes."""

    async def delete_expired(self, default_days: int, now: float, limit: int) -> list[int]:
        """Delete up to ``limit`` messages older than their chat's retention (a chat's own
        ``retention_days`` wins over ``default_days``; 0 keeps forever); return the
        conversation of each deleted message."""
        ...

    async def clear_summaries(self, conversation_ids: list[int]) -> None:
        """Empty the summaries of these conversations (they retell deleted messages)."""
        ...

    async def checkpoint(self) -> None:
        """Make deleted content leave every file of the store (a write-ahead log too)."""
        ...

    async def user(self, platform: str, platform_user_id: str) -> UserRecord | None:
        """A stored user, or None."""
        ...

    async def delete_chat_settings(self, platform: str, chat_id: str) -> int:
        """Delete a chat's settings; return how many rows went (0 or 1)."""
        ...

    async def chat_settings(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        """A chat's settings as stored (for /export), or None."""
        ...

    async def solo_chats(self, conversation_ids: list[int]) -> list[tuple[str, str]]:
        """(platform, chat id) of the chats whose conversations with messages are all among these."""
        ...

    async def conversations_of(self, user_id: int, platform: str, scope: str, chats: list[str]) -> set[int]:
        """Conversations the user wrote in, or held in their own scope or private chats."""
        ...

    async def others_spoke(self, conversation_id: int, user_id: int) -> bool:
        """Whether anyone but this user wrote in a conversation."""
        ...

    async def turns_of(self, user_id: int) -> list[tuple[int, int]]:
        """(message id, conversation id) of the user's messages and the answer after each."""
        ...

    async def messages(self, whole: list[int], shared: list[int]) -> list[HeldMessage]:
        """The messages of the ``whole`` conversations and the ``shared`` messages, oldest
        first per conversation."""
        ...

    async def summary(self, conversation_id: int) -> str:
        """A conversation's running summary ("" when none)."""
        ...

    async def documents(self, whole: list[int], shared: list[int]) -> list[tuple[int, str, float]]:
        """(conversation id, text, created_at) of the document chunks recall keeps for the
        ``whole`` conversations and the ``shared`` messages, in the order they were stored."""
        ...

    async def video_jobs_of(self, platform: str, platform_user_id: str) -> list[dict[str, Any]]:
        """The user's video jobs for /export: id, status, model, prompt, at (a timestamp)."""
        ...

    async def delete_user_content(
        self,
        user_id: int,
        platform: str,
        platform_user_id: str,
        *,
        whole: list[int],
        shared: list[int],
        touched: set[int],
    ) -> tuple[int, set[int]]:
        """In one transaction: delete the ``whole`` conversations and the ``shared`` messages,
        empty the other touched conversations' summaries, unlink the user, drop their name,
        their finished video jobs and their queued videos' prompts. Returns how many messages
        went and the conversations they were in."""
        ...
