"""A turn of a conversation: a text, a voice note or a regenerate, one path from the question
to the stored, paid answer."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from core.addressing import Addressing
from core.billing.cashier import Cashier
from core.billing.pricing import Prices
from core.catalogue import Catalogue
from core.characters.binding import CharacterService
from core.chat import acting, prompt
from core.chat.acting import Acted
from core.chat.caching import PromptCacheKeys
from core.chat.documents import DEFAULT_QUESTION, DocumentQuestion, Documents, ReadDocument
from core.chat.memory import Memory
from core.chat.prompt import checked_pictures, question_text, venice_parameters, with_images
from core.chat.recall import Embedded
from core.chat.relay import relay
from core.errors import BotError, InvalidInput, StorageUnavailable
from core.events import Attachment, Charge, Choice, IncomingMessage, Notice, Reply, ReplyStream, Speaker
from core.media.images import IMAGE_TOKENS
from core.media.speech import Speech
from core.money import micro_usd
from core.ports.records import Conversation, ConversationKey, StoredMessage
from core.ports.storage import ChatSettingsStore, ConversationStore
from core.runner import STOPPED_EARLY, Runner
from core.settings import Settings
from core.text import find_urls, plural
from core.tools.base import ToolContext
from core.tools.pending import PendingCalls
from core.tools.registry import ToolRegistry
from core.venice.client import VeniceClient
from core.venice.types import ChatRequest

log = logging.getLogger(__name__)

REGENERATE = Choice("🔄 Regenerate", "/retry")
UNSAVED = "The bot can't save right now: it will not remember this answer, and you were not charged for it."


class ChatTurns:
    """Start the turns of conversations; each runs in order, pays and is stored when done."""

    def __init__(
        self,
        settings: Settings,
        *,
        venice: VeniceClient,
        conversations: ConversationStore,
        chat_settings: ChatSettingsStore,
        memory: Memory,
        prices: Prices,
        addressing: Addressing,
        characters: CharacterService,
        catalogue: Catalogue,
        cashier: Cashier,
        speech: Speech,
        runner: Runner,
        cache_keys: PromptCacheKeys,
        documents: Documents,
        tools: ToolRegistry,
        pending: PendingCalls,
    ) -> None:
        self._settings = settings
        self._venice = venice
        self._conversations = conversations
        self._chat_settings = chat_settings
        self._memory = memory
        self._prices = prices
        self._addressing = addressing
        self._characters = characters
        self._catalogue = catalogue
        self._cashier = cashier
        self._speech = speech
        self._runner = runner
        self._cache_keys = cache_keys
        self._documents = documents
        self._tools = tools
        self._pending = pending
        self._ceiling = micro_usd(settings.tool_cost_ceiling_usd, up=False)

    async def answer(self, message: IncomingMessage, text: str) -> ReplyStream:
        """Start a streamed answer; the turn is stored when it is complete."""
        key = await self._addressing.conversation_key(message)
        # Names go with messages where several people talk to one model: a shared chat, or a
        # roleplay channel (even with memory per user, the character addresses people by name).
        shared = not message.is_direct and (not key.user_scope or bool(key.persona))
        question = question_text(message, text, shared=shared)
        pictures = checked_pictures(message)
        return self._runner.turn(
            key,
            lambda stream: self._answer(message, key, question, stream, pictures=pictures),
            speaker=await self._speaker(message),
        )

    async def answer_recording(
        self, message: IncomingMessage, recording: Attachment, caption: str
    ) -> ReplyStream:
        """Transcribe a voice note (or audio file, or video note), show it, then answer it."""
        key = await self._addressing.conversation_key(message)
        # Names go with messages where several people talk to one model: a shared chat, or a
        # roleplay channel (even with memory per user, the character addresses people by name).
        shared = not message.is_direct and (not key.user_scope or bool(key.persona))
        pictures = checked_pictures(message)  # sent along with the transcript

        async def work(stream: ReplyStream) -> None:
            heard = await self._speech.transcribe(message, recording)
            quoted = "\n".join("> " + line for line in heard.splitlines())
            preface = f"> 🎤 {quoted[2:]}\n\n"
            stream.push(preface)
            text = f"{caption}\n\n{heard}" if caption else heard
            question = question_text(message, text, shared=shared)
            await self._answer(
                message, key, question, stream, preface=preface, heard_voice=True, pictures=pictures
            )

        return self._runner.turn(key, work, speaker=await self._speaker(message))

    async def answer_document(
        self, message: IncomingMessage, document: Attachment, caption: str, *, more: int = 0
    ) -> ReplyStream:
        """Read a document (a paid parse), then answer the caption's question about it (by
        default, summarise it). ``more``: documents beyond this one, which are not read."""
        return await self.answer_read(
            message, lambda: self._documents.read(message, document), caption, more=more
        )

    async def answer_read(
        self,
        message: IncomingMessage,
        read_text: Callable[[], Awaitable[ReadDocument]],
        caption: str,
        *,
        more: int = 0,
    ) -> ReplyStream:
        """Answer a question about a text that ``read_text`` gets, paid, in the conversation's
        turn (a document, a video's transcript), as a document: see ``answer_document``."""
        key = await self._addressing.conversation_key(message)
        shared = not message.is_direct and (not key.user_scope or bool(key.persona))
        pictures = checked_pictures(message)

        async def work(stream: ReplyStream) -> None:
            read = await read_text()
            question = question_text(message, caption or DEFAULT_QUESTION, shared=shared)
            asked = DocumentQuestion(read, question, unread=more)
            stream.push(asked.preface)
            try:
                await self._answer(
                    message,
                    key,
                    asked.prompt,
                    stream,
                    preface=asked.preface,
                    pictures=pictures,
                    document=asked,
                )
            except BotError as exc:  # the reading stays paid: say so
                asked.failed(exc)
                raise

        return self._runner.turn(key, work, speaker=await self._speaker(message))

    async def regenerate(self, message: IncomingMessage) -> ReplyStream:
        """Answer the conversation's last question again, replacing the last answer."""
        key = await self._addressing.conversation_key(message)
        return self._runner.turn(
            key, lambda stream: self._regenerate(message, key, stream), speaker=await self._speaker(message)
        )

    async def _speaker(self, message: IncomingMessage) -> Speaker | None:
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        binding = await self._characters.binding(chat)
        return binding.speaker if binding else None

    async def _regenerate(self, message: IncomingMessage, key: ConversationKey, stream: ReplyStream) -> None:
        conversation = await self._conversations.active(key)
        last = await self._conversations.last_turn(conversation)
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
        document: DocumentQuestion | None = None,
    ) -> None:
        """Run one turn; the caller holds the conversation's turn.

        ``document``: the question carries a document's text, which is sent but not stored
        (the stored turn names the document; memory is handed its text once the turn is saved).
        """
        store, memory = self._conversations, self._memory
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        conversation = await store.active(key)
        binding = await self._characters.binding(chat)
        model, notices = await self._catalogue.chat_model(chat, binding)
        if pictures:
            model, more = await self._catalogue.vision_model(model)
            notices.extend(more)
        # The images go with this question only; the stored turn notes that there were some.
        stored_question = document.stored if document is not None else question
        if pictures:
            stored_question = f"[{plural(len(pictures), 'image')}] {stored_question}"
        question_tokens = memory.calibration.estimate(model.id, question) + IMAGE_TOKENS * len(pictures)
        stored_tokens = (
            question_tokens if document is None else memory.calibration.estimate(model.id, stored_question)
        )
        system_prompt = prompt.system_prompt(
            self._settings, self._memory, chat, binding, message, model, conversation, question_tokens
        )
        budget, recall = memory.budget_of(chat), memory.recalls(chat)
        context = await memory.build(
            conversation,
            model,
            system_prompt,
            question,
            question_tokens,
            budget=budget,
            recall=recall,
            before_id=replacing[0].id if replacing else None,
        )
        venice, more = venice_parameters(self._settings, chat, model, question)
        if binding is not None and binding.slug:
            venice = dataclasses.replace(venice, character_slug=binding.slug)
        notices.extend(more)
        messages = context.messages
        if pictures:
            messages = (*messages[:-1], with_images(question, pictures))
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
            # Routes the conversation's requests to the cache that holds its prefix.
            prompt_cache_key=await self._cache_keys.key(conversation.id),
        )
        search = venice.enable_web_search != "off"
        urls = len(find_urls(question)) if venice.enable_web_scraping else 0
        estimate = self._prices.chat_estimate(
            model, context.estimated_tokens, memory.reply_budget(model), web_search=search, scraped_urls=urls
        )
        is_admin = self._settings.is_admin(message.platform, message.user_id)
        tools = self._tools.offered(model, chat, is_admin=is_admin)
        tool_context = ToolContext(message, chat, stream, is_admin, conversation)
        acted = Acted()
        try:
            async with self._cashier.paying(
                message, estimate, feature="chat", model_id=model.id
            ) as reservation:
                if tools:
                    limits = acting.ToolTurn(
                        tools, tool_context, self._settings.max_tool_rounds, self._ceiling, self._pending
                    )
                    result = await acting.act(self._venice, request, stream, limits, acted)
                else:
                    result = await relay(self._venice, request, stream)
        except BaseException:
            await self._give_back(acted.charges)  # no answer: what its tools took goes back too
            raise
        if acted.shown:
            notices.append(Notice("Tools: " + " · ".join(acted.shown), "info"))
        answer, usage, interrupted = result.answer, result.usage, result.interrupted
        if not answer.strip() and acted.attachments:
            answer = " · ".join(acted.shown)  # a picture and no words: say what was made
        if result.stopped:
            notices.append(Notice("Stopped. The answer is kept as far as it got."))
        elif interrupted:
            notices.append(
                Notice(
                    result.notice
                    or "The connection to Venice broke off, so this answer is incomplete. "
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
        generated = answer_tokens + memory.calibration.estimate(model.id, result.reasoning)
        if result.capped:  # cut at the budget: no more than the budget is charged
            generated = min(generated, request.max_completion_tokens or generated)
        # What Venice billed: its own figures when they came, else the prompt and everything
        # it generated (the thinking too) as far as it got.
        cost = self._prices.chat_cost(
            model,
            usage,
            cost_usd=result.cost_usd,
            estimated_prompt=context.estimated_tokens,
            completion_estimate=generated,
            web_search=search,
            scraped_urls=urls,
        ) + self._embedding_cost(context.recollection.spent)
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
                await self._cashier.settle(reservation, cost, tokens=self._prices.token_use(model, usage))
            else:
                await self._cashier.refund(reservation)
            await self._give_back(acted.charges)
            stream.finish(Reply(notices=tuple(notices)))
            return
        voice: tuple[Attachment, ...] = ()
        charges: list[Charge] = []
        wants_voice = (
            chat.voice_mode == "on"
            or (chat.voice_mode == "mirror" and heard_voice)
            or tool_context.wants_voice
        )
        if wants_voice and not result.stopped:
            stream.set_activity("record_voice")
            try:
                voice, more, spoken = await self._speech.spoken(
                    message, chat, answer, binding.voice if binding else None
                )
                notices.extend(more)
                charges.append(spoken)
            except BotError as exc:  # the written answer stands; say why there is no voice
                notices.append(Notice(f"No voice reply: {exc.user_message}", "warning"))
        stream.finish(
            Reply(
                text=preface + answer,
                citations=result.citations,
                notices=tuple(notices),
                choices=(REGENERATE, *acted.choices),
                attachments=(*acted.attachments, *voice),
                speaker=binding.speaker if binding else None,
                # The voice's and the tools'; the answer is paid once it arrived.
                charges=(*acted.charges, *charges),
                charged_on_delivery=True,
            )
        )
        # Stored and paid once the user has it, with its message marked answered, all in one
        # transaction. Killed before that, the bot answers the message again after the restart
        # (and refunds this hold); an answer is repeated only if it was being delivered.
        if not await stream.delivered():
            await self._cashier.refund(reservation)  # it never reached the user: not paid, not kept
            await self._give_back(acted.charges)
            return
        try:
            async with self._cashier.atomic():
                user_id = await store.user_id(message.platform, message.user_id, message.user_name)
                await store.save_turn(
                    conversation,
                    user_id=user_id,
                    question=stored_question,
                    question_tokens=stored_tokens,
                    answer=answer,
                    answer_tokens=answer_tokens,
                    interrupted=interrupted,
                    replacing=replacing,
                )
                await self._cashier.settle(reservation, cost, tokens=self._prices.token_use(model, usage))
        except BaseException as exc:
            # Not kept (a full disk), so not paid: the hold goes back, if the database takes
            # even that (else the next start refunds it).
            store.drop_cached({conversation.id})  # its cache took the turn the database did not
            await self._cashier.refund(reservation)
            if isinstance(exc, StorageUnavailable):
                stream.say_after(Notice(UNSAVED, "warning"))
                return
            raise
        stream.say_after(None)
        if document is not None and recall:
            await self._remember_document(message, conversation, document.document)
        # Keep the memory after the user has the answer; the next turn of this conversation
        # waits for it (this turn is still held), other conversations do not.
        upkeep = await memory.upkeep(conversation, model, budget=budget, recall=recall)
        if upkeep.summary is not None and upkeep.summary_model is not None:
            # Paid calls too: charged as far as the balance goes.
            summary_cost = self._prices.chat_cost(
                upkeep.summary_model,
                upkeep.summary.usage,
                cost_usd=upkeep.summary.cost_usd,
                estimated_prompt=0,
                completion_estimate=0,
                web_search=False,
                scraped_urls=0,
                feature="summary",
            )
            tokens = self._prices.token_use(upkeep.summary_model, upkeep.summary.usage, feature="summary")
            await self._cashier.charge_after(message, summary_cost, feature="summary", tokens=tokens)
        if upkeep.embedded.tokens:
            await self._cashier.charge_after(message, self._embedding_cost(upkeep.embedded), feature="memory")

    async def _remember_document(
        self, message: IncomingMessage, conversation: Conversation, document: ReadDocument
    ) -> None:
        """Embed the text of the document just answered, with the stored question it came with,
        so follow-up questions recall its passages. A failure is logged: the answer stands."""
        last = await self._conversations.last_turn(conversation)
        if last is None:
            return
        try:
            spent = await self._memory.recall.remember_document(
                conversation, last[0].id, document.name, document.text
            )
        except BotError as exc:
            log.warning(
                "Keeping document %s for conversation %s failed: %s", document.name, conversation.id, exc
            )
            return
        await self._cashier.charge_after(message, self._embedding_cost(spent), feature="memory")

    async def _give_back(self, charges: list[Charge]) -> None:
        """Refund what a turn's tools charged when the turn gives the user nothing."""
        for charge in charges:
            await self._cashier.refund_undelivered(charge)

    def _embedding_cost(self, spent: Embedded) -> int:
        """What embedding text for recall cost, at its model's price."""
        if spent.model is None or not spent.tokens:
            return 0
        return self._prices.embedding_cost(spent.model, spent.tokens)
