"""Venice's answer stream relayed to the user's reply stream: text as it comes, sources, usage."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass

from core.events import ReplyStream
from core.text import CitationRewriter
from core.venice.client import VeniceClient
from core.venice.errors import StreamInterrupted, StreamTooSlow, StreamUnreadable
from core.venice.tool_calls import ToolCallAssembler
from core.venice.types import AssembledCall, ChatRequest, Citation, Usage

log = logging.getLogger(__name__)

# A proxy may ignore max_tokens, so the answer is also cut where its text passes the budget at
# ~4 characters a token, with half again to spare: a whole answer within the budget (code, whose
# indentation makes long tokens) is never cut, and a runaway one stops within a few messages.
CHARS_PER_TOKEN = 6


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
    capped: bool = False  # cut at the answer budget (``interrupted`` too)
    notice: str = ""  # why it ended early, when that is not a plain broken connection
    tool_calls: tuple[AssembledCall, ...] = ()  # functions the model called (a request with tools)

    @property
    def produced(self) -> bool:
        """Whether Venice generated anything (and so bills for it)."""
        return bool(self.answer.strip() or self.reasoning.strip())


async def relay(venice: VeniceClient, request: ChatRequest, stream: ReplyStream) -> Streamed:
    """Relay Venice's stream to the reply stream; return what arrived.

    A stop (``stream.stop()``, which cancels this task while it relays) ends it like a
    broken connection: what arrived is kept. Once it returns, the answer can no longer be
    stopped: saving and settling it must not be cut short.
    """
    task = asyncio.current_task()
    stream.stoppable(task.cancel if task is not None else None)  # a stop asked earlier: now
    rewriter = CitationRewriter()
    calls = ToolCallAssembler()
    parts: list[str] = []
    thought: list[str] = []  # reasoning: never shown, but Venice bills it
    citations: tuple[Citation, ...] = ()
    usage: Usage | None = None
    cost: float | None = None
    budget = request.max_completion_tokens
    room = budget * CHARS_PER_TOKEN if budget else None  # characters left before the cap

    def ended(
        *, interrupted: bool, stopped: bool = False, capped: bool = False, notice: str = ""
    ) -> Streamed:
        tail = rewriter.flush()
        parts.append(tail)
        stream.push(tail)
        return Streamed(
            "".join(parts),
            citations,
            # Cut short, the user pays for what was sent: Venice's figures for the whole are set aside.
            dataclasses.replace(usage, completion_tokens=0, total_tokens=0) if capped and usage else usage,
            None if capped else cost,
            interrupted,
            stopped=stopped,
            reasoning="".join(thought),
            capped=capped,
            notice=notice,
            tool_calls=tuple(calls.calls()),
        )

    try:
        async with contextlib.aclosing(venice.chat_stream(request)) as deltas:
            async for delta in deltas:
                if delta.citations:
                    citations = delta.citations
                if delta.usage:
                    usage = delta.usage
                if delta.cost_usd is not None:
                    cost = delta.cost_usd
                calls.feed(delta)
                reasoning, content = delta.reasoning, delta.content
                over = bool(budget and usage and usage.completion_tokens > budget)
                if room is not None:
                    reasoning, content = reasoning[:room], content[: max(0, room - len(reasoning))]
                    room -= len(reasoning) + len(content)
                    over = over or len(reasoning) + len(content) < len(delta.reasoning) + len(delta.content)
                thought.append(reasoning)
                if content:
                    shown = rewriter.feed(content)
                    parts.append(shown)
                    stream.push(shown)
                if over:  # stop reading: closing the stream drops the rest of it
                    log.warning("Answer cut at the budget of %s tokens", budget)
                    return ended(
                        interrupted=True,
                        capped=True,
                        notice=f"This answer was cut short: it reached the length limit (about {budget} tokens).",
                    )
    except StreamInterrupted as exc:
        notice = ""
        if isinstance(exc, (StreamTooSlow, StreamUnreadable)):
            said = exc.user_message.split(" (Venice request id")[0]  # the id is in the log
            notice = f"{said} This answer is incomplete; send your message again for a full one."
        result = ended(interrupted=True, notice=notice)
        if not result.answer.strip():
            raise  # no answer arrived: an ordinary failure, nothing to keep
        log.warning(
            "Answer stream interrupted after %d chars (%s, cf-ray %s)",
            len(result.answer),
            exc.api_message,
            exc.cf_ray,
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
