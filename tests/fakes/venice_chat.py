"""Chat completions for the fake Venice server: scripts, the default responder, and response shapes."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Request fields that toggle Venice features; the response echoes all of these (the spec requires them).
_ECHOED_PARAMETERS: dict[str, Any] = {
    "enable_e2ee": False,
    "enable_web_search": "off",
    "enable_web_citations": False,
    "enable_web_scraping": False,
    "include_venice_system_prompt": True,
    "include_search_results_in_stream": False,
    "return_search_results_as_documents": False,
    "strip_thinking_response": False,
    "disable_thinking": False,
}
_WORDS_PER_CHUNK = 3
_ARGUMENT_PIECES = 3  # a call's arguments are streamed in this many fragments


@dataclass
class ChatScript:
    """One scripted answer to a chat request (queued in ``fake.script`` or returned by ``fake.responder``)."""

    content: str = ""
    reasoning: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    # Streaming: close the connection abruptly after this many content chunks, without [DONE].
    # Non-streaming: drop the connection without any response.
    cut_after: int | None = None
    chunk_delay: float = 0.0  # seconds between streamed chunks
    usage: dict[str, Any] | None = None  # computed from the text when None
    cost_usd: float | None = None  # computed from the model's pricing when None
    send_cost: bool = True  # False: leave ``cost`` out of the answer, as some responses do
    # Streaming: the body sent as it is, piece by piece (``chunk_delay`` apart), instead of the
    # scripted answer's events: malformed events, keep-alives, an endless or a huge stream.
    raw: Iterable[bytes] | None = None
    # Functions the model calls after its content: {"name": ..., "arguments": {...} or a raw
    # string (sent as it is, even when it is not JSON), "id": optional}. Streamed as OpenAI does:
    # a first fragment with id, type and name, the arguments in several pieces; finish_reason
    # "tool_calls".
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # Made-up call ids are this plus the call's number: unique per answer, as a provider's are.
    call_id_base: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:16]}_", repr=False)

    def call_list(self) -> list[dict[str, Any]]:
        """The scripted calls as ``tool_calls`` entries (ids made up where none is given)."""
        out = []
        for number, call in enumerate(self.tool_calls):
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            call_id = call.get("id") or f"{self.call_id_base}{number}"
            out.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call["name"], "arguments": arguments},
                }
            )
        return out

    @property
    def finish_reason(self) -> str:
        """ "tool_calls" when the answer calls functions, else "stop"."""
        return "tool_calls" if self.tool_calls else "stop"


def split_model(model: str) -> tuple[str, dict[str, Any]]:
    """Split ``model-id:param=value&param2=value2`` (Venice's model feature suffix) into id and parameters."""
    model_id, _, suffix = model.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, suffix.split("&")):
        key, _, value = pair.partition("=")
        params[key] = {"true": True, "false": False}.get(value, value)
    return model_id, params


def effective_venice_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """Merge the model suffix's parameters with ``venice_parameters`` (the body wins)."""
    _, params = split_model(str(body.get("model", "")))
    given = body.get("venice_parameters")
    if isinstance(given, dict):
        params.update(given)
    return params


