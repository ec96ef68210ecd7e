"""Telegram's world for the fake: chats, users, messages, drafts and files, and the test API to drive it."""

from __future__ import annotations

import copy
import io
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from PIL import Image

from tests.fakes.telegram_api import detect_entities, image_size
from tests.fakes.telegram_updates import UpdateQueue

__all__ = [
    "DEFAULT_NAMES",
    "DEFAULT_USER_ID",
    "GROUP_TYPES",
    "FileMeta",
    "Params",
    "SentFile",
    "StoredMessage",
    "TelegramState",
    "scope_key",
]

DEFAULT_USER_ID = 1001  # who writes in a group when a test does not say
# A user's first name when a test gives none: user 1001 is Alice, 1002 Bob, ...; anyone else Alice.
DEFAULT_NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
GROUP_TYPES = ("group", "supergroup")
_FOLDERS = {
    "document": "documents",
    "photo": "photos",
    "voice": "voice",
    "audio": "music",
    "video": "videos",
    "video_note": "video_notes",
}
_EXTENSIONS = {
    "document": "",
    "photo": ".jpg",
    "voice": ".oga",
    "audio": ".mp3",
    "video": ".mp4",
    "video_note": ".mp4",
}
# The sides of the sizes Telegram keeps of a photo (types s, m, x, y, w): each fits a square of that side.
_PHOTO_SIDES = (90, 320, 800, 1280, 2560)

Params = dict[str, Any]


@dataclass
class StoredMessage:
    """A message as Telegram keeps it."""

    message: dict[str, Any]  # the current state, as getUpdates or an edit would return it
    by_bot: bool
    texts: list[str]  # the text (or caption) after each send and edit
    deleted: bool = False


@dataclass
class Draft:
    """One sendMessageDraft."""

    draft_id: int
    text: str
    entities: list[dict[str, Any]]
    thread_id: int | None
    time: float


@dataclass
class FileMeta:
    """What Telegram knows about a stored file besides its bytes."""

    file_id: str
    unique_id: str
    path: str  # getFile's file_path, relative to {base_file_url}{token}/
    name: str | None = None
    mime_type: str | None = None
    size: int | None = (
        None  # the size Telegram states, when a test claims one bigger than the bytes it stores
    )


class SentFile(NamedTuple):
    """One file the bot sent (a sendPhoto, one item of a sendMediaGroup, ...), as ``sent_files`` lists them."""

    method: str  # "sendPhoto", "sendMediaGroup", ...
    field: str  # the kind of media: "photo", "voice", "audio", "video", "document"
    filename: str | None  # the upload's filename; None when sent by file_id
    data: bytes
    params: dict[str, Any]  # the call's decoded parameters (for an album item: the item, with its caption)
    content_type: str | None = None  # the upload's Content-Type
    message_id: int = 0  # the message it became


