"""The Telegram adapter: updates in, core actions, messages out."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from telegram import (
    Chat,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters.dispatch import EXPIRED, NOT_NEWEST, Dispatch, error_text, write_afterword
from adapters.telegram import reading
from adapters.telegram.albums import Album, Albums
from adapters.telegram.inbox import InboxQueue
from adapters.telegram.media import IncomingFile, incoming_file
from adapters.telegram.menus import Menus, publish_commands
from adapters.telegram.reading import CARD_AS_PHOTO, PLATFORM, Reader, imports_card, thread_of
from adapters.telegram.receiving import Receiving
from adapters.telegram.sender import ChatBlocked, FloodWaitTooLong, TelegramSender
from adapters.telegram.target import Target
from adapters.telegram.undelivered import Undelivered
from adapters.telegram.writer import AnswerWriter, Pace
from core.app import App
from core.chat.turn import REGENERATE
from core.errors import ConfigurationError, InvalidInput, StorageUnavailable
from core.events import Destination, IncomingMessage, Reply, ReplyStream
from core.settings import Settings
from core.turns import Turn

log = logging.getLogger(__name__)

# What the bot reads besides text: files come with their caption as the message's text.
MEDIA = (
    filters.PHOTO | filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.VIDEO | filters.Document.ALL
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
    # With several workers: how many updates one worker claims from the inbox at most at
    # once (answering or waiting their turn), so that the others get their share.
    claim_ahead: int = 64


class TelegramAdapter:
    """Run one Telegram bot over the core: ``async with TelegramAdapter(...):`` serves updates."""

    def __init__(
        self,
        service: App,
        settings: Settings,
        *,
        sender: TelegramSender | None = None,
        options: TelegramOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self._service = service
        leadership = service.store.leadership
        self._queue = InboxQueue(
            service.inbox,
            lease=settings.turn_lease_seconds,
            may_store=service.may_store,
            shared=leadership.shared,
        )
        self._later: set[int] = set()  # updates answered by a task of their own (albums)
        self._settings = settings
        self._options = options or TelegramOptions()
        self._clock = clock
        self.sender = sender or TelegramSender()
        self.menus = Menus()
        # Keyed by chat and forum topic.
        self._chats: Dispatch[tuple[int, int | None], int] = Dispatch()
        self._albums: Albums[tuple[Message, IncomingFile, int]] = Albums(
            quiet=self._options.album_quiet, longest=self._options.album_longest
        )
        self._drafts = self._options.use_drafts
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token.get_secret_value())
            .update_queue(self._queue)
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(self._options.concurrent_updates)
            # httpcore looks at every pooled connection each time it hands one out, so a big
            # pool costs more than it brings: Telegram lets a bot send ~30 messages a second.
            .connection_pool_size(self._options.connection_pool_size)
            .pool_timeout(30.0)
            .build()
        )
        self.app.add_handler(
            MessageHandler((filters.TEXT | MEDIA) & ~filters.UpdateType.EDITED, self._on_message)
        )
        self.app.add_handler(CallbackQueryHandler(self._on_button))
        # After the handlers (also when one failed): the update is answered.
        self.app.add_handler(TypeHandler(Update, self._handled), group=1)
        self.app.add_error_handler(self._on_error)
        self._receiving = Receiving(
            self.app,
            self._queue,
            leadership,
            settings,
            poll_timeout=self._options.poll_timeout,
            claim_ahead=self._options.claim_ahead,
        )
        self._reader = Reader(self.app.bot, service.commands, service.uploads, clock=clock)
        self._undelivered = Undelivered(self.app.bot, self.sender, service.cashier)

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
            await publish_commands(self.app.bot, self._service.commands, self._settings.admin_ids(PLATFORM))
            await self.app.start()
            await self._receiving.start()
        except BaseException:
            await self._receiving.stop()
            await self.app.shutdown()
            raise
        self._service.admin_alerts.append(self.tell_admins)
        self._service.deliverers[PLATFORM] = self.deliver
        log.info(
            "Telegram bot @%s is running (%s)",
            self.app.bot.username,
            self._receiving.mode,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.tell_admins in self._service.admin_alerts:
            self._service.admin_alerts.remove(self.tell_admins)
        if self._service.deliverers.get(PLATFORM) == self.deliver:
            del self._service.deliverers[PLATFORM]
        await self._undelivered.aclose()
        await self._receiving.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # ----- commands menu

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

    async def _handled(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Mark an update answered once its handlers are done (an album's: once it is)."""
        if update.update_id in self._later:
            self._later.discard(update.update_id)
            return
        with contextlib.suppress(StorageUnavailable):  # logged where it arose; the answer stands
            await self._queue.answered([str(update.update_id)])

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None or user is None or user.is_bot:
            return
        file = incoming_file(message)
        if message.text is None and file is None:
            return
        self.sender.heard_from(chat.id)
        if message.media_group_id is not None and file is not None:
            self._later.add(update.update_id)  # answered with its album
            album = self._albums.add((chat.id, message.media_group_id), (message, file, update.update_id))
            if album is not None:
                # The album's place in the chat's line is taken now, with its first item: a
                # message sent after the album is answered after it.
                line = (chat.id, thread_of(message))
                turn = self._chats.take_turn(line), self._chats.take_delivery(line)
                self.app.create_task(self._on_album(album, chat, user, turn), update=update)
            return
        await self._on_messages(
            (message,), (file,) if file is not None else (), chat, user, receipts=(str(update.update_id),)
        )

    async def _on_album(
        self,
        album: Album[tuple[Message, IncomingFile, int]],
        chat: Chat,
        user: User,
        turn: tuple[Turn, Turn],
    ) -> None:
        """Answer an album's items as one message once they have all come."""
        items: list[tuple[Message, IncomingFile, int]] = []
        try:
            items = sorted(await self._albums.complete(album), key=lambda item: item[0].message_id)
            receipts = tuple(str(update_id) for _, _, update_id in items)
            await self._on_messages(
                [m for m, _, _ in items], [f for _, f, _ in items], chat, user, turn, receipts
            )
        finally:
            for place in turn:  # also when the album was not for the bot
                place.release()
            with contextlib.suppress(StorageUnavailable):  # logged where it arose
                await self._queue.answered([str(update_id) for _, _, update_id in items])

    async def _on_messages(
        self,
        messages: Sequence[Message],
        files: Sequence[IncomingFile],
        chat: Chat,
        user: User,
        turn: tuple[Turn, Turn] | None = None,
        receipts: tuple[str, ...] = (),
    ) -> None:
        """Answer a message, or an album's messages as one, if it is for the bot.

        An album's text is its captions; the one with a caption (usually the first) is where a
        command is read from, and what a group answer replies to.
        """
        head = next((m for m in messages if m.caption), messages[0])
        private = chat.type == ChatType.PRIVATE
        command = self._reader.command(head)
        if command is not None:
            name, args, addressed = command
            if not private and not addressed and not self._reader.knows(name):
                return  # another bot's command
            text = f"/{name} {args}".strip()
        elif (
            private
            or any(self._reader.addressed(m) for m in messages)
            or await self._service.roleplay_here(PLATFORM, str(chat.id))
        ):
            # A group with a character bound is a scene: every message is for it (Telegram
            # delivers them all when the bot's privacy mode is off, or the bot is an admin).
            text = "\n\n".join(t for t in map(self._reader.strip_mentions, messages) if t)
        else:
            return  # a group message (or file) that is not for the bot
        is_admin = private or (command is not None and await self._reader.is_chat_admin(chat, user, head))
        thread_id = thread_of(messages[0])
        replying = next((m for m in messages if self._reader.replied_message(m) is not None), head)

        async def incoming() -> IncomingMessage:
            # Downloads wait for the message's turn: a chat's messages reach the core in order.
            if command is not None and imports_card(*command[:2]) and any(m.photo for m in messages):
                raise InvalidInput(CARD_AS_PHOTO)
            return reading.incoming(
                chat,
                user,
                text,
                thread_id,
                is_admin=is_admin,
                attachments=await self._reader.download_all(files) if files else (),
                reply_to=await self._reader.replied(replying),
                message_id=str(head.message_id),
                receipts=receipts,
            )

        target = Target(chat.id, thread_id, reply_to=None if private else head.message_id, private=private)
        await self._dispatch(incoming, target, turn)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        pressed = self.menus.read(query.data) if query.data is not None else None
        if pressed is None or not isinstance(query.message, Message):  # forged, forgotten or too old
            try:
                await query.answer(EXPIRED)
            except TelegramError as exc:  # e.g. "query is too old": nobody is waiting for the answer
                log.info("Cannot answer an expired button press: %s", exc)
            return
        message, user = query.message, query.from_user
        chat = message.chat
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
        thread_id = thread_of(message)
        if pressed.command == REGENERATE.command and not self._chats.is_newest(
            (chat.id, thread_id), message.message_id
        ):
            await query.answer(NOT_NEWEST)
            return
        await query.answer()
        private = chat.type == ChatType.PRIVATE
        is_admin = private or await self._reader.is_chat_admin(chat, user, None)
        incoming = reading.incoming(
            chat, user, pressed.command, thread_id, is_admin=is_admin, receipts=(str(update.update_id),)
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
        turn: tuple[Turn, Turn] | None = None,
    ) -> None:
        """Hand a message to the core in arrival order, then write what comes back in that order.

        ``incoming`` may be a function that builds the message (downloading its files) once
        it is the message's turn; ``turn``: places in the chat's lines taken earlier (an album's).
        """
        line = (target.chat_id, target.thread_id)
        core, delivery = turn or (self._chats.take_turn(line), self._chats.take_delivery(line))
        writer = self._writer(target)
        result: Reply | ReplyStream | Exception | None = None
        question = incoming.text if isinstance(incoming, IncomingMessage) else ""
        try:
            try:
                async with core:
                    if not isinstance(incoming, IncomingMessage):
                        incoming = await incoming()
                        question = incoming.text
                    result = await self._service.handle_message(incoming)
                if isinstance(result, ReplyStream):
                    result.expect_report()  # what is paid once it arrived waits to hear that it did
            except Exception as exc:  # noqa: BLE001 - told below, in the answer's place in line
                result = exc
            if isinstance(result, ReplyStream) and result.status:
                # A job showing its progress (a video rendering for minutes) holds no one up:
                # its progress shows at once, its result when it is ready.
                delivery.release()
            async with delivery:
                try:
                    await self._write(writer, result, line)
                except FloodWaitTooLong:
                    reply = writer.reply
                    await self._undelivered.missed(
                        line,
                        question,
                        reply.charges if reply else (),
                        refunded=bool(reply and reply.charged_on_delivery),
                    )
                    return
            await write_afterword(result, writer.write_error)
        finally:
            delivery.release()  # also when cancelled before its place came
            if isinstance(result, ReplyStream):
                result.not_delivered()  # unless it was reported: cancelled, or failed before writing

    async def _write(
        self, writer: AnswerWriter, result: Reply | ReplyStream | Exception, line: tuple[int, int | None]
    ) -> None:
        """Write an answer, or what went wrong, into its chat."""
        try:
            if isinstance(result, Exception):
                raise result
            if isinstance(result, ReplyStream):
                with result.delivering():  # a video is paid once it is sent
                    reply = await writer.write_stream(result)
                    if line[0] in self.sender.blocked:  # blocked meanwhile: it did not arrive
                        raise ChatBlocked(line[0])
            else:
                reply = result
                await writer.write_reply(reply)
            self._chats.answered(line, reply, writer.message_ids)
        except (TelegramError, FloodWaitTooLong):
            raise  # the error handler logs a TelegramError; the caller refunds a flood wait
        except ChatBlocked:
            pass  # nothing more reaches that chat; a video it was waiting for is not charged
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            await writer.write_error(error_text(exc, log, "Handling a Telegram message failed"))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed", update_id, exc_info=context.error)

    def _no_drafts(self) -> None:
        self._drafts = False
