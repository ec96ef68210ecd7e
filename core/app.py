"""The core's facade: a message in, a reply (or a stream of one) out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.account.commands import AccountCommands
from core.addressing import Addressing
from core.billing.accounts import AccountFinder
from core.billing.cashier import Cashier
from core.billing.guards import AccountGuard, KeyRateLimiter, UserRateLimit
from core.billing.orphans import open_holds
from core.billing.pricing import Prices
from core.catalogue import Catalogue
from core.characters.binding import CharacterService
from core.characters.commands import CharacterCommands
from core.chat.caching import PromptCacheKeys
from core.chat.commands import ChatCommands
from core.chat.documents import Documents, unsupported
from core.chat.memory import Memory
from core.chat.transcripts import VideoTranscripts
from core.chat.turn import ChatTurns
from core.commands import CommandContext, CommandRegistry
from core.errors import InvalidInput
from core.events import IncomingMessage, Reply, ReplyStream
from core.media.commands import MediaCommands
from core.media.cutouts import Cutouts
from core.media.deliverers import Deliverers
from core.media.images import Images
from core.media.jobs import QueuedJobs
from core.media.music import MusicJobs
from core.media.speech import Speech
from core.media.uploads import Uploads
from core.media.video import VideoJobs
from core.money import usd
from core.ports.metrics import NO_METRICS, Metrics, TurnKind
from core.ports.records import ConversationKey
from core.ports.storage import Store
from core.privacy.commands import PrivacyCommands
from core.privacy.policy import Privacy
from core.runner import Runner
from core.settings import Settings
from core.storage_alarm import StorageAlarm
from core.text import clean_text
from core.tools.builtin import (
    Builtins,
    CurrentTime,
    GenerateImage,
    MakeMusic,
    ReadUrl,
    RecallTool,
    Speak,
    WebSearch,
)
from core.tools.commands import ToolCommands
from core.tools.pending import PendingCalls
from core.tools.registry import ToolRegistry
from core.venice.client import VeniceClient

log = logging.getLogger(__name__)
# What users write, only when LOG_CONTENT=true (bots/logs.py silences it otherwise).
content_log = logging.getLogger("core.content")
_Jobs = TypeVar("_Jobs", bound=QueuedJobs)


class App:
    """Answer messages and run commands for every adapter."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        venice: VeniceClient,
        memory: Memory,
        prices: Prices,
        rate_limit: UserRateLimit,
        account: AccountGuard,
        key_limits: KeyRateLimiter,
        clock: Callable[[], float] = time.time,  # wall time, for video and music jobs
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.venice = venice
        self.memory = memory
        self.prices = prices
        self._chat_settings = store.chat_settings
        self._ledger = store.ledger
        self.commands = CommandRegistry()
        # What adapters use besides handle_message: the inbox (messages recorded as they
        # arrive, answered once), the bot's own small state (Discord's command fingerprint),
        # where to tell admins of alerts.
        self.inbox = store.inbox
        self.state = store.state
        self.admin_alerts = account.alerts
        # A database that cannot save (full disk, read-only): the admins hear of it once an hour.
        self.storage_alarm = StorageAlarm(self.admin_alerts, clock=clock)
        store.watch_unavailable(self.storage_alarm.report)
        self.runner = Runner()
        self.addressing = Addressing(store.chat_settings)
        self.cashier = Cashier(
            settings,
            chat_settings=store.chat_settings,
            conversations=store.conversations,
            ledger=store.ledger,
            rate_limit=rate_limit,
            account=account,
            key_limits=key_limits,
            inbox=store.inbox,
            atomic=store.atomic,
            metrics=metrics,
        )
        # How each running adapter posts a result that outlived the request (a video, a track).
        self.deliverers = Deliverers()
        self.catalogue = Catalogue(settings, venice)
        self.uploads = Uploads(settings)
        self.images = Images(
            settings,
            venice=venice,
            chat_settings=store.chat_settings,
            prices=prices,
            catalogue=self.catalogue,
            cashier=self.cashier,
            runner=self.runner,
        )
        self.speech = Speech(
            settings,
            venice=venice,
            chat_settings=store.chat_settings,
            prices=prices,
            catalogue=self.catalogue,
            cashier=self.cashier,
            runner=self.runner,
            uploads=self.uploads,
        )
        self.characters = CharacterService(venice, store.personas)
        self.documents = Documents(
            settings,
            venice=venice,
            prices=prices,
            cashier=self.cashier,
        )

        def queued(kind: type[_Jobs]) -> _Jobs:
            return kind(
                settings,
                store.video_jobs,
                venice=venice,
                chat_settings=store.chat_settings,
                prices=prices,
                cashier=self.cashier,
                catalogue=self.catalogue,
                deliverers=self.deliverers,
                workers=store.coordination,
                clock=clock,
                sleep=sleep,
            )

        self.videos = queued(VideoJobs)
        self.music = queued(MusicJobs)
        # Every kind of queued job, for resuming at start-up and stopping at the end.
        self.queued_jobs: tuple[QueuedJobs, ...] = (self.videos, self.music)
        self.pending_tools = PendingCalls(store.state, clock=clock)
        self.tools = ToolRegistry(
            settings,
            [
                Builtins(
                    [
                        GenerateImage(self.images),
                        WebSearch(venice, self.cashier, prices),
                        ReadUrl(venice, self.cashier, prices),
                        Speak(),
                        RecallTool(memory.recall, self.cashier, prices),
                        CurrentTime(clock),
                        MakeMusic(self.music),
                    ]
                )
            ],
        )
        self.turns = ChatTurns(
            settings,
            venice=venice,
            conversations=store.conversations,
            chat_settings=store.chat_settings,
            memory=memory,
            prices=prices,
            addressing=self.addressing,
            characters=self.characters,
            catalogue=self.catalogue,
            cashier=self.cashier,
            speech=self.speech,
            runner=self.runner,
            documents=self.documents,
            cache_keys=PromptCacheKeys(store.state),
            tools=self.tools,
            pending=self.pending_tools,
        )

        self.cutouts = Cutouts(
            settings, venice=venice, prices=prices, cashier=self.cashier, runner=self.runner
        )
        self.transcripts = VideoTranscripts(
            settings, venice=venice, prices=prices, cashier=self.cashier, turns=self.turns
        )
        self.users = store.users
        self.accounts = AccountFinder(self.users, store.ledger, store.conversations)
        self.privacy = Privacy(
            store.privacy,
            settings,
            conversations=store.conversations,
            chat_settings=store.chat_settings,
            ledger=store.ledger,
            workers=store.coordination,
            clock=clock,
        )
        for group in (
            ChatCommands(
                settings,
                registry=self.commands,
                regenerate=self.regenerate,
                chat_settings=store.chat_settings,
                conversations=store.conversations,
                addressing=self.addressing,
                turns=self.runner.turns,
                characters=self.characters,
                catalogue=self.catalogue,
                memory=memory,
            ),
            AccountCommands(
                settings,
                chat_settings=store.chat_settings,
                conversations=store.conversations,
                ledger=store.ledger,
                cashier=self.cashier,
                accounts=self.accounts,
                venice=venice,
                clock=clock,
            ),
            MediaCommands(
                store.chat_settings,
                self.images,
                self.speech,
                self.videos,
                self.music,
                cutouts=self.cutouts,
                transcribe=self.transcripts.answer,
            ),
            CharacterCommands(
                settings,
                characters=self.characters,
                chat_settings=store.chat_settings,
                conversations=store.conversations,
                addressing=self.addressing,
                memory=memory,
                venice=venice,
                catalogue=self.catalogue,
            ),
            PrivacyCommands(settings, store.chat_settings, self.privacy),
            ToolCommands(store.chat_settings, self.tools, self.pending_tools, self.runner),
        ):
            for command in group.definitions():  # in the order /help lists them
                self.commands.add(command)

    # ----- entry points

    async def handle_message(self, message: IncomingMessage) -> Reply | ReplyStream:
        """Answer a message: a command's reply, or a streamed chat answer.

        Raises ``BotError`` for anything the user should be told (bad input, Venice errors
        before the answer started); a stream reports later errors from ``reply()``.
        """
        return await self._counted(message, _kind(message), self._handle(message))

    async def _counted(
        self, message: IncomingMessage, kind: TurnKind, answering: Awaitable[Reply | ReplyStream]
    ) -> Reply | ReplyStream:
        """``answering``'s result, counted as answered or failed once it is known."""
        platform = message.platform
        try:
            result = await answering
        except Exception:
            self.metrics.turn(platform, kind, "failed")
            raise
        if isinstance(result, ReplyStream):
            result.when_ended(lambda ok: self.metrics.turn(platform, kind, "answered" if ok else "failed"))
        else:
            self.metrics.turn(platform, kind, "answered")
        return result

    async def _handle(self, message: IncomingMessage) -> Reply | ReplyStream:
        if content_log.isEnabledFor(logging.DEBUG):
            content_log.debug(
                "%s/%s from %s: %r (%d files)",
                message.platform,
                message.chat_id,
                message.user_id,
                message.text,
                len(message.attachments),
            )
        recordings = [a for a in message.attachments if a.is_audio]
        pictures = [a for a in message.attachments if a.kind == "image"]
        documents = [a for a in message.attachments if a.kind == "document"]
        if message.attachments and not message.text.strip():
            text = ""  # a voice note, a bare photo or document: the file is the message
        else:
            text = self.check_text(message.text)
        if text.startswith("/"):
            command, args = self.commands.parse(text)
            return await self.commands.run(self.command_context(message), command, args)
        if recordings:
            return await self.turns.answer_recording(message, recordings[0], text)
        if documents:
            return await self.turns.answer_document(message, documents[0], text, more=len(documents) - 1)
        unreadable = [a for a in message.attachments if a.kind == "file"]
        if unreadable and not pictures:  # not answered without it: the question is about it
            raise unsupported(unreadable[0])
        if not pictures and not text:
            raise InvalidInput(
                "The bot reads text, images, voice notes and documents; it cannot use that file."
            )
        return await self.answer(message, text or "Describe this image.")

    async def run_command(
        self, message: IncomingMessage, name: str, raw_args: str = ""
    ) -> Reply | ReplyStream:
        """Run a command that an adapter received natively (slash command, bot command)."""
        return await self._counted(message, "command", self._run_command(message, name, raw_args))

    async def _run_command(self, message: IncomingMessage, name: str, raw_args: str) -> Reply | ReplyStream:
        command = self.commands.get(name)
        args = self.commands.parse_args(command, clean_text(raw_args))
        return await self.commands.run(self.command_context(message), command, args)

    def command_context(self, message: IncomingMessage) -> CommandContext:
        """Who is asking, with their rights."""
        return CommandContext(message, self.settings.is_admin(message.platform, message.user_id))

    def check_text(self, raw: str) -> str:
        """Clean a message and enforce the length limit, with a clear reason on refusal."""
        if len(raw) > self.settings.max_message_chars * 4:
            # Refuse before cleaning a huge text: no point normalising 10 MB to reject it.
            raise self._too_long(len(raw))
        text = clean_text(raw)
        if not text:
            raise InvalidInput("Your message is empty. Type a question or send /help.")
        if len(text) > self.settings.max_message_chars:
            raise self._too_long(len(text))
        return text

    def _too_long(self, length: int) -> InvalidInput:
        limit = self.settings.max_message_chars
        return InvalidInput(
            f"Your message is {length:,} characters long; the limit is {limit:,}. "
            "Shorten it or split it into parts."
        )

    # ----- chat

    async def conversation_key(self, message: IncomingMessage) -> ConversationKey:
        """The conversation a message belongs to (addressing decides)."""
        return await self.addressing.conversation_key(message)

    async def account_of(self, message: IncomingMessage) -> str:
        """The ledger account that pays for this user's actions (the cashier decides)."""
        return await self.cashier.account_of(message)

    async def answer(self, message: IncomingMessage, text: str) -> ReplyStream:
        """Start a streamed answer; the turn is stored when it is complete."""
        return await self.turns.answer(message, text)

    async def regenerate(self, message: IncomingMessage) -> ReplyStream:
        """Answer the conversation's last question again, replacing the last answer."""
        return await self.turns.regenerate(message)

    async def roleplay_here(self, platform: str, chat_id: str) -> bool:
        """Whether a character is bound to this chat (adapters answer every message there)."""
        return (await self._chat_settings.get(platform, chat_id)).character is not None

    async def may_store(self, platform: str, chat_id: str) -> bool:
        """Whether a chat's messages may be written to disk (it is not ephemeral)."""
        return not (await self._chat_settings.get(platform, chat_id)).ephemeral

    async def recover(self, *, others_running: bool) -> int:
        """At start-up, refund the holds a stop or crash left open; returns how many.

        ``others_running``: another process serves the same database and may hold some.
        """
        _, orphans = await open_holds(
            self.store.ledger,
            self.store.video_jobs,
            others_running=others_running,
            lease=self.settings.turn_lease_seconds,
        )
        if orphans:
            refunded = await self.cashier.release(orphans)
            log.warning(
                "Refunded %d payments left open by an earlier stop or crash (%s in all)",
                len(orphans),
                usd(refunded),
            )
        return len(orphans)

    async def wait_idle(self) -> None:
        """Wait until every turn in flight has finished its work (settling, summarizing)."""
        await self.runner.wait_idle()

    async def aclose(self) -> None:
        """Finish answers in flight (or cancel them after a grace period)."""
        for jobs in self.queued_jobs:
            await jobs.aclose()  # queued videos and tracks resume at the next start
        await self.privacy.aclose()
        await self.runner.drain()
        await self._ledger.flush()  # settlements are queued: write them before the database closes
        await self.storage_alarm.aclose()


def _kind(message: IncomingMessage) -> TurnKind:
    """What a message asks for, as /metrics labels it."""
    if message.text.lstrip().startswith("/"):
        return "command"
    kinds = {attachment.kind for attachment in message.attachments}
    if any(attachment.is_audio for attachment in message.attachments):
        return "voice"
    if "document" in kinds:
        return "document"
    return "image" if "image" in kinds else "chat"