def message_text(message: Any) -> str:
    """Return the text of a chat message: its string content, or its text parts joined."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def estimate_tokens(text: str) -> int:
    """Estimate tokens the way the fake bills them: four characters a token."""
    return len(text) // 4


def estimate_prompt_tokens(messages: Any) -> int:
    """Estimate the prompt tokens of a messages array (all message text, four characters a token)."""
    if not isinstance(messages, list):
        return 0
    return estimate_tokens("".join(message_text(m) for m in messages))


def compute_usage(
    messages: Any, script: ChatScript, cached_tokens: int | None = None, cache_write_tokens: int = 0
) -> dict[str, Any]:
    """Return the script's usage, or one estimated from the prompt and the answer.

    ``cached_tokens`` (None: no prompt cache) and ``cache_write_tokens`` are reported in
    ``prompt_tokens_details`` as providers do, parts of ``prompt_tokens``, not on top of it; the
    cache writes only where there are some (models that charge for them).
    """
    if script.usage is not None:
        return script.usage
    prompt = estimate_prompt_tokens(messages)
    reasoning = estimate_tokens(script.reasoning)
    calls = "".join(call["function"]["name"] + call["function"]["arguments"] for call in script.call_list())
    completion = estimate_tokens(script.content + calls) + reasoning
    details: dict[str, int] | None = None if cached_tokens is None else {"cached_tokens": cached_tokens}
    if details is not None and cache_write_tokens:
        details["cache_creation_input_tokens"] = cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": reasoning} if script.reasoning else None,
    }


def compute_cost(
    model: dict[str, Any], usage: dict[str, Any], script: ChatScript, currency: str
) -> dict[str, float]:
    """Price a request from the model's per-1M-token pricing, charged in the consumption currency.

    Cached prompt tokens cost the ``cache_input`` price and cache writes the ``cache_write`` price
    where the model lists them, else the input price. Above ``extended.context_token_threshold``
    prompt tokens the extended prices apply to the entire request, as the spec says.
    """
    if script.cost_usd is not None:
        amount = script.cost_usd
    else:
        pricing = model.get("model_spec", {}).get("pricing", {})
        prompt = usage.get("prompt_tokens", 0)
        extended = pricing.get("extended")
        if isinstance(extended, dict) and prompt > extended.get("context_token_threshold", prompt):
            pricing = extended
        input_usd = pricing.get("input", {}).get("usd", 0.0)
        details = usage.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        cached = details.get("cached_tokens", 0)
        written = details.get("cache_creation_input_tokens", 0)
        amount = (
            (prompt - cached - written) * input_usd
            + cached * pricing.get("cache_input", {}).get("usd", input_usd)
            + written * pricing.get("cache_write", {}).get("usd", input_usd)
            + usage.get("completion_tokens", 0) * pricing.get("output", {}).get("usd", 0.0)
        ) / 1_000_000
    amount = round(amount, 8)
    return {"usd": 0.0, "diem": amount} if currency == "DIEM" else {"usd": amount, "diem": 0.0}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_reply(body: dict[str, Any], model: dict[str, Any] | None = None) -> ChatScript:
    """Answer deterministically: echo the last user message and show what the conversation remembers."""
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    params = effective_venice_parameters(body)
    users = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    systems = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "system"]

    # The core's summarizer sends a system prompt with a line starting "Summarize".
    if any(line.lstrip().startswith("Summarize") for text in systems for line in text.splitlines()):
        gist = "; ".join(" ".join(text.split()[:6]) for text in users if text.strip())
        return ChatScript(content=f"Summary: {gist or 'nothing to summarize'}.")

    last = users[-1] if users else ""
    earlier = len(users) - 1
    if earlier <= 0:
        memory = "This is the first user message of this conversation."
    elif earlier == 1:
        memory = f"This conversation holds 1 earlier user message: “{_clip(users[0], 80)}”."
    else:
        first = _clip(users[0], 80)
        memory = f"This conversation holds {earlier} earlier user messages; the first was “{first}”."
    content = f"(offline fake Venice) You said: “{_clip(last, 200)}”. {memory}"

    citations: list[dict[str, Any]] = []
    if params.get("enable_web_search") in ("on", "auto"):
        query = _clip(last, 60)
        citations = [
            {
                "title": f"Fake search result {n} for “{query}”",
                "url": f"https://example.com/search/{n}",
                "content": f"Offline stand-in text number {n}.",
                "date": f"2025-01-0{n}T00:00:00",
            }
            for n in (1, 2)
        ]
        content += " Two made-up sources agree[REF]0[/REF][REF]1[/REF]."

    reasoning = ""
    capabilities = (model or {}).get("model_spec", {}).get("capabilities", {})
    if (
        capabilities.get("supportsReasoning")
        and not params.get("disable_thinking")
        and not params.get("strip_thinking_response")
    ):
        reasoning = f"The user wrote {len(last)} characters. Echo them and recall the conversation."
    return ChatScript(content=content, reasoning=reasoning, citations=citations)


def response_venice_parameters(
    params: dict[str, Any], model: dict[str, Any], citations: list[dict[str, Any]]
) -> dict[str, Any]:
    """Build the ``venice_parameters`` block a response echoes back."""
    echoed = {key: params.get(key, default) for key, default in _ECHOED_PARAMETERS.items()}
    supports_e2ee = model.get("model_spec", {}).get("capabilities", {}).get("supportsE2EE", False)
    echoed["enable_e2ee"] = bool(params.get("enable_e2ee", True)) and bool(supports_e2ee)
    if params.get("character_slug"):
        echoed["character_slug"] = params["character_slug"]
    echoed["web_search_citations"] = citations
    return echoed


def completion_body(
    *,
    completion_id: str,
    created: int,
    model_id: str,
    script: ChatScript,
    usage: dict[str, Any],
    cost: dict[str, float],
    venice_parameters: dict[str, Any],
) -> dict[str, Any]:
    """Build a non-streaming ``chat.completion`` body."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    # OpenAI's shape: no text beside the calls is null, not "".
                    "content": script.content or (None if script.tool_calls else ""),
                    "reasoning_content": script.reasoning or None,
                    "tool_calls": script.call_list(),
                },
                "finish_reason": script.finish_reason,
                "stop_reason": None,
                "logprobs": None,
            }
        ],
        "usage": usage,
        "cost": cost,
        "prompt_logprobs": None,
        "venice_parameters": venice_parameters,
    }


