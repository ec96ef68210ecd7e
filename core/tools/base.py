"""What a tool is, for a model that calls functions: its spec, a call, its result, and what a tool
may use while it runs.

Built-in tools (``core/tools/builtin.py``) and MCP servers' tools (``adapters/mcp/``) both are
``Tool``s; the turn offers them to a model that supports function calling, runs the calls the
model makes, and hands each result back to the model. A tool never raises to the user: a failure
is a ``ToolResult`` with ``is_error`` that the model reads and answers around.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import BotError
from core.events import Attachment, Charge, Choice, IncomingMessage, ReplyStream
from core.ports.records import ChatSettings, Conversation

log = logging.getLogger(__name__)

# What Venice (as OpenAI) accepts as a function's name.
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Most of a tool's text result the model is given; the rest is cut, with a note.
RESULT_CHARS = 12_000


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model is told of it: a name, what it does, and its JSON-schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def as_json(self) -> dict[str, Any]:
        """The ``tools`` entry of a chat request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: its id (to answer it by), the tool's name, and the arguments
    (``arguments`` is None when the model sent JSON that does not parse; ``raw`` keeps it)."""

    id: str
    name: str
    arguments: Mapping[str, Any] | None
    raw: str = ""


@dataclass(frozen=True)
class ToolResult:
    """What a call gave: text for the model, and files and charges for the user.

    ``attachments`` go out with the turn's answer (a picture, a voice note); ``charges`` are the
    amounts the tool took through the cashier, refunded if the answer cannot be delivered.
    """

    content: str
    is_error: bool = False
    attachments: tuple[Attachment, ...] = ()
    charges: tuple[Charge, ...] = ()
    choices: tuple[Choice, ...] = ()  # buttons under the answer (a quote's "Make it")

    @classmethod
    def error(cls, text: str) -> ToolResult:
        """A failure, told to the model in words (never a traceback)."""
        return cls(content=f"Error: {text}", is_error=True)

    def for_model(self) -> str:
        """The result as the model reads it, cut to ``RESULT_CHARS``."""
        if len(self.content) <= RESULT_CHARS:
            return self.content
        return (
            self.content[:RESULT_CHARS] + f"\n[… cut: {len(self.content) - RESULT_CHARS:,} more characters]"
        )


@dataclass
class ToolContext:
    """What a tool may use while it runs: who asked, where, the chat's settings, the reply stream
    (for a status line), whether the asker is one of the bot's admins, and the conversation.

    ``wants_voice``: a tool (``speak``) asked for this turn's answer as a voice note too.
    """

    message: IncomingMessage
    chat: ChatSettings
    stream: ReplyStream
    is_admin: bool
    conversation: Conversation | None = None
    wants_voice: bool = False


class Tool(Protocol):
    """A function the model may call during a turn."""

    @property
    def spec(self) -> ToolSpec:
        """Its name, description and parameters."""
        ...

    @property
    def admins_only(self) -> bool:
        """Whether only the bot's admins are offered it."""
        ...

    def status(self, call: ToolCall) -> str:
        """The line the user sees while it runs ("🔎 searching: venice ai")."""
        ...

    async def price(self, call: ToolCall, context: ToolContext) -> int:
        """The most it will cost, in micro-USD (0: free), for the turn's cost ceiling."""
        ...

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Do it; charge through the cashier if it costs; never raise for a failure the model
        should hear of (return ``ToolResult.error``)."""
        ...


class ToolSource(Protocol):
    """Tools from one place (the built-ins, an MCP server), as they are offered right now."""

    def tools(self) -> list[Tool]:
        """The tools this source offers now (an MCP server that is down offers none)."""
        ...


def failed(call: ToolCall, exc: BaseException) -> ToolResult:
    """A tool's failure as the model reads it: a BotError's own words, else a plain line (the
    traceback goes to the log)."""
    if isinstance(exc, BotError):
        return ToolResult.error(exc.user_message)
    log.error("Tool %s failed", call.name, exc_info=exc)
    return ToolResult.error(f"{call.name} failed unexpectedly; tell the user it did not work.")
