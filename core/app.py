"""The core's facade: a message in, a reply (or a stream of one) out."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core import images
from core.addressing import Addressing
from core.billing.accounts import AccountFinder
from core.billing.cashier import Cashier
from core.billing.guards import AccountGuard, KeyRateLimiter, UserRateLimit
from core.billing.pricing import Prices
from core.catalogue import Catalogue
from core.character_commands import CharacterCommands
from core.characters import Binding, CharacterService
from core.chat.commands import CoreCommands
from core.chat.memory import Memory
from core.commands import CommandContext, CommandRegistry
from core.errors import BotError, InvalidInput
from core.events import Attachment, Choice, IncomingMessage, Notice, Reply, ReplyStream, Speaker
from core.ledger import Ledger
from core.media import IMAGE_TOKENS, MediaService
from core.media_commands import MediaCommands
from core.privacy import Privacy
from core.privacy_commands import PrivacyCommands
from core.runner import STOPPED_EARLY, Runner
from core.settings import Settings
from core.storage.chat_settings import ChatSettings, ChatSettingsStore
from core.storage.conversations import Conversation, ConversationKey, ConversationStore, StoredMessage
from core.storage.database import Database
from core.storage.personas import PersonaStore
from core.storage.state import StateStore
from core.storage.updates import UpdateLog
from core.storage.users import UserDirectory
from core.storage.video_jobs import VideoJobStore
from core.text import CitationRewriter, clean_text, find_urls, plural
from core.venice.client import VeniceClient
from core.venice.errors import StreamInterrupted
from core.venice.types import ChatMessage, ChatRequest, Citation, ModelInfo, Usage, VeniceParameters
from core.video import Deliverers, VideoJobs

log = logging.getLogger(__name__)
# What users write, only when LOG_CONTENT=true (bots/logs.py silences it otherwise).
content_log = logging.getLogger("core.content")

MAX_SCRAPED_LINKS = 3
REGENERATE = Choice("🔄 Regenerate", "/retry")


@dataclass(frozen=True)
class Streamed:
    """What a streamed answer brought: text, sources, usage and cost, whether it broke off."""

    answer: str
    citations: tuple[Citation, ...]
    usage: Usage | None
    cost_usd: float | None
    interrupted: bool
    stopped: bool = False  # the user stopped it (``interrupted`` too)
    reasoning: str = ""  # the model's thinking, not shown

    @property
    def produced(self) -> bool:
        """Whether Venice generated anything (and so bills for it)."""
        return bool(self.answer.strip() or self.reasoning.strip())


@dataclass(frozen=True)
class Services:
    """What the chat service is built from (wired in ``bots/``)."""

    settings: Settings
    venice: VeniceClient
    conversations: ConversationStore
    chat_settings: ChatSettingsStore
    memory: Memory
    updates: UpdateLog
    state: StateStore
    ledger: Ledger
    prices: Prices
    rate_limit: UserRateLimit
    account: AccountGuard
    key_limits: KeyRateLimiter
    video_jobs: VideoJobStore
    personas: PersonaStore
    database: Database
    clock: Callable[[], float] = field(default=time.time)  # wall time, for video jobs
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class App:
    """Answer messages and run commands for every adapter."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.settings = services.settings
        self.commands = CommandRegistry()
        self.runner = Runner()
        self.addressing = Addressing(services.chat_settings)
        self.cashier = Cashier(
            services.settings,
            chat_settings=services.chat_settings,
            conversations=services.conversations,
            ledger=services.ledger,
            rate_limit=services.rate_limit,
            account=services.account,
            key_limits=services.key_limits,
        )
        # How each running adapter posts a result that outlived the request (a video).
        self.deliverers = Deliverers()
        self.catalogue = Catalogue(services.settings, services.venice)
        self.media = MediaService(
            services.settings,
            venice=services.venice,
            chat_settings=services.chat_settings,
            prices=services.prices,
            catalogue=self.catalogue,
            cashier=self.cashier,
            runner=self.runner,
        )
        self.videos = VideoJobs(
            services.settings,
            services.video_jobs,
            venice=services.venice,
            chat_settings=services.chat_settings,
            prices=services.prices,
            cashier=self.cashier,
            catalogue=self.catalogue,
            deliverers=self.deliverers,
            clock=services.clock,
            sleep=services.sleep,
        )
        self.characters = CharacterService(services.venice, services.personas)
        self.users = UserDirectory(services.database)
        self.accounts = AccountFinder(self.users, services.ledger, services.conversations)
        self.privacy = Privacy(
            services.database,
            services.settings,
            conversations=services.conversations,
            chat_settings=services.chat_settings,
            ledger=services.ledger,
            clock=services.clock,
        )
        for group in (
            CoreCommands(
                services.settings,
                registry=self.commands,
                regenerate=self.regenerate,
                chat_settings=services.chat_settings,
                conversations=services.conversations,
                addressing=self.addressing,
                turns=self.runner.turns,
                ledger=services.ledger,
                cashier=self.cashier,
                accounts=self.accounts,
                characters=self.characters,
                catalogue=self.catalogue,
                venice=services.venice,
            ),
            MediaCommands(services.chat_settings, self.media, self.videos),
            CharacterCommands(
                services.settings,
                characters=self.characters,
                chat_settings=services.chat_settings,
                conversations=services.conversations,
                addressing=self.addressing,
                memory=services.memory,
                venice=services.venice,
                catalogue=self.catalogue,
            ),
            PrivacyCommands(services.settings, services.chat_settings, self.privacy),
        ):
            for command in group.definitions():  # in the order /help lists them
                self.commands.add(command)

    # ----- entry points

    async def handle_message(self, message: IncomingMessage) -> Reply | ReplyStream:
        """Answer a message: a command's reply, or a streamed chat answer.

        Raises ``BotError`` for anything the user should be told (bad input, Venice errors
        before the answer started); a stream reports later errors from ``reply()``.
        """
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
        if (recordings or pictures) and not message.text.strip():
            text = ""  # a voice note or a bare photo: the file is the message
        else:
            text = self.check_text(message.text)
        if text.startswith("/"):
            command, args = self.commands.parse(text)
            return await self.commands.run(self.command_context(message), command, args)
        if recordings:
            return await self.answer_recording(message, recordings[0], text)
        if not pictures and not text:
            raise InvalidInput("The bot reads text, images and voice notes; it cannot use that file.")
        return await self.answer(message, text or "Describe this image.")

    async def run_command(
        self, message: IncomingMessage, name: str, raw_args: str = ""
    ) -> Reply | ReplyStream:
        """Run a command that an adapter received natively (slash command, bot command)."""
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
        key = await self.conversation_key(message)
        # Names go with messages where several people talk to one model: a shared chat, or a
        # roleplay channel (even with memory per user, the character addresses people by name).
        shared = not message.is_direct and (not key.user_scope or bool(key.persona))
        question = self._question(message, text, shared=shared)
        pictures = _checked_pictures(message)
        return self.runner.turn(
            key,
            lambda stream: self._answer(message, key, question, stream, pictures=pictures),
            speaker=await self._speaker(message),
        )

    async def answer_recording(
        self, message: IncomingMessage, recording: Attachment, caption: str
    ) -> ReplyStream:
        """Transcribe a voice note (or audio file, or video note), show it, then answer it."""
        key = await self.conversation_key(message)
        # Names go with messages where several people talk to one model: a shared chat, or a
        # roleplay channel (even with memory per user, the character addresses people by name).
        shared = not message.is_direct and (not key.user_scope or bool(key.persona))
        pictures = _checked_pictures(message)  # sent along with the transcript

        async def work(stream: ReplyStream) -> None:
            heard = await self.media.transcribe(message, recording)
            quoted = "\n".join("> " + line for line in heard.splitlines())
            preface = f"> 🎤 {quoted[2:]}\n\n"
            stream.push(preface)
            text = f"{caption}\n\n{heard}" if caption else heard
            question = self._question(message, text, shared=shared)
            await self._answer(
                message, key, question, stream, preface=preface, heard_voice=True, pictures=pictures
            )

        return self.runner.turn(key, work, speaker=await self._speaker(message))

    async def regenerate(self, message: IncomingMessage) -> ReplyStream:
        """Answer the conversation's last question again, replacing the last answer."""
        key = await self.conversation_key(message)
        return self.runner.turn(
            key, lambda stream: self._regenerate(message, key, stream), speaker=await self._speaker(message)
        )

    async def roleplay_here(self, platform: str, chat_id: str) -> bool:
        """Whether a character is bound to this chat (adapters answer every message there)."""
        return (await self.s.chat_settings.get(platform, chat_id)).character is not None

    async def _speaker(self, message: IncomingMessage) -> Speaker | None:
        chat = await self.s.chat_settings.get(message.platform, message.chat_id)
        binding = await self.characters.binding(chat)
        return binding.speaker if binding else None

    async def _regenerate(self, message: IncomingMessage, key: ConversationKey, stream: ReplyStream) -> None:
        conversation = await self.s.conversations.active(key)
        last = await self.s.conversations.last_turn(conversation)
        if last is None:
            raise InvalidInput("There is no answer to regenerate in this conversation yet.")
        await self._answer(message, key, last[0].content, stream, replacing=last)

    async def _answer(
        self,
        message: IncomingMessage,
        key: ConversationKey,
        question: str,
        stream: ReplyStream,
        *,
        replacing: tuple[StoredMessage, StoredMessage] | None = None,
        pictures: tuple[Attachment, ...] = (),
        preface: str = "",
        heard_voice: bool = False,
    ) -> None:
        """Run one turn; the caller holds the conversation's turn."""
        store, memory = self.s.conversations, self.s.memory
        chat = await self.s.chat_settings.get(message.platform, message.chat_id)
        conversation = await store.active(key)
        binding = await self.characters.binding(chat)
        model, notices = await self.catalogue.chat_model(chat, binding)
        if pictures:
            model, more = await self.catalogue.vision_model(model)
            notices.extend(more)
        # The images go with this question only; the stored turn notes that there were some.
        stored_question = f"[{plural(len(pictures), 'image')}] {question}" if pictures else question
        question_tokens = memory.calibration.estimate(model.id, question) + IMAGE_TOKENS * len(pictures)
        system_prompt = self._system_prompt(chat, binding, message, model, conversation, question_tokens)
        context = await memory.build(
            conversation,
            model,
            system_prompt,
            question,
            question_tokens,
            before_id=replacing[0].id if replacing else None,
        )
        venice, more = self._venice_parameters(chat, model, question)
        if binding is not None and binding.slug:
            venice = dataclasses.replace(venice, character_slug=binding.slug)
        notices.extend(more)
        messages = context.messages
        if pictures:
            messages = (*messages[:-1], _with_images(question, pictures))
        if binding is not None and binding.persona is not None and binding.persona.post_history_instructions:
            # A card's last word, after the history and just before the new message.
            after = binding.persona.fill(
                binding.persona.post_history_instructions, message.user_name or "User"
            )
            messages = (*messages[:-1], {"role": "system", "content": after}, messages[-1])
        request = ChatRequest(
            model=model.id,
            messages=messages,
            max_completion_tokens=memory.reply_budget(model),
            venice=venice,
        )
        search = venice.enable_web_search != "off"
        urls = len(find_urls(question)) if venice.enable_web_scraping else 0
        estimate = self.s.prices.chat_estimate(
            model, context.estimated_tokens, memory.reply_budget(model), web_search=search, scraped_urls=urls
        )
        async with self.cashier.paying(message, estimate, feature="chat", model_id=model.id) as reservation:
            result = await self._stream(request, stream)
        answer, usage, interrupted = result.answer, result.usage, result.interrupted
        if result.stopped:
            notices.append(Notice("Stopped. The answer is kept as far as it got."))
        elif interrupted:
            notices.append(
                Notice(
                    "The connection to Venice broke off, so this answer is incomplete. "
                    "Send your message again for a full one.",
                    "warning",
                )
            )
        if usage and usage.prompt_tokens:
            memory.calibration.observe(model.id, context.estimated_tokens, usage.prompt_tokens)
        answer_tokens = (
            usage.completion_tokens
            if usage and usage.completion_tokens and not interrupted
            else memory.calibration.estimate(model.id, answer)
        )
        # What Venice billed: its own figures when they came, else the prompt and everything
        # it generated (the thinking too) as far as it got.
        cost = self.s.prices.chat_cost(
            model,
            usage,
            cost_usd=result.cost_usd,
            estimated_prompt=context.estimated_tokens,
            completion_estimate=answer_tokens + memory.calibration.estimate(model.id, result.reasoning),
            web_search=search,
            scraped_urls=urls,
        )
        if not answer.strip():
            if result.stopped:
                notices = (
                    [Notice("Stopped before the answer began.")]
                    if result.produced
                    else [*STOPPED_EARLY.notices]
                )
            else:
                notices.append(Notice("Venice returned an empty answer. Try again or rephrase.", "warning"))
            if result.stopped and result.produced:  # it thought, then was stopped: Venice bills that
                await self.cashier.settle(reservation, cost)
            else:
                await self.cashier.refund(reservation)
            stream.finish(Reply(notices=tuple(notices)))
            return
        user_id = await store.user_id(message.platform, message.user_id, message.user_name)
        await store.save_turn(
            conversation,
            user_id=user_id,
            question=stored_question,
            question_tokens=question_tokens,
            answer=answer,
            answer_tokens=answer_tokens,
            interrupted=interrupted,
            replacing=replacing,
        )
        voice: tuple[Attachment, ...] = ()
        wants_voice = chat.voice_mode == "on" or (chat.voice_mode == "mirror" and heard_voice)
        if wants_voice and not result.stopped:
            stream.set_activity("record_voice")
            try:
                voice, more = await self.media.spoken(
                    message, chat, answer, binding.voice if binding else None
                )
                notices.extend(more)
            except BotError as exc:  # the written answer stands; say why there is no voice
                notices.append(Notice(f"No voice reply: {exc.user_message}", "warning"))
        stream.finish(
            Reply(
                text=preface + answer,
                citations=result.citations,
                notices=tuple(notices),
                choices=(REGENERATE,),
                attachments=voice,
                speaker=binding.speaker if binding else None,
            )
        )
        # Settle once the user has the answer: the reservation already holds the money, and
        # the conversation's next turn waits for this one to finish.
        await self.cashier.settle(reservation, cost)
        # Fold old turns after the user has the answer; the next turn of this conversation
        # waits for it (this turn is still held), other conversations do not.
        try:
            summary = await memory.fold(conversation, model, system_prompt)
            if summary is not None:  # a paid call too: charged as far as the balance goes
                await self.cashier.charge_after(
                    message,
                    self.s.prices.chat_cost(
                        model,
                        summary.usage,
                        cost_usd=summary.cost_usd,
                        estimated_prompt=0,
                        completion_estimate=0,
                        web_search=False,
                        scraped_urls=0,
                        feature="summary",
                    ),
                    feature="summary",
                )
        except BotError as exc:
            log.warning("Summarizing conversation %s failed, will retry later: %s", conversation.id, exc)

    def _system_prompt(
        self,
        chat: ChatSettings,
        binding: Binding | None,
        message: IncomingMessage,
        model: ModelInfo,
        conversation: Conversation,
        question_tokens: int,
    ) -> str:
        """The chat's system prompt, or the bound persona's; its example dialogue is the first
        thing left out when the history would no longer fit beside it."""
        original = chat.system_prompt or self.settings.default_system_prompt
        if binding is None:
            return original
        if binding.persona is None:
            return chat.system_prompt or ""  # Venice brings the character's own prompt
        user = message.user_name or "User"
        full = binding.persona.system(user, original=original)
        if not binding.persona.example_dialogue:
            return full
        memory = self.s.memory
        example = memory.calibration.estimate(model.id, binding.persona.example_text())
        room = memory.window_budget(model, full, conversation.summary_tokens) - question_tokens
        # Tight: the example would take over a quarter of the window, or push history out.
        window = model.context_length - memory.reply_budget(model)
        if example <= window // 4 and room >= conversation.unsummarized_tokens:
            return full
        return binding.persona.system(user, original=original, with_example=False)

    async def _stream(self, request: ChatRequest, stream: ReplyStream) -> Streamed:
        """Relay Venice's stream to the reply stream; return what arrived.

        A stop (``stream.stop()``, which cancels this task while it relays) ends it like a
        broken connection: what arrived is kept. Once it returns, the answer can no longer be
        stopped: saving and settling it must not be cut short.
        """
        task = asyncio.current_task()
        stream.stoppable(task.cancel if task is not None else None)  # a stop asked earlier: now
        rewriter = CitationRewriter()
        parts: list[str] = []
        thought: list[str] = []  # reasoning: never shown, but Venice bills it
        citations: tuple[Citation, ...] = ()
        usage: Usage | None = None
        cost: float | None = None

        def ended(*, interrupted: bool, stopped: bool = False) -> Streamed:
            tail = rewriter.flush()
            parts.append(tail)
            stream.push(tail)
            return Streamed(
                "".join(parts),
                citations,
                usage,
                cost,
                interrupted,
                stopped=stopped,
                reasoning="".join(thought),
            )

        try:
            async for delta in self.s.venice.chat_stream(request):
                if delta.citations:
                    citations = delta.citations
                if delta.usage:
                    usage = delta.usage
                if delta.cost_usd is not None:
                    cost = delta.cost_usd
                thought.append(delta.reasoning)
                if delta.content:
                    shown = rewriter.feed(delta.content)
                    parts.append(shown)
                    stream.push(shown)
        except StreamInterrupted as exc:
            result = ended(interrupted=True)
            if not result.answer.strip():
                raise  # no answer arrived: an ordinary failure, nothing to keep
            log.warning(
                "Answer stream interrupted after %d chars (cf-ray %s)", len(result.answer), exc.cf_ray
            )
            return result
        except asyncio.CancelledError:
            if not stream.stop_requested or task is None or task.cancelling() != 1:
                raise  # shutting down
            task.uncancel()  # the user's stop: the answer ends here, kept as it is
            return ended(interrupted=True, stopped=True)
        finally:
            stream.stoppable(None)
        return ended(interrupted=False)

    @staticmethod
    def _question(message: IncomingMessage, text: str, *, shared: bool) -> str:
        """The user turn as stored and sent: quoted reply and speaker name where they help."""
        question = text
        if message.reply_to and message.reply_to.text.strip():
            quoted = "\n".join("> " + line for line in clean_text(message.reply_to.text)[:1000].splitlines())
            question = f"{quoted}\n\n{question}"
        if shared and message.user_name:
            question = f"[{clean_text(message.user_name)[:64]}] {question}"
        return question

    def _venice_parameters(
        self, chat: ChatSettings, model: ModelInfo, question: str
    ) -> tuple[VeniceParameters, list[Notice]]:
        notices: list[Notice] = []
        search = chat.web_search
        if search != "off" and not model.supports_web_search and model.raw:
            notices.append(Notice(f"{model.id} cannot search the web; answering without it.", "info"))
            search = "off"
        urls = find_urls(question) if chat.web_scraping else []
        scrape = 0 < len(urls) <= MAX_SCRAPED_LINKS
        if len(urls) > MAX_SCRAPED_LINKS:
            notices.append(
                Notice(
                    f"Your message has {len(urls)} links; the bot reads at most "
                    f"{MAX_SCRAPED_LINKS}, so it read none. Send up to {MAX_SCRAPED_LINKS} to have them read.",
                    "info",
                )
            )
        params = VeniceParameters(
            include_venice_system_prompt=self.settings.include_venice_system_prompt,
            enable_web_search=search,
            enable_web_citations=search != "off",
            enable_web_scraping=scrape,
        )
        return params, notices

    async def wait_idle(self) -> None:
        """Wait until every turn in flight has finished its work (settling, summarizing)."""
        await self.runner.wait_idle()

    async def aclose(self) -> None:
        """Finish answers in flight (or cancel them after a grace period)."""
        await self.videos.aclose()  # queued videos resume at the next start
        await self.privacy.aclose()
        await self.runner.drain()
        await self.s.ledger.flush()  # settlements are queued: write them before the database closes


def _checked_pictures(message: IncomingMessage) -> tuple[Attachment, ...]:
    """The message's images, each refused before anything is queued or paid if Venice would."""
    pictures = tuple(a for a in message.attachments if a.kind == "image")
    for picture in pictures:
        images.check_upload(picture.data)
    return pictures


def _with_images(question: str, pictures: tuple[Attachment, ...]) -> ChatMessage:
    """The user's message with its images as data URLs (Venice's vision content parts)."""
    parts: list[dict[str, object]] = [{"type": "text", "text": question}]
    for picture in pictures:
        parts.append(
            {"type": "image_url", "image_url": {"url": images.data_url(picture.data, picture.mime_type)}}
        )
    return {"role": "user", "content": parts}
