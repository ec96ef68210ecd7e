"""Which tools a turn offers: none to a model that cannot call functions or in a chat that
turned them off; else the built-ins and every MCP server's, the admins-only ones to admins."""

from __future__ import annotations

import logging

from core.ports.records import ChatSettings
from core.settings import Settings
from core.tools.base import TOOL_NAME, Tool, ToolSource
from core.venice.types import ModelInfo

log = logging.getLogger(__name__)


class ToolRegistry:
    """Every source of tools, and what a turn may offer of them."""

    def __init__(self, settings: Settings, sources: list[ToolSource] | None = None) -> None:
        self._settings = settings
        self._sources: list[ToolSource] = list(sources or ())
        self._warned: set[str] = set()

    def add(self, source: ToolSource) -> None:
        """Offer a source's tools too (an MCP server's)."""
        self._sources.append(source)

    def sources(self) -> list[ToolSource]:
        """Every source, in the order they were added."""
        return list(self._sources)

    def enabled(self, chat: ChatSettings) -> bool:
        """Whether the chat lets the model call tools (``/tools``, else ``TOOLS_DEFAULT``)."""
        return chat.tools if chat.tools is not None else self._settings.tools_default

    def offered(self, model: ModelInfo, chat: ChatSettings, *, is_admin: bool) -> dict[str, Tool]:
        """The tools a turn offers, by name: none to a model without function calling."""
        if not model.supports_function_calling or not self.enabled(chat):
            return {}
        tools: dict[str, Tool] = {}
        for source in self._sources:
            for tool in source.tools():
                name = tool.spec.name
                if tool.admins_only and not is_admin:
                    continue
                if not TOOL_NAME.fullmatch(name) or name in tools:
                    self._warn_once(name, "a name Venice refuses or one taken already")
                    continue
                tools[name] = tool
        return tools

    def _warn_once(self, name: str, why: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("Tool %r is not offered: %s", name, why)
