"""Reading Telegram: commands, mentions, replies, files and admin rights, for the core's IncomingMessage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from telegram import Bot, Chat, Message, MessageEntity, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from adapters.telegram.media import MAX_DOWNLOAD, IncomingFile, replied_image
from adapters.telegram.target import private_chat_id
from core.commands import CommandRegistry
from core.errors import BotError, InvalidInput, UnknownCommand
from core.events import Attachment, IncomingMessage, RepliedMessage

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ADMIN_CACHE_SECONDS = 120.0
# Telegram re-encodes a photo as JPEG, which drops the PNG text chunk a character card lives in.
CARD_AS_PHOTO = (
    "Telegram turned that PNG into a compressed photo, which loses the character card inside it. "
    "Send the PNG as a file instead (📎 → File), with the caption /persona import."
)


def incoming(
    chat: Chat,
    user: User,
    text: str,
    thread_id: int | None,
    *,
    is_admin: bool,
    attachments: tuple[Attachment, ...] = (),
    reply_to: RepliedMessage | None = None,
    message_id: str | None = None,
    receipts: tuple[str, ...] = (),
) -> IncomingMessage:
    """A message (or a button pressed) in a chat and forum topic, as the core takes it."""
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(chat.id),
        user_id=str(user.id),
        user_name=user.full_name or user.username,
        text=text,
        thread_id=str(thread_id) if thread_id is not None else None,
        is_direct=chat.type == ChatType.PRIVATE,
        is_chat_admin=is_admin,
        attachments=attachments,
        reply_to=reply_to,
        message_id=message_id,
        private_chat_id=private_chat_id(user.id),
        receipts=receipts,
    )


class Reader:
    """Read one bot's updates: what is a command for it, who it is addressed to, what comes with it."""

    def __init__(
        self,
        bot: Bot,
        commands: CommandRegistry,
        media: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._commands = commands
        self._media = media
        self._clock = clock
        self._admins: dict[tuple[int, int], tuple[bool, float]] = {}

    async def download_all(self, files: Sequence[IncomingFile]) -> tuple[Attachment, ...]:
        """Fetch a message's files (an album's several at once), in order, after checking them all."""
        if len(files) == 1:
            return (await self._download(files[0]),)
        for file in files:  # refuse an album with one file too many before downloading any of it
            self._check_download(file)
        return tuple(await asyncio.gather(*(self._fetch(file) for file in files)))

    async def _download(self, file: IncomingFile) -> Attachment:
        """Fetch a user's file, after the core and Telegram's own limit agree to it."""
        self._check_download(file)
        return await self._fetch(file)

    def _check_download(self, file: IncomingFile) -> None:
        self._media.check_download(file.kind, file.size, file.duration)
        if file.size is not None and file.size > MAX_DOWNLOAD:
            raise too_big(file.size)

    async def _fetch(self, file: IncomingFile) -> Attachment:
        try:
            data = await (await self._bot.get_file(file.file_id)).download_as_bytearray()
        except TelegramError as exc:
            if "file is too big" in exc.message.lower():
                raise too_big(file.size) from None
            # A timeout, a dropped connection, a file Telegram lost: the user can send it again.
            log.warning("Downloading a Telegram file failed: %s", exc.message)
            raise BotError("Telegram did not hand over your file just now. Please send it again.") from None
        return Attachment(
            file.kind, file.mime_type, bytes(data), filename=file.filename, duration=file.duration
        )

    def command(self, message: Message) -> tuple[str, str, bool] | None:
        """(name, arguments, addressed to this bot by name) for a command, else None.

        A file's caption can be a command too (``/upscale 2`` on a photo).
        """
        caption = message.text is None
        entities = (message.caption_entities if caption else message.entities) or ()
        if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset != 0:
            return None
        token = message.parse_caption_entity(entities[0]) if caption else message.parse_entity(entities[0])
        name, _, target = token[1:].partition("@")
        addressed = target.lower() == (self._bot.username or "").lower()
        if target and not addressed and message.chat.type != ChatType.PRIVATE:
            return None  # "/help@other_bot" in a group is for that bot
        args = (message.text or message.caption or "")[len(token) :].strip()
        name = name.lower()
        return ("help" if name == "start" else name), args, addressed

    def knows(self, name: str) -> bool:
        try:
            self._commands.get(name)
        except UnknownCommand:
            return False
        return True

    def addressed(self, message: Message) -> bool:
        """A group message is for the bot when it mentions it or replies to it."""
        bot = self._bot
        for entity, text in _mentions(message, [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            if entity.type == MessageEntity.MENTION and text[1:].lower() == (bot.username or "").lower():
                return True
            if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
                return True
        replied = self.replied_message(message)
        return bool(replied and replied.from_user and replied.from_user.id == bot.id)

    def strip_mentions(self, message: Message) -> str:
        text = message.text if message.text is not None else message.caption or ""
        username = f"@{self._bot.username}".lower()
        for _entity, mention in sorted(
            _mentions(message, [MessageEntity.MENTION]).items(), key=lambda e: -e[0].offset
        ):
            if mention.lower() == username:
                text = text.replace(mention, "", 1)
        return " ".join(text.split()) if text.strip() else text

    @staticmethod
    def replied_message(message: Message) -> Message | None:
        replied = message.reply_to_message
        # In a forum topic every message "replies" to the topic's first message.
        if replied is None or replied.forum_topic_created is not None:
            return None
        if message.is_topic_message and replied.message_id == message.message_thread_id:
            return None
        return replied

    async def replied(self, message: Message) -> RepliedMessage | None:
        """The replied-to message, with its image downloaded (for /upscale, /edit, questions)."""
        replied = self.replied_message(message)
        image = replied_image(replied) if replied is not None else None
        if replied is None or not (replied.text or replied.caption or image):
            return None
        author = replied.from_user
        return RepliedMessage(
            text=replied.text or replied.caption or "",
            from_bot=bool(author and author.id == self._bot.id),
            author=author.full_name if author else None,
            attachments=(await self._download(image),) if image is not None else (),
        )

    async def is_chat_admin(self, chat: Chat, user: User, message: Message | None) -> bool:
        """Whether the user administers the group (asked of Telegram, cached briefly)."""
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous admin, posting as the group
        key = (chat.id, user.id)
        cached = self._admins.get(key)
        if cached and cached[1] > self._clock():
            return cached[0]
        try:
            member = await self._bot.get_chat_member(chat.id, user.id)
            admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError as exc:
            log.warning("Cannot check admin rights in chat %s: %s", chat.id, exc.message)
            admin = False
        self._admins[key] = (admin, self._clock() + ADMIN_CACHE_SECONDS)
        return admin


def thread_of(message: Message) -> int | None:
    """The forum topic a message is in, if any."""
    return message.message_thread_id if message.is_topic_message else None


def _mentions(message: Message, types: list[str | None]) -> dict[MessageEntity, str]:
    """The message's entities of these types, from its text or else its caption."""
    if message.text is not None:
        return message.parse_entities(types)
    return message.parse_caption_entities(types)


def imports_card(name: str, args: str) -> bool:
    """Whether the command is ``/persona import`` (its card comes as the message's file)."""
    return name == "persona" and args.lower().split(maxsplit=1)[:1] == ["import"]


def too_big(size: int | None) -> InvalidInput:
    stated = f"That file is {size / 1048576:.0f} MB; " if size else "That file is too big: "
    return InvalidInput(
        f"{stated}Telegram lets bots download files up to {MAX_DOWNLOAD // 1048576} MB. "
        "Send a smaller or shorter one."
    )
