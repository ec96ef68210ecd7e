"""One MCP server's tool as a ``Tool``: its namespaced spec, and a call's result for the model."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types

from core.events import Attachment, AttachmentKind
from core.tools.base import TOOL_NAME, ToolCall, ToolContext, ToolResult, ToolSpec

# Most of a server's description the model is given (the rest is cut): a description is sent
# with every request that offers the tool.
DESCRIPTION_CHARS = 1_000
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

Caller = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]


def tool_name(namespace: str, name: str) -> str | None:
    """``{namespace}__{name}``, or None when that is not a name the model may call (too long,
    or the server's name has characters outside A-Z, a-z, 0-9, _ and -)."""
    full = f"{namespace}__{name}"
    return full if TOOL_NAME.fullmatch(full) else None


def why_unnamed(namespace: str, name: str) -> str:
    """Why a tool cannot be offered under its own name, for the log and doctor."""
    full = f"{namespace}__{name}"
    if len(full) > 64:
        return f"{full} is {len(full)} characters, more than 64 (shorten the server's name in MCP_CONFIG)"
    return f"{name} has characters a function name cannot have (only A-Z, a-z, 0-9, _ and -)"


class McpTool:
    """A tool of an MCP server, offered to the model under ``{server}__{tool}``."""

    def __init__(self, server: str, tool: types.Tool, name: str, *, admins_only: bool, call: Caller) -> None:
        self.server = server  # as the operator named it
        self.name = tool.name  # as the server names it
        description = (tool.description or tool.title or tool.name).strip()
        if len(description) > DESCRIPTION_CHARS:
            description = description[: DESCRIPTION_CHARS - 1].rstrip() + "…"
        self._spec = ToolSpec(
            name=name, description=description, parameters=tool.input_schema or EMPTY_SCHEMA
        )
        self._admins_only = admins_only
        self._call = call

    @property
    def spec(self) -> ToolSpec:
        """Its namespaced name, the server's description and its input schema."""
        return self._spec

    @property
    def admins_only(self) -> bool:
        """Whether the server's ``access`` is ``admins``."""
        return self._admins_only

    def status(self, call: ToolCall) -> str:
        """The line shown while it runs."""
        return f"🔧 {self.server}: {self.name}…"

    async def price(self, call: ToolCall, context: ToolContext) -> int:
        """Free: the operator runs the server."""
        return 0

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Call the tool on its server; every failure is an error result, never an exception."""
        if self._admins_only and not context.is_admin:
            return ToolResult.error(f"{call.name} is for the bot's admins only.")
        if call.arguments is None:
            return ToolResult.error("the arguments are not valid JSON; send a JSON object.")
        return await self._call(self.name, dict(call.arguments))


def tool_result(result: types.CallToolResult) -> ToolResult:
    """A server's answer as the model reads it: the text, pictures and sounds as attachments."""
    texts: list[str] = []
    attachments: list[Attachment] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            texts.append(block.text)
        elif isinstance(block, (types.ImageContent, types.AudioContent)):
            kind: AttachmentKind = "image" if isinstance(block, types.ImageContent) else "audio"
            try:
                data = base64.b64decode(block.data, validate=True)
            except (binascii.Error, ValueError):
                texts.append(f"[{kind} data that could not be decoded]")
                continue
            attachments.append(Attachment(kind=kind, mime_type=block.mime_type, data=data))
            texts.append(f"[{kind} ({block.mime_type}) attached to the answer for the user]")
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                texts.append(resource.text)
            else:
                texts.append(f"[a binary resource: {resource.uri}]")
        elif isinstance(block, types.ResourceLink):
            texts.append(f"[resource {block.name}: {block.uri}]")
    if not texts and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(texts).strip()
    if result.is_error:
        return ToolResult.error(text or "the tool failed without saying why.")
    return ToolResult(content=text or "(the tool returned nothing)", attachments=tuple(attachments))