class TelegramState:
    """Telegram's state, and what a test does to it: register chats, make users write, read what they see."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_first_name: str) -> None:
        """Create an empty Telegram with one bot."""
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        # Plain state: tests read and change it freely.
        self.strict_html = (
            True  # a bare "&" or ">" in HTML is an error (Telegram shows it; its docs forbid it)
        )
        self.privacy_mode = (
            False  # True: group messages reach the bot only if commands, mentions or replies to it
        )
        self.chats: dict[int, dict[str, Any]] = {}  # chat id -> Chat object
        self.users: dict[int, dict[str, Any]] = {}  # user id -> User object
        self.admins: set[tuple[int, int]] = set()  # (chat id, user id) pairs with status "administrator"
        self.creators: dict[int, int] = {}  # chat id -> the user id with status "creator"
        self.files: dict[str, bytes] = {}  # file id -> content, served by getFile and the file URL
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}  # (scope JSON, language) -> commands
        self.reactions: dict[tuple[int, int], list[dict[str, Any]]] = {}  # (chat id, message id) -> reactions
        self.callback_answers: dict[str, Params] = {}  # callback query id -> answerCallbackQuery params
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self._updates = UpdateQueue()
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._topics: dict[tuple[int, int], dict[str, Any]] = {}  # (chat id, thread id) -> creation message
        self._last_message_id: dict[int, int] = {}
        self._drafts: dict[int, list[Draft]] = {}
        self._file_meta: dict[str, FileMeta] = {}
        self._sent_files: dict[int, list[SentFile]] = {}
        self._chat_actions: dict[int, list[str]] = {}
        self._voice_forbidden: set[int] = set()
        self._open_callbacks: set[str] = set()
        self._counter = itertools.count(1)

    def bot_user(self) -> dict[str, Any]:
        """Return the bot as a User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        """Register (or replace) a chat; private chats have the user's id, groups negative ids, as on Telegram.

        A private chat's ``first_name`` defaults to its user's (see DEFAULT_NAMES).
        """
        if chat_type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {chat_type!r}")
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError(
                f"a {chat_type} chat's id must be {'positive' if chat_type == 'private' else 'negative'}"
            )
        if is_forum and chat_type != "supergroup":
            raise ValueError("only supergroups can be forums")
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = self._remember_user(chat_id, first_name, username)["first_name"]
        else:
            chat["title"] = title or f"Test {chat_type} {-chat_id}"
        if username:
            chat["username"] = username
        if is_forum:
            chat["is_forum"] = True
        self.chats[chat_id] = chat
        return copy.deepcopy(chat)

    def add_file(
        self,
        data: bytes,
        *,
        kind: str = "document",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        """Store a file (as if a user had uploaded it) and return its file_id."""
        return self._store_file(data, kind, file_name, mime_type).file_id

    def add_topic(
        self, chat_id: int, thread_id: int, *, name: str | None = None, creator_id: int = DEFAULT_USER_ID
    ) -> dict[str, Any]:
        """Create a forum topic (if new) and return its creation message, whose message_id is the thread id."""
        chat = self.chats.get(chat_id)
        if chat is None or not chat.get("is_forum"):
            raise ValueError(
                f"chat {chat_id} is no forum: add_chat(chat_id, 'supergroup', is_forum=True) first"
            )
        if (chat_id, thread_id) not in self._topics:
            self._topics[(chat_id, thread_id)] = {
                "message_id": thread_id,
                "from": self._user(creator_id),
                "chat": copy.deepcopy(chat),
                "date": int(time.time()),
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "forum_topic_created": {"name": name or f"Topic {thread_id}", "icon_color": 7322096},
            }
            # On Telegram the topic's id is the next message id; keep later ids above it where the test allows.
            self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), thread_id)
        return copy.deepcopy(self._topics[(chat_id, thread_id)])

    def push_message(
        self,
        text: str = "",
        *,
        chat_id: int,
        user_id: int | None = None,
        chat_type: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        is_topic_message: bool | None = None,
        title: str | None = None,
        photo: bytes | None = None,
        document: bytes | None = None,
        voice: bytes | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int = 1,
        language_code: str = "en",
        queue: bool = True,
    ) -> dict[str, Any]:
        """Make a user send a message; queue the Update for getUpdates (unless ``queue=False``) and return it.

        Unknown chats are registered (``chat_type`` defaults to "private"); ``user_id`` defaults to the chat's
        id in a private chat, DEFAULT_USER_ID elsewhere; ``first_name`` to the user's known or default name
        (DEFAULT_NAMES). bot_command and mention entities are computed unless ``entities`` is given. With
        ``photo``, ``document`` or ``voice`` the text becomes the caption (see ``push_media`` for more kinds).

        Topics: a supergroup first seen with a ``message_thread_id`` (or any supergroup given
        ``is_topic_message=True``) becomes a forum, the topic is created, and the message is a topic message
        replying to the topic's creation message, as Telegram sends them. In a supergroup registered as no
        forum, ``message_thread_id`` is a plain reply thread.
        """
        media = [
            (kind, data)
            for kind, data in (("photo", photo), ("document", document), ("voice", voice))
            if data
        ]
        if media:
            kind, data = media[0]
            content = self._media_content(
                kind, data, text, entities, file_name=file_name, mime_type=mime_type, duration=duration
            )
        else:
            found = entities if entities is not None else detect_entities(text)
            content = {"text": text, **({"entities": found} if found else {})}
        return self._push_user_message(
            content,
            chat_id=chat_id,
            user_id=user_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            message_thread_id=message_thread_id,
            reply_to_message_id=reply_to_message_id,
            is_topic_message=is_topic_message,
            title=title,
            language_code=language_code,
            queue=queue,
        )

    def push_media(
        self,
        kind: str,
        data: bytes,
        caption: str = "",
        *,
        chat_id: int,
        caption_entities: list[dict[str, Any]] | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int | None = None,
        width: int | None = None,
        height: int | None = None,
        length: int | None = None,
        file_size: int | None = None,
        title: str | None = None,
        performer: str | None = None,
        media_group_id: str | None = None,
        **where: Any,
    ) -> dict[str, Any]:
        """Make a user send a file of ``kind`` ("photo", "voice", "audio", "video_note", "video", "document").

        The file is stored as Telegram stores it (a photo as JPEG in several sizes) and served by getFile and
        the file URL. ``caption_entities`` default to the bot_command and mention entities Telegram finds.
        ``file_size`` makes Telegram state a size other than the bytes' (a 30 MB file without 30 MB of
        bytes: getFile refuses what is above 20 MB by that size). ``where`` takes push_message's chat, user,
        thread, reply and queue arguments. Returns the Update.
        """
        content = self._media_content(
            kind,
            data,
            caption,
            caption_entities,
            file_name=file_name,
            mime_type=mime_type,
            duration=duration,
            width=width,
            height=height,
            length=length,
            file_size=file_size,
            title=title,
            performer=performer,
        )
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._push_user_message(content, chat_id=chat_id, **where)

    def push_photo(self, image: bytes, caption: str = "", *, chat_id: int, **fields: Any) -> dict[str, Any]:
        """Make a user send a photo (PNG, JPEG... bytes Pillow opens), kept as JPEG sizes up to 2560 px."""
        return self.push_media("photo", image, caption, chat_id=chat_id, **fields)

    def push_voice(
        self,
        data: bytes,
        *,
        chat_id: int,
        duration: int,
        caption: str = "",
        mime_type: str = "audio/ogg",
        **fields: Any,
    ) -> dict[str, Any]:
        """Make a user send a voice note (Telegram's are OGG/Opus) lasting ``duration`` seconds."""
        return self.push_media(
            "voice", data, caption, chat_id=chat_id, duration=duration, mime_type=mime_type, **fields
        )

    def push_audio(
        self,
        data: bytes,
        *,
        chat_id: int,
        duration: int,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        caption: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """Make a user send an audio file (shown in a music player)."""
        return self.push_media(
            "audio",
            data,
            caption,
            chat_id=chat_id,
            duration=duration,
            file_name=file_name,
            mime_type=mime_type,
            **fields,
        )

    def push_video_note(
        self, data: bytes, *, chat_id: int, duration: int, length: int = 384, **fields: Any
    ) -> dict[str, Any]:
        """Make a user send a video note (a round video; Telegram's have no caption and no mime_type)."""
        return self.push_media(
            "video_note", data, chat_id=chat_id, duration=duration, length=length, **fields
        )

    def push_video(
        self,
        data: bytes,
        *,
        chat_id: int,
        duration: int,
        width: int = 640,
        height: int = 360,
        caption: str = "",
        mime_type: str = "video/mp4",
        **fields: Any,
    ) -> dict[str, Any]:
        """Make a user send a video."""
        return self.push_media(
            "video",
            data,
            caption,
            chat_id=chat_id,
            duration=duration,
            width=width,
            height=height,
            mime_type=mime_type,
            **fields,
        )

    def push_document(
        self, data: bytes, *, chat_id: int, file_name: str, mime_type: str, caption: str = "", **fields: Any
    ) -> dict[str, Any]:
        """Make a user send a file as a document (an image sent "as a file" keeps its bytes and name)."""
        return self.push_media(
            "document", data, caption, chat_id=chat_id, file_name=file_name, mime_type=mime_type, **fields
        )

    def _push_user_message(
        self,
        content: dict[str, Any],
        *,
        chat_id: int,
        user_id: int | None = None,
        chat_type: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        is_topic_message: bool | None = None,
        title: str | None = None,
        language_code: str = "en",
        queue: bool = True,
    ) -> dict[str, Any]:
        new_chat = chat_id not in self.chats
        chat = self._chat_for_push(chat_id, chat_type, title, first_name, username)
        if chat["type"] == "supergroup" and (
            is_topic_message or (new_chat and message_thread_id is not None)
        ):
            chat["is_forum"] = True
        if user_id is None:
            user_id = chat_id if chat["type"] == "private" else DEFAULT_USER_ID
        if chat["type"] == "private" and user_id != chat_id:
            raise ValueError("a private chat's id is its user's id")
        user = self._remember_user(user_id, first_name, username, language_code)
        if is_topic_message and not chat.get("is_forum"):
            raise ValueError(f"chat {chat_id} is a {chat['type']} chat: only supergroups have topics")
        reply_to = None
        if reply_to_message_id is not None:
            stored = self._stored(chat_id, reply_to_message_id)
            if stored is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            reply_to = stored.message
        if message_thread_id is not None and chat.get("is_forum"):
            self.add_topic(chat_id, message_thread_id, creator_id=user_id)
        message = self._new_message(
            chat, user, content, thread_id=message_thread_id, reply_to=reply_to, by_bot=False
        )
        if is_topic_message is not None:
            message["is_topic_message"] = is_topic_message
            self._messages[chat_id][message["message_id"]].message["is_topic_message"] = is_topic_message
        update = {"update_id": self._updates.new_id(), "message": message}
        if queue and self._reaches_bot(message):
            self._updates.push(update)
        return update

    def make_message_update(self, text: str = "", **fields: Any) -> dict[str, Any]:
        """Return a user's message Update without queueing it (to ``deliver_webhook``); push_message's fields."""
        return self.push_message(text, **fields, queue=False)

    def push_callback(
        self,
        data: str,
        *,
        chat_id: int,
        message_id: int,
        user_id: int | None = None,
        first_name: str | None = None,
        username: str | None = None,
        queue: bool = True,
    ) -> dict[str, Any]:
        """Make a user press an inline button with ``data`` under a message; queue the Update and return it."""
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        if user_id is None:
            user_id = chat_id if self.chats[chat_id]["type"] == "private" else DEFAULT_USER_ID
        query_id = str(4_380_000_000_000_000 + next(self._counter))
        self._open_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": self._remember_user(user_id, first_name, username),
            "message": copy.deepcopy(stored.message),
            "chat_instance": str(abs(chat_id) * 1_000_003),
            "data": data,
        }
        update = {"update_id": self._updates.new_id(), "callback_query": query}
        if queue:
            self._updates.push(update)
        return update

    def buttons(self, chat_id: int, message_id: int) -> list[dict[str, Any]]:
        """Return the inline buttons under a message as it is now, row after row (none: an empty list)."""
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        rows = stored.message.get("reply_markup", {}).get("inline_keyboard", [])
        return [copy.deepcopy(button) for row in rows for button in row]

    def press(
        self, label: str, *, chat_id: int, message_id: int, user_id: int | None = None, queue: bool = True
    ) -> dict[str, Any]:
        """Make a user press the button labelled ``label`` under a message as it is now; return the Update.

        Raises ValueError, listing the labels there are, when no button has that label (or it is a URL button).
        """
        shown = self.buttons(chat_id, message_id)
        found = next((b for b in shown if b.get("text") == label and "callback_data" in b), None)
        if found is None:
            labels = ", ".join(repr(b.get("text")) for b in shown) or "none"
            raise ValueError(
                f"no button {label!r} under message {message_id} in chat {chat_id}; buttons: {labels}"
            )
        return self.push_callback(
            found["callback_data"], chat_id=chat_id, message_id=message_id, user_id=user_id, queue=queue
        )

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update as is (an update_id is added if missing) and return it.

        An update the bot has already received is delivered again (see UpdateQueue on replays): that is how a
        test makes Telegram deliver the same update twice.
        """
        if "update_id" not in update:
            update = {"update_id": self._updates.new_id(), **update}
        self._updates.push(update)
        return update

    def visible(self, chat_id: int, thread_id: int | None = None) -> list[dict[str, Any]]:
        """Return the bot's messages in a chat (in one thread, if given) as they look now, oldest first."""
        return [
            copy.deepcopy(stored.message)
            for _, stored in sorted(self._messages.get(chat_id, {}).items())
            if stored.by_bot
            and not stored.deleted
            and (thread_id is None or stored.message.get("message_thread_id") == thread_id)
        ]

    def drafts(self, chat_id: int) -> list[str]:
        """Return the texts of every sendMessageDraft to a chat, in order."""
        return [draft.text for draft in self._drafts.get(chat_id, [])]

    def edits_of(self, chat_id: int, message_id: int) -> list[str]:
        """Return a message's successive texts (or captions): as sent, then after each edit."""
        stored = self._messages.get(chat_id, {}).get(message_id)
        return list(stored.texts) if stored else []

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Return any message (the bot's or a user's) as it is now; None if unknown or deleted."""
        stored = self._stored(chat_id, message_id)
        return copy.deepcopy(stored.message) if stored else None

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """Return the commands set for a scope (default scope if None) and language."""
        return copy.deepcopy(self.commands.get((scope_key(scope), language_code), []))

    def sent_files(self, chat_id: int) -> list[SentFile]:
        """Return every file the bot sent to a chat, oldest first (an album gives one entry per item)."""
        return list(self._sent_files.get(chat_id, []))

    def chat_actions(self, chat_id: int) -> list[str]:
        """Return the actions of every accepted sendChatAction to a chat ("typing", "upload_photo", ...)."""
        return list(self._chat_actions.get(chat_id, []))

    def forbid_voice(self, chat_id: int) -> None:
        """Make the chat's user forbid voice messages in their privacy settings: sendVoice answers 400
        VOICE_MESSAGES_FORBIDDEN, as Telegram does (Premium users can set this)."""
        self._voice_forbidden.add(chat_id)

    def allow_voice(self, chat_id: int) -> None:
        """Undo ``forbid_voice``."""
        self._voice_forbidden.discard(chat_id)

    def _stored(self, chat_id: int, message_id: int) -> StoredMessage | None:
        stored = self._messages.get(chat_id, {}).get(message_id)
        return stored if stored is not None and not stored.deleted else None

    def _is_topic(self, chat_id: int, thread_id: Any) -> bool:
        return (chat_id, thread_id) in self._topics

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self.bot_user()
        default = {"id": user_id, "is_bot": False, "first_name": _default_name(user_id)}
        return copy.deepcopy(self.users.get(user_id, default))

    def _remember_user(
        self, user_id: int, first_name: str | None, username: str | None, language_code: str | None = None
    ) -> dict[str, Any]:
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": _default_name(user_id)}
        )
        if first_name is not None:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return copy.deepcopy(user)

    def _chat_for_push(
        self,
        chat_id: int,
        chat_type: str | None,
        title: str | None,
        first_name: str | None,
        username: str | None,
    ) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is None:
            self.add_chat(
                chat_id,
                chat_type or "private",
                title=title,
                first_name=first_name,
                username=username if (chat_type or "private") == "private" else None,
            )
        elif chat_type is not None and chat_type != chat["type"]:
            raise ValueError(f"chat {chat_id} is a {chat['type']} chat, not {chat_type}")
        elif chat["type"] == "private" and first_name is not None:
            chat["first_name"] = first_name  # a private chat shows its user's current name
        return self.chats[chat_id]

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        content: dict[str, Any],
        *,
        thread_id: int | None,
        reply_to: dict[str, Any] | None,
        by_bot: bool,
    ) -> dict[str, Any]:
        chat_id = chat["id"]
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": sender,
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
                # Telegram shows a topic message without an explicit reply as a reply to the topic's start.
                reply_to = reply_to or self._topics[(chat_id, thread_id)]
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in copy.deepcopy(reply_to).items() if k != "reply_to_message"
            }
        message.update(content)
        text = content.get("text", content.get("caption", ""))
        self._messages.setdefault(chat_id, {})[message_id] = StoredMessage(message, by_bot, [text])
        return copy.deepcopy(message)

    def _media_content(
        self,
        kind: str,
        data: bytes,
        caption: str,
        caption_entities: list[dict[str, Any]] | None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int | None = None,
        width: int | None = None,
        height: int | None = None,
        length: int | None = None,
        file_size: int | None = None,
        title: str | None = None,
        performer: str | None = None,
    ) -> dict[str, Any]:
        """The fields of a user's message that carries a file: the file object and the caption."""
        if kind not in _FOLDERS:
            raise ValueError(f"unknown media kind {kind!r}; one of {sorted(_FOLDERS)}")
        if not data:
            raise ValueError("a file needs bytes")
        content: dict[str, Any]
        if kind == "photo":
            content = {"photo": self._photo_sizes(data, file_size)}
        else:
            defaults = {"voice": "audio/ogg", "audio": "audio/mpeg", "video": "video/mp4"}
            mime = mime_type or defaults.get(kind)
            meta = self._store_file(data, kind, file_name, None if kind == "video_note" else mime)
            meta.size = file_size
            params: Params = {
                "duration": duration or 0,
                "title": title,
                "performer": performer,
                "width": width,
                "height": height,
                "length": length,
            }
            content = {kind: self._file_object(meta, kind, params)}
        if caption and kind != "video_note":  # video notes carry no caption
            content["caption"] = caption
            found = caption_entities if caption_entities is not None else detect_entities(caption)
            if found:
                content["caption_entities"] = found
        return content

    def _photo_sizes(self, data: bytes, file_size: int | None) -> list[dict[str, Any]]:
        """Store a user's photo as Telegram does: JPEG copies fitting 90, 320, 800, 1280 and 2560 px squares,
        up to the first that holds the whole image; returns the PhotoSize list, smallest first."""
        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = opened.convert("RGB")
        except OSError as exc:
            raise ValueError(f"push_photo needs an image Pillow can open: {exc}") from None
        sizes: list[dict[str, Any]] = []
        for side in _PHOTO_SIDES:
            scale = min(1.0, side / max(image.size))
            box = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            out = io.BytesIO()
            image.resize(box).save(out, "JPEG", quality=87)
            meta = self._store_file(out.getvalue(), "photo", None, None)
            sizes.append(
                {
                    "file_id": meta.file_id,
                    "file_unique_id": meta.unique_id,
                    "file_size": len(out.getvalue()),
                    "width": box[0],
                    "height": box[1],
                }
            )
            if scale == 1.0:
                break
        if file_size is not None:
            self._file_meta[sizes[-1]["file_id"]].size = file_size
            sizes[-1]["file_size"] = file_size
        return sizes

    def _reaches_bot(self, message: dict[str, Any]) -> bool:
        """Return False for group messages a bot in privacy mode does not receive."""
        if not self.privacy_mode or message["chat"]["type"] not in GROUP_TYPES:
            return True
        text = message.get("text") or message.get("caption") or ""
        mine = f"@{self.bot_username}".lower()
        command = text.split(maxsplit=1)[0].lower() if text.startswith("/") else ""
        if command and ("@" not in command or command.endswith(mine)):
            return True  # "/cmd" and "/cmd@this_bot", not "/cmd@other_bot"
        replied = message.get("reply_to_message", {}).get("from", {}).get("id")
        return mine in text.lower() or replied == self.bot_id

    def _store_file(self, data: bytes, kind: str, file_name: str | None, mime_type: str | None) -> FileMeta:
        number = next(self._counter)
        # Telegram re-encodes photos (JPEG) and voice notes (Opus); other files keep their name's extension.
        keeps_name = file_name and kind in ("document", "audio", "video")
        extension = PurePosixPath(file_name).suffix if file_name and keeps_name else _EXTENSIONS[kind]
        meta = FileMeta(
            f"fake-{kind}-{number}",
            f"unique{number}",
            f"{_FOLDERS[kind]}/file_{number}{extension}",
            file_name,
            mime_type,
        )
        self.files[meta.file_id] = data
        self._file_meta[meta.file_id] = meta
        return meta

    def _meta(self, file_id: str) -> FileMeta:
        # A test may put bytes straight into self.files; give such a file a path on first use.
        return self._file_meta.setdefault(
            file_id, FileMeta(file_id, f"unique-{file_id}", f"documents/{file_id}")
        )

    def _file_object(self, meta: FileMeta, kind: str, p: Params) -> Any:
        data = self.files[meta.file_id]
        size = meta.size if meta.size is not None else len(data)
        base: dict[str, Any] = {"file_id": meta.file_id, "file_unique_id": meta.unique_id, "file_size": size}
        if kind == "photo":
            width, height = image_size(data) or (1, 1)
            return [base | {"width": width, "height": height}]
        duration = p.get("duration") if isinstance(p.get("duration"), int) else 0
        if kind in ("voice", "audio", "video", "video_note"):
            base["duration"] = duration
        if kind == "video":
            for key in ("width", "height"):
                base[key] = p[key] if isinstance(p.get(key), int) else 0
        if kind == "video_note":
            base["length"] = p["length"] if isinstance(p.get("length"), int) else 240
        for key in ("performer", "title"):
            if kind == "audio" and isinstance(p.get(key), str):
                base[key] = p[key]
        if meta.name and kind in ("document", "audio", "video"):
            base["file_name"] = meta.name
        if meta.mime_type and kind != "video_note":
            base["mime_type"] = meta.mime_type
        return base

    def file_size(self, file_id: str) -> int:
        """Return the size Telegram states for a stored file."""
        meta = self._meta(file_id)
        return meta.size if meta.size is not None else len(self.files[file_id])


def _default_name(user_id: int) -> str:
    index = user_id - DEFAULT_USER_ID
    return DEFAULT_NAMES[index] if 0 <= index < len(DEFAULT_NAMES) else DEFAULT_NAMES[0]


def scope_key(scope: dict[str, Any] | None) -> str:
    """Return the key commands are stored under for a BotCommandScope (None: the default scope)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True)
