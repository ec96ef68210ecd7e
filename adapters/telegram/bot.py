"""The Telegram adapter: updates in, core actions, messages out."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Chat,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters.dispatch import NOT_NEWEST, Dispatch, error_text
from adapters.telegram.albums import Album, Albums
from adapters.telegram.media import MAX_DOWNLOAD, IncomingFile, incoming_file, replied_image
from adapters.telegram.menus import Menus
from adapters.telegram.sender import TelegramSender
from adapters.telegram.target import Target
from adapters.telegram.writer import AnswerWriter, Pace
from core.chat import REGENERATE, ChatService
from core.commands import Access
from core.errors import BotError, ConfigurationError, InvalidInput, UnknownCommand
from core.events import Attachment, Destination, IncomingMessage, RepliedMessage, Reply, ReplyStream
from core.settings import Settings
from core.turns import Turn

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
ADMIN_CACHE_SECONDS = 120.0
# What the bot reads besides text: files come with their caption as the message's text.
MEDIA = (
    filters.PHOTO | filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.VIDEO | filters.Document.ALL
)
# Telegram re-encodes a photo as JPEG, which drops the PNG text chunk a character card lives in.
CARD_AS_PHOTO = (
    "Telegram turned that PNG into a compressed photo, which loses the character card inside it. "
    "Send the PNG as a file instead (📎 → File), with the caption /persona import."
)


@dataclass(frozen=True)
class TelegramOptions:
    """Knobs tests and benchmarks turn; the defaults are for production."""

    poll_timeout: int = 30
    concurrent_updates: int = 256
    connection_pool_size: int = 16
    pace: Pace | None = None
    use_drafts: bool = True
    # Several photos sent at once come as one update each: they are answered as one message
    # once no more have come for ``album_quiet`` seconds, or ``album_longest`` after the first.
    album_quiet: float = 0.8
    album_longest: float = 3.0


class TelegramAdapter:
    """Run one Telegram bot over the core: ``async with TelegramAdapter(...):`` serves updates."""

    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        sender: TelegramSender | None = None,
        options: TelegramOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self._service = service
        self._updates = service.s.updates
        self._settings = settings
        self._options = options or TelegramOptions()
        self._clock = clock
        self.sender = sender or TelegramSender()
        self.menus = Menus()
        # Keyed by chat and forum topic.
        self._chats: Dispatch[tuple[int, int | None], int] = Dispatch()
        self._albums: Albums[tuple[Message, IncomingFile]] = Albums(
            quiet=self._options.album_quiet, longest=self._options.album_longest
        )
        self._admins: dict[tuple[int, int], tuple[bool, float]] = {}
        self._drafts = self._options.use_drafts
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(self._options.concurrent_updates)
            # httpcore looks at every pooled connection each time it hands one out, so a big
            # pool costs more than it brings: Telegram lets a bot send ~30 messages a second.
            .connection_pool_size(self._options.connection_pool_size)
            .pool_timeout(30.0)
            .build()
        )
        self.app.add_handler(TypeHandler(Update, self._once), group=-1)
        self.app.add_handler(
            MessageHandler((filters.TEXT | MEDIA) & ~filters.UpdateType.EDITED, self._on_message)
        )
        self.app.add_handler(CallbackQueryHandler(self._on_button))
        self.app.add_error_handler(self._on_error)

    async def __aenter__(self) -> TelegramAdapter:
        try:
            await self.app.initialize()  # getMe: learns the bot's username
        except InvalidToken:
            # PTB's message quotes the token; say what to do instead.
            raise ConfigurationError(
                "Telegram rejected TELEGRAM_BOT_TOKEN. Copy the token again from @BotFather."
            ) from None
        except NetworkError as exc:
            raise ConfigurationError(
                f"Cannot reach the Telegram Bot API at {self._settings.telegram_base_url}: "
                f"{exc.message}. Check the network or TELEGRAM_BASE_URL."
            ) from None
        try:
            await self.register_commands()
            await self.app.start()
            await self._start_updates()
        except BaseException:
            await self.app.shutdown()
            raise
        self._service.s.account.alerts.append(self.tell_admins)
        self._service.deliverers[PLATFORM] = self.deliver
        log.info(
            "Telegram bot @%s is running (%s)",
            self.app.bot.username,
            "webhook" if self._settings.telegram_webhook_url else "long polling",
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.tell_admins in self._service.s.account.alerts:
            self._service.s.account.alerts.remove(self.tell_admins)
        if self._service.deliverers.get(PLATFORM) == self.deliver:
            del self._service.deliverers[PLATFORM]
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _start_updates(self) -> None:
        updater = self.app.updater
        assert updater is not None
        url = self._settings.telegram_webhook_url
        if not url:
            await updater.start_polling(
                poll_interval=0, timeout=self._options.poll_timeout, allowed_updates=ALLOWED_UPDATES
            )
            return
        configured = self._settings.telegram_webhook_secret
        # Telegram sends the secret with every call and PTB refuses calls without it: a
        # webhook without one would take updates from anyone who finds the URL.
        secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        await updater.start_webhook(
            listen=self._settings.telegram_webhook_listen,
            port=self._settings.telegram_webhook_port,
            url_path=urlparse(url).path.lstrip("/"),
            webhook_url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
        )

    # ----- commands menu

    async def register_commands(self) -> None:
        """Publish the command menus: everyone, chat admins, and the bot's own admins."""
        commands = [c for c in self._service.commands if not c.hidden]  # buttons run the hidden ones

        def menu(*levels: Access) -> list[BotCommand]:
            return [BotCommand(c.name, c.description[:256]) for c in commands if c.access in levels]

        everyone = menu(Access.EVERYONE)
        chat_admins = menu(Access.EVERYONE, Access.CHAT_ADMIN)
        bot = self.app.bot
        await bot.set_my_commands(chat_admins, scope=BotCommandScopeAllPrivateChats())
        await bot.set_my_commands(everyone, scope=BotCommandScopeAllGroupChats())
        await bot.set_my_commands(chat_admins, scope=BotCommandScopeAllChatAdministrators())
        for user_id in self._settings.admin_ids(PLATFORM):
            try:  # the admin's private chat shows every command
                await bot.set_my_commands(
                    menu(Access.EVERYONE, Access.CHAT_ADMIN, Access.BOT_ADMIN),
                    scope=BotCommandScopeChat(user_id),
                )
            except TelegramError as exc:  # the admin has not started the bot yet
                log.info("Cannot show admin commands to telegram:%s yet: %s", user_id, exc.message)

    async def tell_admins(self, text: str) -> None:
        """Send a notice to every bot admin on Telegram (in their private chat with the bot)."""
        for user_id in self._settings.admin_ids(PLATFORM):
            await self.sender.send(user_id, self.app.bot.send_message, essential=False, text=text)

    async def deliver(self, destination: Destination, reply: Reply) -> None:
        """Post a late result (a video finished after a restart) in its chat and topic."""
        chat_id = int(destination.chat_id)
        target = Target(
            chat_id,
            int(destination.thread_id) if destination.thread_id else None,
            reply_to=None,
            private=chat_id > 0,
        )
        await self._writer(target).write_reply(reply)

    # ----- updates

    async def _once(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Drop an update that was handled before (a redelivery, also after a restart)."""
        if not await self._updates.claim(PLATFORM, update.update_id):
            log.info("Update %s was handled already; ignoring it", update.update_id)
            raise ApplicationHandlerStop

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None or user is None or user.is_bot:
            return
        file = incoming_file(message)
        if message.text is None and file is None:
            return
        self.sender.heard_from(chat.id)
        if message.media_group_id is not None and file is not None:
            album = self._albums.add((chat.id, message.media_group_id), (message, file))
            if album is not None:
                # The album's place in the chat's line is taken now, with its first item: a
                # message sent after the album is answered after it.
                turn = self._chats.take_turn((chat.id, _thread_of(message)))
                self.app.create_task(self._on_album(album, chat, user, turn), update=update)
            return
        await self._on_messages((message,), (file,) if file is not None else (), chat, user)

    async def _on_album(
        self, album: Album[tuple[Message, IncomingFile]], chat: Chat, user: User, turn: Turn
    ) -> None:
        """Answer an album's items as one message once they have all come."""
        try:
            items = sorted(await self._albums.complete(album), key=lambda item: item[0].message_id)
            await self._on_messages([m for m, _ in items], [f for _, f in items], chat, user, turn)
        finally:
            turn.release()  # also when the album was not for the bot

    async def _on_messages(
        self,
        messages: Sequence[Message],
        files: Sequence[IncomingFile],
        chat: Chat,
        user: User,
        turn: Turn | None = None,
    ) -> None:
        """Answer a message, or an album's messages as one, if it is for the bot.

        An album's text is its captions; the one with a caption (usually the first) is where a
        command is read from, and what a group answer replies to.
        """
        head = next((m for m in messages if m.caption), messages[0])
        private = chat.type == ChatType.PRIVATE
        command = self._command(head)
        if command is not None:
            name, args, addressed = command
            if not private and not addressed and not self._knows(name):
                return  # another bot's command
            text = f"/{name} {args}".strip()
        elif (
            private
            or any(self._addressed(m) for m in messages)
            or await self._service.roleplay_here(PLATFORM, str(chat.id))
        ):
            # A group with a character bound is a scene: every message is for it (Telegram
            # delivers them all when the bot's privacy mode is off, or the bot is an admin).
            text = "\n\n".join(t for t in map(self._strip_mentions, messages) if t)
        else:
            return  # a group message (or file) that is not for the bot
        is_admin = private or (command is not None and await self._is_chat_admin(chat, user, head))
        thread_id = _thread_of(messages[0])
        replying = next((m for m in messages if self._replied_message(m) is not None), head)

        async def incoming() -> IncomingMessage:
            # Downloads wait for the message's turn: a chat's messages reach the core in order.
            if command is not None and _imports_card(*command[:2]) and any(m.photo for m in messages):
                raise InvalidInput(CARD_AS_PHOTO)
            return IncomingMessage(
                platform=PLATFORM,
                chat_id=str(chat.id),
                user_id=str(user.id),
                user_name=user.full_name or user.username,
                text=text,
                thread_id=str(thread_id) if thread_id is not None else None,
                is_direct=private,
                is_chat_admin=is_admin,
                attachments=await self._download_all(files) if files else (),
                reply_to=await self._replied(replying),
                message_id=str(head.message_id),
            )

        target = Target(chat.id, thread_id, reply_to=None if private else head.message_id, private=private)
        await self._dispatch(incoming, target, turn)

    async def _download_all(self, files: Sequence[IncomingFile]) -> tuple[Attachment, ...]:
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
        self._service.media.check_download(file.kind, file.size, file.duration)
        if file.size is not None and file.size > MAX_DOWNLOAD:
            raise _too_big(file.size)

    async def _fetch(self, file: IncomingFile) -> Attachment:
        try:
            data = await (await self.app.bot.get_file(file.file_id)).download_as_bytearray()
        except TelegramError as exc:
            if "file is too big" in exc.message.lower():
                raise _too_big(file.size) from None
            # A timeout, a dropped connection, a file Telegram lost: the user can send it again.
            log.warning("Downloading a Telegram file failed: %s", exc.message)
            raise BotError("Telegram did not hand over your file just now. Please send it again.") from None
        return Attachment(
            file.kind, file.mime_type, bytes(data), filename=file.filename, duration=file.duration
        )

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None or not isinstance(query.message, Message):
            return
        message, user = query.message, query.from_user
        chat = message.chat
        pressed = self.menus.read(query.data)
        if pressed is None:
            await query.answer("This menu has expired. Send the command again.")
            return
        if pressed.menu is not None:
            await query.answer()
            markup = self.menus.page(pressed.menu, pressed.page)
            if markup is not None:
                await self.sender.send(
                    chat.id,
                    self.app.bot.edit_message_reply_markup,
                    essential=False,
                    message_id=message.message_id,
                    reply_markup=markup,
                )
            return
        assert pressed.command is not None
        thread_id = _thread_of(message)
        if pressed.command == REGENERATE.command and not self._chats.is_newest(
            (chat.id, thread_id), message.message_id
        ):
            await query.answer(NOT_NEWEST)
            return
        await query.answer()
        private = chat.type == ChatType.PRIVATE
        incoming = IncomingMessage(
            platform=PLATFORM,
            chat_id=str(chat.id),
            user_id=str(user.id),
            user_name=user.full_name or user.username,
            text=pressed.command,
            thread_id=str(thread_id) if thread_id is not None else None,
            is_direct=private,
            is_chat_admin=private or await self._is_chat_admin(chat, user, None),
        )
        await self._dispatch(incoming, Target(chat.id, thread_id, None, private))

    def _writer(self, target: Target) -> AnswerWriter:
        return AnswerWriter(
            self.app.bot,
            self.sender,
            self.menus,
            target,
            use_draft=self._drafts,
            pace=self._options.pace,
            clock=self._clock,
            on_draft_unsupported=self._no_drafts,
        )

    async def _dispatch(
        self,
        incoming: IncomingMessage | Callable[[], Awaitable[IncomingMessage]],
        target: Target,
        turn: Turn | None = None,
    ) -> None:
        """Hand a message to the core in arrival order, then write what comes back.

        ``incoming`` may be a function that builds the message (downloading its files) once
        it is the message's turn; ``turn``: a place in the chat's line taken earlier (an album's).
        """
        writer = self._writer(target)
        try:
            async with turn or self._chats.take_turn((target.chat_id, target.thread_id)):
                if not isinstance(incoming, IncomingMessage):
                    incoming = await incoming()
                result = await self._service.handle_message(incoming)
            if isinstance(result, ReplyStream):
                reply = await writer.write_stream(result)
            else:
                reply = result
                await writer.write_reply(reply)
            self._chats.answered((target.chat_id, target.thread_id), reply, writer.message_ids)
        except TelegramError:
            raise  # the error handler logs it
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            await writer.write_error(error_text(exc, log, "Handling a Telegram message failed"))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed", update_id, exc_info=context.error)

    # ----- reading messages

    def _command(self, message: Message) -> tuple[str, str, bool] | None:
        """(name, arguments, addressed to this bot by name) for a command, else None.

        A file's caption can be a command too (``/upscale 2`` on a photo).
        """
        caption = message.text is None
        entities = (message.caption_entities if caption else message.entities) or ()
        if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset != 0:
            return None
        token = message.parse_caption_entity(entities[0]) if caption else message.parse_entity(entities[0])
        name, _, target = token[1:].partition("@")
        addressed = target.lower() == (self.app.bot.username or "").lower()
        if target and not addressed and message.chat.type != ChatType.PRIVATE:
            return None  # "/help@other_bot" in a group is for that bot
        args = (message.text or message.caption or "")[len(token) :].strip()
        name = name.lower()
        return ("help" if name == "start" else name), args, addressed

    def _knows(self, name: str) -> bool:
        try:
            self._service.commands.get(name)
        except UnknownCommand:
            return False
        return True

    def _addressed(self, message: Message) -> bool:
        """A group message is for the bot when it mentions it or replies to it."""
        bot = self.app.bot
        for entity, text in _mentions(message, [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            if entity.type == MessageEntity.MENTION and text[1:].lower() == (bot.username or "").lower():
                return True
            if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
                return True
        replied = self._replied_message(message)
        return bool(replied and replied.from_user and replied.from_user.id == bot.id)

    def _strip_mentions(self, message: Message) -> str:
        text = message.text if message.text is not None else message.caption or ""
        username = f"@{self.app.bot.username}".lower()
        for _entity, mention in sorted(
            _mentions(message, [MessageEntity.MENTION]).items(), key=lambda e: -e[0].offset
        ):
            if mention.lower() == username:
                text = text.replace(mention, "", 1)
        return " ".join(text.split()) if text.strip() else text

    @staticmethod
    def _replied_message(message: Message) -> Message | None:
        replied = message.reply_to_message
        # In a forum topic every message "replies" to the topic's first message.
        if replied is None or replied.forum_topic_created is not None:
            return None
        if message.is_topic_message and replied.message_id == message.message_thread_id:
            return None
        return replied

    async def _replied(self, message: Message) -> RepliedMessage | None:
        """The replied-to message, with its image downloaded (for /upscale, /edit, questions)."""
        replied = self._replied_message(message)
        image = replied_image(replied) if replied is not None else None
        if replied is None or not (replied.text or replied.caption or image):
            return None
        author = replied.from_user
        return RepliedMessage(
            text=replied.text or replied.caption or "",
            from_bot=bool(author and author.id == self.app.bot.id),
            author=author.full_name if author else None,
            attachments=(await self._download(image),) if image is not None else (),
        )

    async def _is_chat_admin(self, chat: Chat, user: User, message: Message | None) -> bool:
        """Whether the user administers the group (asked of Telegram, cached briefly)."""
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous admin, posting as the group
        key = (chat.id, user.id)
        cached = self._admins.get(key)
        if cached and cached[1] > self._clock():
            return cached[0]
        try:
            member = await self.app.bot.get_chat_member(chat.id, user.id)
            admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError as exc:
            log.warning("Cannot check admin rights in chat %s: %s", chat.id, exc.message)
            admin = False
        self._admins[key] = (admin, self._clock() + ADMIN_CACHE_SECONDS)
        return admin

    def _no_drafts(self) -> None:
        self._drafts = False


def _thread_of(message: Message) -> int | None:
    """The forum topic a message is in, if any."""
    return message.message_thread_id if message.is_topic_message else None


def _mentions(message: Message, types: list[str | None]) -> dict[MessageEntity, str]:
    """The message's entities of these types, from its text or else its caption."""
    if message.text is not None:
        return message.parse_entities(types)
    return message.parse_caption_entities(types)


def _imports_card(name: str, args: str) -> bool:
    """Whether the command is ``/persona import`` (its card comes as the message's file)."""
    return name == "persona" and args.lower().split(maxsplit=1)[:1] == ["import"]


def _too_big(size: int | None) -> InvalidInput:
    stated = f"That file is {size / 1048576:.0f} MB; " if size else "That file is too big: "
    return InvalidInput(
        f"{stated}Telegram lets bots download files up to {MAX_DOWNLOAD // 1048576} MB. "
        "Send a smaller or shorter one."
    )
