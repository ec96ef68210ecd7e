"""A turn in which the model may call tools: rounds of answer, calls and results, then the answer.

Each round is one streamed request; its text reaches the user as it comes, and each call is
shown while it runs (the stream's status line: "🔎 searching: …"). After ``rounds`` rounds the
model must answer (``tool_choice: none``). A tool that would take the turn's paid tools past the
cost ceiling is not run: the user is asked with a button (``PendingCalls``), and the model is
told so. A failing tool is reported to the model, never to the user as a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.chat.relay import Streamed, relay
from core.events import Attachment, Charge, Choice, ReplyStream
from core.money import usd
from core.text import clip
from core.tools.base import Tool, ToolCall, ToolContext, ToolResult, failed
from core.tools.pending import PendingCalls
from core.venice.client import VeniceClient
from core.venice.tool_calls import assistant_message, tool_message
from core.venice.types import AssembledCall, ChatRequest, Usage

log = logging.getLogger(__name__)


@dataclass
class Acted:
    """What the tools of a turn did, beside the answer: files and charges to go with it, the
    buttons of calls waiting for the user's yes, and a line for each call that ran."""

    attachments: list[Attachment] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)

    @property
    def spent(self) -> int:
        """What the turn's tools charged so far (micro-USD)."""
        return sum(charge.amount for charge in self.charges)


@dataclass
class ToolTurn:
    """What one turn with tools needs: the tools on offer, the context they run in, the limits."""

    tools: Mapping[str, Tool]
    context: ToolContext
    rounds: int
    ceiling: int  # micro-USD the paid tools of one turn may spend without asking
    pending: PendingCalls


async def act(
    venice: VeniceClient, request: ChatRequest, stream: ReplyStream, turn: ToolTurn, acted: Acted
) -> Streamed:
    """Answer with tools: every round's text relayed, every call run (into ``acted``, which the
    caller keeps, to refund what the tools charged if the turn fails); the rounds merged."""
    messages = list(request.messages)
    specs = tuple(tool.spec.as_json() for tool in turn.tools.values())
    results: list[Streamed] = []
    for number in range(turn.rounds + 1):
        last = number == turn.rounds
        if results and results[-1].answer.strip():
            stream.push("\n\n")  # the next round's words start a paragraph of their own
        asked = dataclasses.replace(
            request, messages=tuple(messages), tools=specs, tool_choice="none" if last else "auto"
        )
        result = await relay(venice, asked, stream)
        results.append(result)
        if not result.tool_calls or result.interrupted or last:
            break
        messages.append(assistant_message(result.answer, result.tool_calls))
        for call in result.tool_calls:
            outcome = await _run(call, turn, acted)
            messages.append(tool_message(call.id, outcome.for_model()))
        stream.set_status("")
    return _merged(results)


async def _run(assembled: AssembledCall, turn: ToolTurn, acted: Acted) -> ToolResult:
    """Run one call within the ceiling; whatever happens, a result for the model."""
    call = _parsed(assembled)
    tool = turn.tools.get(call.name)
    if tool is None:
        return ToolResult.error(f"There is no tool called {call.name!r}. Use only the tools you were given.")
    if call.arguments is None:
        return ToolResult.error(f"The arguments of {call.name} were not valid JSON: {call.raw[:200]!r}.")
    context = turn.context
    try:
        price = await tool.price(call, context)
        if price and acted.spent + price > turn.ceiling:
            return await _ask_first(call, tool, price, turn, acted)
        status = tool.status(call)
        context.stream.set_status(status)
        acted.shown.append(status)
        result = await tool.run(call, context)
    except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's to hear of, not the user's traceback
        return failed(call, exc)
    acted.attachments.extend(result.attachments)
    acted.charges.extend(result.charges)
    acted.choices.extend(result.choices)
    return result


async def _ask_first(call: ToolCall, tool: Tool, price: int, turn: ToolTurn, acted: Acted) -> ToolResult:
    """Keep a call that would pass the ceiling, and put the user's buttons under the answer."""
    pending = await turn.pending.keep(turn.context.message, call)
    what = tool.status(call)
    acted.choices.append(Choice(f"✅ {clip(what, 40)} ({usd(price)})", f"/toolconfirm {pending}"))
    acted.choices.append(Choice("✖ No, thanks", f"/toolcancel {pending}"))
    acted.shown.append(f"⏸ waiting for your yes: {what}")
    return ToolResult.error(
        f"Not done yet: this costs {usd(price)}, which would take this message's tools past the "
        f"{usd(turn.ceiling)} limit. The user has been asked to confirm with a button under your "
        "answer; tell them so in a few words and do not call it again."
    )


def _parsed(call: AssembledCall) -> ToolCall:
    raw = call.arguments_json.strip() or "{}"
    try:
        arguments: Any = json.loads(raw)
    except ValueError:
        arguments = None
    return ToolCall(call.id, call.name, arguments if isinstance(arguments, dict) else None, raw)


def _merged(results: list[Streamed]) -> Streamed:
    """The rounds as one answer: all the text, the tokens and cost of every request, and how the
    last one ended."""
    last = results[-1]
    if len(results) == 1:
        return last
    texts = [r.answer for r in results if r.answer.strip()]
    costs = [r.cost_usd for r in results]
    return dataclasses.replace(
        last,
        answer="\n\n".join(texts),
        citations=next((r.citations for r in reversed(results) if r.citations), ()),
        usage=_summed([r.usage for r in results]),
        cost_usd=sum(c for c in costs if c is not None) if all(c is not None for c in costs) else None,
        reasoning="".join(r.reasoning for r in results),
        tool_calls=(),
    )


def _summed(usages: list[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    if not known:
        return None
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in known),
        completion_tokens=sum(u.completion_tokens for u in known),
        total_tokens=sum(u.total_tokens for u in known),
        cached_tokens=sum(u.cached_tokens for u in known),
        cache_write_tokens=sum(u.cache_write_tokens for u in known),
    )
