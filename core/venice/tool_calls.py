"""Function calls in a chat answer: the streamed fragments put back together, and the messages
that carry calls and their results back to the model."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AssembledCall",
    "ToolCallAssembler",
    "ToolCallDelta",
    "assemble",
    "assistant_message",
    "plain_json",
    "tool_message",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolCallDelta:
    """One fragment of a function call in a streamed answer (OpenAI's stream format).

    ``index`` tells the calls of one answer apart (None when the provider leaves it out); ``id``,
    ``type`` and ``name`` usually come only with a call's first fragment; ``arguments`` is a piece
    of the arguments' JSON text, cut anywhere. ``ToolCallAssembler`` puts the pieces together.
    """

    index: int | None = None
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: str | None = None

    @classmethod
    def parse_list(cls, data: Any, *, whole: bool = False) -> tuple[ToolCallDelta, ...]:
        """Parse ``tool_calls`` of a streamed delta, or of a whole message (``whole``: each item
        is a call of its own, whatever its index); raises ``TypeError`` for a wrong shape."""
        if data is None:
            return ()
        if not isinstance(data, list):
            raise TypeError("tool_calls is not a list")
        out = []
        for position, item in enumerate(data):
            if item is None:
                continue  # the spec allows null items
            if not isinstance(item, dict):
                raise TypeError("a tool call is not an object")
            function = item.get("function") or {}
            if not isinstance(function, dict):
                raise TypeError("a tool call's function is not an object")
            index = position if whole else item.get("index")
            arguments = function.get("arguments")
            if isinstance(arguments, (dict, list)):
                arguments = json.dumps(
                    arguments, ensure_ascii=False, separators=(",", ":")
                )  # a provider that sends the object itself
            elif arguments is not None and not isinstance(arguments, str):
                raise TypeError("a tool call's arguments are not a string")
            name = function.get("name")
            call_id = item.get("id")
            out.append(
                cls(
                    index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                    id=str(call_id) if call_id else None,
                    name=str(name) if name else None,
                    arguments=arguments or "",
                    type=str(item["type"]) if item.get("type") else None,
                )
            )
        return tuple(out)


@dataclass(frozen=True)
class AssembledCall:
    """One whole function call the model made: its id, the function's name, and the arguments
    as the JSON text the model wrote (kept raw: it may not parse)."""

    id: str
    name: str
    arguments_json: str

    def arguments(self) -> dict[str, Any] | None:
        """The arguments as an object; None when the text is not a JSON object ("" counts as {})."""
        if not self.arguments_json.strip():
            return {}
        try:
            value = json.loads(self.arguments_json)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def as_json(self) -> dict[str, Any]:
        """The call as an assistant message's ``tool_calls`` entry, to send back with the results."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json or "{}"},
        }


@dataclass
class _Pending:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    made_up_id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")


class _Fragments(Protocol):
    """What carries function-call fragments: a streamed ``ChatDelta``."""

    @property
    def tool_calls(self) -> tuple[ToolCallDelta, ...]: ...


class ToolCallAssembler:
    """Collect the function-call fragments of one answer, in the order they arrive, into calls.

    Calls are told apart by ``index`` (and by a new id at an index already used); a fragment
    without an index continues the last call, unless it brings an id not seen yet (a new call). The id and name usually come only with a call's first
    fragment; a call that never gets an id is given one (the same on every ``calls()``). Content
    text before, between or after the calls does not matter: only ``tool_calls`` are read.
    """

    def __init__(self) -> None:
        self._calls: list[_Pending] = []
        self._by_index: dict[int, _Pending] = {}

    def feed(self, delta: _Fragments) -> None:
        """Take the function-call fragments of one streamed delta."""
        for fragment in delta.tool_calls:
            self.add(fragment)

    def add(self, fragment: ToolCallDelta) -> None:
        """Take one function-call fragment."""
        call = self._call_for(fragment)
        if fragment.id and call.id is None:
            call.id = fragment.id
        # OpenAI sends the name once; a provider that repeats it on every fragment must not
        # make it "web_searchweb_search".
        if fragment.name and not call.name:
            call.name = fragment.name
        if fragment.arguments:
            call.arguments.append(fragment.arguments)

    def _call_for(self, fragment: ToolCallDelta) -> _Pending:
        if fragment.index is not None:
            call = self._by_index.get(fragment.index)
            # Some providers number every call 0: a new id at a used index is a new call.
            if call is None or (fragment.id and call.id and fragment.id != call.id):
                call = self._by_index[fragment.index] = self._new()
            return call
        if fragment.id:
            for call in self._calls:
                if call.id == fragment.id:
                    return call
            if not self._calls or self._calls[-1].id is not None:
                return self._new()
        return self._calls[-1] if self._calls else self._new()

    def _new(self) -> _Pending:
        call = _Pending()
        self._calls.append(call)
        return call

    def calls(self) -> list[AssembledCall]:
        """The calls so far, in the order they began; a fragment that never named its function
        is left out (there is nothing to call), and logged."""
        out = []
        for call in self._calls:
            arguments = "".join(call.arguments)
            if not call.name:
                log.warning("A function call without a name was dropped (%d characters)", len(arguments))
                continue
            out.append(AssembledCall(id=call.id or call.made_up_id, name=call.name, arguments_json=arguments))
        return out


def assemble(fragments: Iterable[ToolCallDelta]) -> list[AssembledCall]:
    """The calls of a list of fragments (a whole message's ``tool_calls``, or a stream's)."""
    assembler = ToolCallAssembler()
    for fragment in fragments:
        assembler.add(fragment)
    return assembler.calls()


def plain_json(value: Any) -> Any:
    """A mapping (or sequence) of any kind as plain dicts and lists, which JSON encodes."""
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    return value


def assistant_message(content: str, calls: Iterable[AssembledCall]) -> dict[str, Any]:
    """The assistant's turn that asked for ``calls``, as it goes back into the conversation."""
    message: dict[str, Any] = {"role": "assistant", "tool_calls": [call.as_json() for call in calls]}
    # The spec takes a string or null; an empty answer is sent as null, as OpenAI's clients do.
    message["content"] = content or None
    return message


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    """A function's result as the model reads it, answering the call with ``call_id``."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}
