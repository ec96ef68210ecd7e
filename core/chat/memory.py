"""Conversation memory: the newest turns verbatim within a token budget, older ones folded in
blocks into a running summary (written by a small model) and recalled when relevant.

Between folds a prompt only grows at its end (system prompt, summary, verbatim turns, then the
recalled block and the newest message), so Venice's prefix cache serves all but its tail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.catalogue import Catalogue
from core.chat.caching import mark_cache_breakpoint, supports_cache_control
from core.chat.recall import Embedded, Recall, RecallPaused, Recollection
from core.errors import BotError, InvalidInput
from core.ports.records import ChatSettings, Conversation, StoredMessage
from core.ports.storage import ConversationStore
from core.text import estimate_tokens
from core.venice.client import VeniceClient
from core.venice.types import ChatMessage, ChatRequest, ChatResult, ModelInfo, VeniceParameters

log = logging.getLogger(__name__)

SUMMARY_HEADER = "Summary of the earlier part of this conversation:\n"
SUMMARY_ANSWER_CHARS = 600  # of each answer, in a summary's transcript
MIN_BUDGET = 200  # /memory budget's floor: one short exchange
SUMMARY_PROMPT = (
    "Summarize the conversation below for your own memory, so that you can continue it. "
    "Keep names, facts, numbers, decisions, open questions and the user's preferences. "
    "Write at most 200 words in the conversation's language. Output the summary only."
)


class TokenCalibration:
    """Scale the character-based token estimate by what Venice actually counted, per model."""

    def __init__(self, alpha: float = 0.3) -> None:
        self._alpha = alpha
        self._factor: dict[str, float] = {}

    def factor(self, model: str) -> float:
        """Current estimate-to-real ratio for a model (1.0 until seen)."""
        return self._factor.get(model, 1.0)

    def estimate(self, model: str, text: str) -> int:
        """Estimated tokens of a text for this model."""
        return max(1, round(estimate_tokens(text) * self.factor(model)))

    def observe(self, model: str, estimated: int, actual: int) -> None:
        """Fold one measured prompt size into the model's ratio."""
        if estimated <= 0 or actual <= 0:
            return
        ratio = min(3.0, max(0.3, actual / estimated * self.factor(model)))
        old = self._factor.get(model)
        self._factor[model] = ratio if old is None else old + self._alpha * (ratio - old)


@dataclass(frozen=True)
class Context:
    """The messages to send, their estimated tokens, the stored turns among them, what was recalled."""

    messages: tuple[ChatMessage, ...]
    estimated_tokens: int
    window: tuple[StoredMessage, ...]
    recollection: Recollection = field(default_factory=Recollection)


@dataclass(frozen=True)
class Upkeep:
    """What keeping a conversation's memory cost after a turn: a summary, embeddings, or neither."""

    summary: ChatResult | None = None
    summary_model: ModelInfo | None = None
    embedded: Embedded = field(default_factory=Embedded)


def window_start(messages: Sequence[StoredMessage], budget: int, fold_to: float) -> int:
    """The index of the first message sent verbatim.

    Replayed turn by turn from the oldest unsummarized message: whenever the turns kept pass
    ``budget``, a block of the oldest is folded at once, down to ``fold_to`` of it. So the
    window's start moves only now and then, and between moves the prompt grows only at its end.
    The newest turn always stays whole.
    """
    turns: list[list[int]] = []  # [index of its first message, tokens]
    for index, message in enumerate(messages):
        if message.role == "user" or not turns:
            turns.append([index, 0])
        turns[-1][1] += message.token_count
    first, used = 0, 0
    for newest, (_, tokens) in enumerate(turns):
        used += tokens
        if used > budget:
            while first < newest and used > budget * fold_to:
                used -= turns[first][1]
                first += 1
    return turns[first][0] if turns else 0