def split_for_stream(text: str) -> list[str]:
    """Split text into chunks of a few words each; joined, they give back the text exactly."""
    pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    return ["".join(pieces[i : i + _WORDS_PER_CHUNK]) for i in range(0, len(pieces), _WORDS_PER_CHUNK)]


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event of a streamed answer, tagged so the server can cut the stream after content."""

    kind: str  # "start", "reasoning", "content", "tool_call", "finish", "usage" or "done"
    data: bytes


def stream_events(
    *,
    completion_id: str,
    created: int,
    model_id: str,
    script: ChatScript,
    usage: dict[str, Any],
    cost: dict[str, float],
    venice_parameters: dict[str, Any],
    include_usage: bool,
) -> list[StreamEvent]:
    """Build a streamed answer's SSE events: start (with citations), reasoning, content, finish, usage, [DONE]."""
    head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_id}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**head, "choices": [choice], **extra})

    # Venice sends the citations in the first chunk, reasoning before the answer, usage in the last.
    events = [
        StreamEvent("start", chunk({"role": "assistant", "content": ""}, venice_parameters=venice_parameters))
    ]
    events += [
        StreamEvent("reasoning", chunk({"reasoning_content": p})) for p in split_for_stream(script.reasoning)
    ]
    events += [StreamEvent("content", chunk({"content": p})) for p in split_for_stream(script.content)]
    events += [StreamEvent("tool_call", chunk({"tool_calls": [f]})) for f in call_fragments(script)]
    events.append(StreamEvent("finish", chunk({}, script.finish_reason)))
    if include_usage:
        last = {**head, "choices": [], "usage": usage}
        if script.send_cost:
            last["cost"] = cost
        events.append(StreamEvent("usage", _sse(last)))
    events.append(StreamEvent("done", b"data: [DONE]\n\n"))
    return events


def call_fragments(script: ChatScript) -> list[dict[str, Any]]:
    """The scripted calls as streamed ``tool_calls`` fragments: per call, the first with its
    index, id, type and name (arguments ""), then the arguments cut in ``_ARGUMENT_PIECES``."""
    fragments: list[dict[str, Any]] = []
    for index, call in enumerate(script.call_list()):
        function = call["function"]
        fragments.append(
            {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": ""},
            }
        )
        arguments = function["arguments"]
        size = max(1, -(-len(arguments) // _ARGUMENT_PIECES))
        fragments += [
            {"index": index, "function": {"arguments": arguments[i : i + size]}}
            for i in range(0, len(arguments), size)
        ]
    return fragments


def offered_tools(body: dict[str, Any]) -> list[str]:
    """The names of the functions a chat request offers the model."""
    tools = body.get("tools")
    names = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            names.append(str(function.get("name")))
    return names


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tool`` messages of a chat request (the results of calls the model made), in order."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


def call_then_answer(
    name: str, arguments: dict[str, Any] | str, answer: str = "The tool said: {result}"
) -> Callable[[dict[str, Any]], ChatScript]:
    """A responder that calls ``name`` first, then answers with what it returned.

    Once the request carries a ``tool`` message (a result) after the last user message, the
    answer is ``answer`` with ``{result}`` replaced by that result's content; until then (and
    only if ``name`` is offered) it asks for the call.
    """

    def respond(body: dict[str, Any]) -> ChatScript:
        messages = body.get("messages")
        messages = messages if isinstance(messages, list) else []
        last_user = max(
            (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=-1
        )
        results = [m for m in messages[last_user + 1 :] if isinstance(m, dict) and m.get("role") == "tool"]
        if results:
            return ChatScript(content=answer.format(result=message_text(results[-1])))
        if name not in offered_tools(body):
            return ChatScript(content=f"(no {name} tool was offered)")
        return ChatScript(tool_calls=[{"name": name, "arguments": arguments}])

    return respond


def conversation_errors(body: dict[str, Any]) -> list[str]:
    """What a provider refuses in a conversation with function calls: a ``tool`` message that
    answers no call of the assistant message before it, or a call left unanswered."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    errors: list[str] = []
    open_calls: set[str] = set()
    for position, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                errors.append(f"messages[{position}]: a tool message answers no open call ({call_id!r})")
            open_calls.discard(call_id)
            continue
        if open_calls:
            errors.append(f"messages[{position}]: calls left unanswered: {sorted(open_calls)}")
            open_calls = set()
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and call.get("id"):
                    open_calls.add(call["id"])
    if open_calls:
        errors.append(f"calls left unanswered at the end: {sorted(open_calls)}")
    return errors


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def content_events(pieces: Iterable[str], *, done: bool = True) -> Iterator[bytes]:
    """Raw SSE bytes of a minimal streamed answer: one chunk per piece, then (optionally) [DONE]."""
    for piece in pieces:
        yield _sse(
            {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
        )
    if done:
        yield _sse(
            {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        yield b"data: [DONE]\n\n"


KEEP_ALIVE = b": keep-alive\n\n"  # an SSE comment, as proxies send to keep a connection open


def huge_answer(total: int = 5_000_000, piece: int = 5_000) -> Iterator[bytes]:
    """Raw SSE bytes of a 5 MB answer in 5,000-character chunks, generated as they are sent."""
    return content_events("word " * (piece // 5) for _ in range(total // piece))
