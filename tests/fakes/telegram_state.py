"""Telegram's world for the fake: chats, users, messages, drafts and files, and the test API to drive it."""

from __future__ import annotations

import copy
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from tests.fakes.telegram_api import detect_entities, image_size
from tests.fakes.telegram_updates import UpdateQueue

__all__ = [
    "DEFAULT_NAMES", "DEFAULT_USER_ID", "GROUP_TYPES", "FileMeta", "Params", "StoredMessage", "TelegramState",
    "scope_key",
]

DEFAULT_USER_ID = 1001  # who writes in a group when a test does not say
# A user's first name when a test gives none: user 1001 is Alice, 1002 Bob, ...; anyone else Alice.
DEFAULT_NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
GROUP_TYPES = ("group", "supergroup")
_FOLDERS = {"document": "documents", "photo": "photos", "voice": "voice", "audio": "music"}
_EXTENSIONS = {"document": "", "photo": ".jpg", "voice": ".oga", "audio": ".mp3"}

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


class TelegramState:
    """Telegram's state, and what a test does to it: register chats, make users write, read what they see."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_first_name: str) -> None:
        """Create an empty Telegram with one bot."""
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        # Plain state: tests read and change it freely.
        self.strict_html = True  # a bare "&" or ">" in HTML is an error (Telegram shows it; its docs forbid it)
        self.privacy_mode = False  # True: group messages reach the bot only if commands, mentions or replies to it
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
        self._open_callbacks: set[str] = set()
        self._counter = itertools.count(1)

    def bot_user(self) -> dict[str, Any]:
        """Return the bot as a User object."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

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
            raise ValueError(f"a {chat_type} chat's id must be {'positive' if chat_type == 'private' else 'negative'}")
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

    def add_file(self, data: bytes, *, kind: str = "document", file_name: str | None = None,
                 mime_type: str | None = None) -> str:
        """Store a file (as if a user had uploaded it) and return its file_id."""
        return self._store_file(data, kind, file_name, mime_type).file_id

    def add_topic(self, chat_id: int, thread_id: int, *, name: str | None = None,
                  creator_id: int = DEFAULT_USER_ID) -> dict[str, Any]:
        """Create a forum topic (if new) and return its creation message, whose message_id is the thread id."""
        chat = self.chats.get(chat_id)
        if chat is None or not chat.get("is_forum"):
            raise ValueError(f"chat {chat_id} is no forum: add_chat(chat_id, 'supergroup', is_forum=True) first")
        if (chat_id, thread_id) not in self._topics:
            self._topics[(chat_id, thread_id)] = {
                "message_id": thread_id, "from": self._user(creator_id), "chat": copy.deepcopy(chat),
                "date": int(time.time()), "message_thread_id": thread_id, "is_topic_message": True,
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
        ``photo``, ``document`` or ``voice`` the text becomes the caption.

        Topics: a supergroup first seen with a ``message_thread_id`` (or any supergroup given
        ``is_topic_message=True``) becomes a forum, the topic is created, and the message is a topic message
        replying to the topic's creation message, as Telegram sends them. In a supergroup registered as no
        forum, ``message_thread_id`` is a plain reply thread.
        """
        new_chat = chat_id not in self.chats
        chat = self._chat_for_push(chat_id, chat_type, title, first_name, username)
        if chat["type"] == "supergroup" and (is_topic_message or (new_chat and message_thread_id is not None)):
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
        content = self._user_content(text, entities, photo, document, voice, file_name, mime_type, duration)
        message = self._new_message(chat, user, content, thread_id=message_thread_id, reply_to=reply_to, by_bot=False)
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
            if stored.by_bot and not stored.deleted
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

    def my_commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """Return the commands set for a scope (default scope if None) and language."""
        return copy.deepcopy(self.commands.get((scope_key(scope), language_code), []))

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

    def _remember_user(self, user_id: int, first_name: str | None, username: str | None,
                       language_code: str | None = None) -> dict[str, Any]:
        user = self.users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": _default_name(user_id)})
        if first_name is not None:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return copy.deepcopy(user)

    def _chat_for_push(self, chat_id: int, chat_type: str | None, title: str | None, first_name: str | None,
                       username: str | None) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is None:
            self.add_chat(chat_id, chat_type or "private", title=title, first_name=first_name,
                          username=username if (chat_type or "private") == "private" else None)
        elif chat_type is not None and chat_type != chat["type"]:
            raise ValueError(f"chat {chat_id} is a {chat['type']} chat, not {chat_type}")
        elif chat["type"] == "private" and first_name is not None:
            chat["first_name"] = first_name  # a private chat shows its user's current name
        return self.chats[chat_id]

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any], content: dict[str, Any], *,
                     thread_id: int | None, reply_to: dict[str, Any] | None, by_bot: bool) -> dict[str, Any]:
        chat_id = chat["id"]
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message: dict[str, Any] = {"message_id": message_id, "from": sender, "chat": copy.deepcopy(chat),
                                   "date": int(time.time())}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
                # Telegram shows a topic message without an explicit reply as a reply to the topic's start.
                reply_to = reply_to or self._topics[(chat_id, thread_id)]
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in copy.deepcopy(reply_to).items() if k != "reply_to_message"}
        message.update(content)
        text = content.get("text", content.get("caption", ""))
        self._messages.setdefault(chat_id, {})[message_id] = StoredMessage(message, by_bot, [text])
        return copy.deepcopy(message)

    def _user_content(self, text: str, entities: list[dict[str, Any]] | None, photo: bytes | None,
                      document: bytes | None, voice: bytes | None, file_name: str | None, mime_type: str | None,
                      duration: int) -> dict[str, Any]:
        found = entities if entities is not None else detect_entities(text)
        media = [(kind, data) for kind, data in (("photo", photo), ("document", document), ("voice", voice)) if data]
        if not media:
            return {"text": text, **({"entities": found} if found else {})}
        kind, data = media[0]
        meta = self._store_file(data, kind, file_name, mime_type or ("audio/ogg" if kind == "voice" else None))
        content: dict[str, Any] = {kind: self._file_object(meta, kind, {"duration": duration})}
        if text:
            content["caption"] = text
            if found:
                content["caption_entities"] = found
        return content

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
        keeps_name = file_name and kind in ("document", "audio")
        extension = PurePosixPath(file_name).suffix if file_name and keeps_name else _EXTENSIONS[kind]
        meta = FileMeta(f"fake-{kind}-{number}", f"unique{number}", f"{_FOLDERS[kind]}/file_{number}{extension}",
                         file_name, mime_type)
        self.files[meta.file_id] = data
        self._file_meta[meta.file_id] = meta
        return meta

    def _meta(self, file_id: str) -> FileMeta:
        # A test may put bytes straight into self.files; give such a file a path on first use.
        return self._file_meta.setdefault(file_id, FileMeta(file_id, f"unique-{file_id}", f"documents/{file_id}"))

    def _file_object(self, meta: FileMeta, kind: str, p: Params) -> Any:
        data = self.files[meta.file_id]
        base: dict[str, Any] = {"file_id": meta.file_id, "file_unique_id": meta.unique_id, "file_size": len(data)}
        if kind == "photo":
            width, height = image_size(data) or (1, 1)
            return [base | {"width": width, "height": height}]
        duration = p.get("duration") if isinstance(p.get("duration"), int) else 0
        if kind in ("voice", "audio"):
            base["duration"] = duration
        for key in ("performer", "title"):
            if kind == "audio" and isinstance(p.get(key), str):
                base[key] = p[key]
        if meta.name and kind in ("document", "audio"):
            base["file_name"] = meta.name
        if meta.mime_type:
            base["mime_type"] = meta.mime_type
        return base


def _default_name(user_id: int) -> str:
    index = user_id - DEFAULT_USER_ID
    return DEFAULT_NAMES[index] if 0 <= index < len(DEFAULT_NAMES) else DEFAULT_NAMES[0]


def scope_key(scope: dict[str, Any] | None) -> str:
    """Return the key commands are stored under for a BotCommandScope (None: the default scope)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True)