class Memory:
    """Assemble each prompt within the history budget; fold, summarize and embed what leaves it."""

    FOLD_TO = 0.5  # a fold keeps this share of the budget, so folds come every few turns
    SUMMARY_AFTER = 4_000  # tokens out of the window before the summary is rewritten (bench/cost.py)
    SUMMARY_REPLY = 400

    def __init__(
        self,
        store: ConversationStore,
        venice: VeniceClient,
        recall: Recall,
        catalogue: Catalogue,
        *,
        reply_max_tokens: int,
        history_budget: int,
        history_budget_max: int,
        calibration: TokenCalibration | None = None,
    ) -> None:
        self._store = store
        self._venice = venice
        self.recall = recall
        self._catalogue = catalogue
        self._reply_max_tokens = reply_max_tokens
        self.history_budget = history_budget
        self.history_budget_max = max(history_budget, history_budget_max)
        self.calibration = calibration or TokenCalibration()

    def reply_budget(self, model: ModelInfo) -> int:
        """Tokens kept free for the answer."""
        return max(64, min(self._reply_max_tokens, model.context_length // 4))

    def window_budget(self, model: ModelInfo, system_prompt: str, summary_tokens: int) -> int:
        """Tokens the model has room for beside the system prompt, summary and answer."""
        margin = 32 + model.context_length // 50  # estimates are estimates
        fixed = self.calibration.estimate(model.id, system_prompt) + summary_tokens
        return max(0, model.context_length - self.reply_budget(model) - fixed - margin)

    def budget_of(self, chat: ChatSettings) -> int:
        """The chat's verbatim history budget: its own (/memory budget), capped, or the bot's."""
        if chat.history_budget is None:
            return self.history_budget
        return max(MIN_BUDGET, min(chat.history_budget, self.history_budget_max))

    def recalls(self, chat: ChatSettings) -> bool:
        """Whether this chat uses long-term recall (the operator's and the chat's choice)."""
        return self.recall.enabled and chat.recall

    async def unsummarized(
        self, conversation: Conversation, budget: int, *, before_id: int | None = None
    ) -> list[StoredMessage]:
        """The messages after the summary, oldest first (bounded, should summaries keep failing)."""
        return await self._store.newest(
            conversation, max(4 * budget, budget + 4 * self.SUMMARY_AFTER), before_id=before_id
        )

    async def build(
        self,
        conversation: Conversation,
        model: ModelInfo,
        system_prompt: str,
        question: str,
        question_tokens: int,
        *,
        budget: int,
        recall: bool,
        before_id: int | None = None,
    ) -> Context:
        """Return system prompt, summary, the verbatim turns, recalled chunks and the new question.

        ``before_id``: leave out that stored message and later ones (regenerating an answer).
        """
        room = self.window_budget(model, system_prompt, conversation.summary_tokens)
        if question_tokens > room:
            raise InvalidInput(
                f"Your message is about {question_tokens:,} tokens, more than {model.id} can "
                f"take here (about {max(0, room):,}). Shorten it, or pick a model with a "
                "larger context with /model."
            )
        messages = await self.unsummarized(conversation, budget, before_id=before_id)
        window = messages[window_start(messages, budget, self.FOLD_TO) :]
        recollection = Recollection()
        if recall:
            try:
                recollection = await self.recall.search(
                    conversation,
                    question,
                    messages_before=window[0].id if window else before_id or 1 << 62,
                    before=before_id,
                )
            except BotError as exc:  # the answer does without it
                log.warning("Recall failed for conversation %s: %s", conversation.id, exc)
        if question_tokens + recollection.tokens > room:
            recollection = Recollection(spent=recollection.spent)
        # A small model: the oldest verbatim turns give way, the newest exchange last of all.
        left = room - question_tokens - recollection.tokens
        used = sum(m.token_count for m in window)
        while window and used > left:
            used -= window[0].token_count
            window = window[1:]
            while window and window[0].role == "assistant":  # start on a whole turn
                used -= window[0].token_count
                window = window[1:]
        sent: list[ChatMessage] = []
        if system_prompt:
            sent.append({"role": "system", "content": system_prompt})
        if conversation.summary:
            sent.append({"role": "system", "content": SUMMARY_HEADER + conversation.summary})
        sent.extend(stored.chat_message for stored in window)
        if sent and supports_cache_control(model):
            # Models that cache only up to a marked breakpoint: the stable part (system prompt,
            # summary) and the end of the prefix that the next turn repeats. Venice adds its own.
            stable = len(sent) - len(window) - 1
            for index in {max(0, stable), len(sent) - 1}:
                sent[index] = mark_cache_breakpoint(sent[index])
        block = recollection.message()
        if block is not None:
            sent.append(block)
        sent.append({"role": "user", "content": question})
        estimated = (
            self.calibration.estimate(model.id, system_prompt)
            + conversation.summary_tokens
            + used
            + recollection.tokens
            + question_tokens
        )
        return Context(tuple(sent), estimated, tuple(window), recollection)

    async def upkeep(
        self, conversation: Conversation, chat_model: ModelInfo, *, budget: int, recall: bool
    ) -> Upkeep:
        """After a turn: embed what left the window, and rewrite the summary once enough has.

        Never raises for Venice: what failed is logged and tried again after a later turn
        (nothing is marked done that was not), and what was spent is returned to be charged.
        """
        # All of them: should embedding or summarizing have failed for long, none is skipped.
        messages = await self._store.newest(conversation, 1 << 62)
        fallen = messages[: window_start(messages, budget, self.FOLD_TO)]
        if not fallen:
            return Upkeep()
        embedded = Embedded()
        if recall:
            try:
                last = await self.recall.last_embedded(conversation)
                embedded = await self.recall.remember(conversation, [m for m in fallen if m.id > last])
            except RecallPaused:
                return Upkeep()  # after a failure a moment ago; not summarized either, as below
            except BotError as exc:
                # Not summarized either: what the summary folds must stay recallable.
                log.warning("Embedding conversation %s failed, will retry later: %s", conversation.id, exc)
                return Upkeep()
        if sum(m.token_count for m in fallen) < self.SUMMARY_AFTER:
            return Upkeep(embedded=embedded)
        model = await self._catalogue.summary_model(chat_model)
        try:
            summary = await self._summarize(conversation, model, fallen)
        except BotError as exc:
            log.warning("Summarizing conversation %s failed, will retry later: %s", conversation.id, exc)
            return Upkeep(embedded=embedded)
        return Upkeep(summary, model, embedded)

    async def _summarize(
        self, conversation: Conversation, model: ModelInfo, fallen: list[StoredMessage]
    ) -> ChatResult:
        """Fold ``fallen`` (or as much as one request takes) into the running summary."""
        limit = max(1, self.window_budget(model, SUMMARY_PROMPT, conversation.summary_tokens))
        limit -= self.SUMMARY_REPLY
        to_fold: list[StoredMessage] = []
        for message in fallen:
            if to_fold and sum(m.token_count for m in to_fold) + message.token_count > limit:
                break
            to_fold.append(message)
        # End on a whole turn, so a question is never separated from its answer.
        while len(to_fold) > 1 and to_fold[-1].role == "user":
            to_fold.pop()
        transcript = "\n\n".join(
            f"User: {m.content}" if m.role == "user" else f"Assistant: {_shortened(m.content)}"
            for m in to_fold
        )
        previous = conversation.summary or "(none yet)"
        request = ChatRequest(
            model=model.id,
            messages=(
                {"role": "system", "content": SUMMARY_PROMPT},
                {"role": "user", "content": f"Summary so far:\n{previous}\n\nNew messages:\n{transcript}"},
            ),
            max_completion_tokens=self.SUMMARY_REPLY,
            venice=VeniceParameters(strip_thinking_response=True, disable_thinking=True),
        )
        result = await self._venice.chat(request)
        summary = result.content.strip()
        if not summary:
            log.warning("Venice returned an empty summary; conversation %s not folded", conversation.id)
            return result  # paid for all the same
        tokens = (
            result.usage.completion_tokens
            if result.usage and result.usage.completion_tokens
            else self.calibration.estimate(model.id, summary)
        )
        await self._store.save_summary(
            conversation,
            summary=summary,
            summary_tokens=tokens,
            upto_id=to_fold[-1].id,
            folded_tokens=sum(m.token_count for m in to_fold),
        )
        log.info("Folded %d messages of conversation %s into its summary", len(to_fold), conversation.id)
        return result


def _shortened(answer: str) -> str:
    """An answer as the summary reads it: its start. The user's own words are what a summary
    must keep; every answer stays recallable in full, and the summary costs less."""
    if len(answer) <= SUMMARY_ANSWER_CHARS:
        return answer
    return answer[:SUMMARY_ANSWER_CHARS].rsplit(" ", 1)[0] + " […]"
