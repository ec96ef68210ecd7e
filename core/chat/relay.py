"""Venice's answer stream relayed to the user's reply stream: text as it comes, sources, usage."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from core.events import ReplyStream
from core.text import CitationRewriter
from core.venice.client import VeniceClient
from core.venice.errors import StreamInterrupted
from core.venice.types import ChatRequest, Citation, Usage

log = logging.getLogger(__name__)


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


async def relay(venice: VeniceClient, request: ChatRequest, stream: ReplyStream) -> Streamed:
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
        async for delta in venice.chat_stream(request):
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
        log.warning("Answer stream interrupted after %d chars (cf-ray %s)", len(result.answer), exc.cf_ray)
        return result
    except asyncio.CancelledError:
        if not stream.stop_requested or task is None or task.cancelling() != 1:
            raise  # shutting down
        task.uncancel()  # the user's stop: the answer ends here, kept as it is
        return ended(interrupted=True, stopped=True)
    finally:
        stream.stoppable(None)
    return ended(interrupted=False)
