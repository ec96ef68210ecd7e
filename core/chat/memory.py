"""Conversation memory: the context window sent to Venice, and the running summary."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.errors import InvalidInput
from core.ports.records import Conversation, StoredMessage
from core.ports.storage import ConversationStore
from core.text import estimate_tokens
from core.venice.client import VeniceClient
from core.venice.types import ChatMessage, ChatRequest, ChatResult, ModelInfo, VeniceParameters

log = logging.getLogger(__name__)

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
    """The messages to send, their estimated tokens, and the stored turns among them."""

    messages: tuple[ChatMessage, ...]
    estimated_tokens: int
    window: tuple[StoredMessage, ...]


class Memory:
    """Assemble context windows and fold old turns into a summary."""

    FOLD_AT = 0.75  # fold once unsummarized turns fill this share of the window budget…
    FOLD_TO = 0.5  # …down to this share, so folding happens now and then, not every turn

    def __init__(
        self,
        store: ConversationStore,
        venice: VeniceClient,
        *,
        reply_max_tokens: int,
        calibration: TokenCalibration | None = None,
    ) -> None:
        self._store = store
        self._venice = venice
        self._reply_max_tokens = reply_max_tokens
        self.calibration = calibration or TokenCalibration()

    def reply_budget(self, model: ModelInfo) -> int:
        """Tokens kept free for the answer."""
        return max(64, min(self._reply_max_tokens, model.context_length // 4))

    def window_budget(self, model: ModelInfo, system_prompt: str, summary_tokens: int) -> int:
        """Tokens available to stored turns plus the new message."""
        margin = 32 + model.context_length // 50  # estimates are estimates
        fixed = self.calibration.estimate(model.id, system_prompt) + summary_tokens
        return max(0, model.context_length - self.reply_budget(model) - fixed - margin)

    async def build(
        self,
        conversation: Conversation,
        model: ModelInfo,
        system_prompt: str,
        question: str,
        question_tokens: int,
        *,
        before_id: int | None = None,
    ) -> Context:
        """Return system prompt, summary, the newest turns that fit, and the new question.

        ``before_id``: leave out that stored message and later ones (regenerating an answer).
        """
        budget = self.window_budget(model, system_prompt, conversation.summary_tokens)
        if question_tokens > budget:
            raise InvalidInput(
                f"Your message is about {question_tokens:,} tokens, more than {model.id} can "
                f"take here (about {max(0, budget):,}). Shorten it, or pick a model with a "
                "larger context with /model."
            )
        window = await self._store.newest(conversation, budget - question_tokens, before_id=before_id)
        messages: list[ChatMessage] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        if conversation.summary:
            messages.append(
                {
                    "role": "system",
                    "content": "Summary of the earlier part of this conversation:\n" + conversation.summary,
                }
            )
        messages.extend(stored.chat_message for stored in window)
        messages.append({"role": "user", "content": question})
        window_tokens = sum(m.token_count for m in window)
        estimated = (
            self.calibration.estimate(model.id, system_prompt)
            + conversation.summary_tokens
            + window_tokens
            + question_tokens
        )
        return Context(tuple(messages), estimated, tuple(window))

    def needs_fold(self, conversation: Conversation, model: ModelInfo, system_prompt: str) -> bool:
        """Whether unsummarized turns have grown past the fold threshold."""
        budget = self.window_budget(model, system_prompt, conversation.summary_tokens)
        return conversation.unsummarized_tokens > budget * self.FOLD_AT

    async def fold(
        self, conversation: Conversation, model: ModelInfo, system_prompt: str
    ) -> ChatResult | None:
        """Summarize the oldest unsummarized turns (one Venice call); return that call's result.

        None when nothing needed folding. On a Venice error nothing is changed and the error
        propagates: the turns stay unsummarized and are folded on a later turn.
        """
        if not self.needs_fold(conversation, model, system_prompt):
            return None
        budget = self.window_budget(model, system_prompt, conversation.summary_tokens)
        excess = conversation.unsummarized_tokens - int(budget * self.FOLD_TO)
        # One summary call must itself fit the model: cap what is folded at once.
        limit = max(1, min(excess, budget - self.reply_budget(model)))
        to_fold = await self._store.oldest_unsummarized(conversation, limit)
        # End on a whole turn, so a question is never separated from its answer.
        while to_fold and to_fold[-1].role == "user":
            to_fold.pop()
        if not to_fold:
            return None
        transcript = "\n\n".join(
            f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in to_fold
        )
        previous = conversation.summary or "(none yet)"
        request = ChatRequest(
            model=model.id,
            messages=(
                {"role": "system", "content": SUMMARY_PROMPT},
                {
                    "role": "user",
                    "content": f"Summary so far:\n{previous}\n\nNew messages:\n{transcript}",
                },
            ),
            max_completion_tokens=400,
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
