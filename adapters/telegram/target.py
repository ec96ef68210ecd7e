"""Where an answer goes in Telegram."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A chat (and maybe a forum topic), and the message an answer replies to in groups."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None  # in groups, answer as a reply to the question
    private: bool = True


def private_chat_id(user_id: int | str) -> str:
    """The user's private chat with the bot: on Telegram a private chat's id is the user's."""
    return str(user_id)
