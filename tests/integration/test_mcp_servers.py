"""MCP servers: a real stdio server (a child process) and a streamable-HTTP one, through McpServers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.mcp.servers import McpServers
from core.events import ReplyStream
from core.ports.records import ChatSettings
from core.settings import Settings
from core.tools.base import TOOL_NAME, Tool, ToolCall, ToolContext, ToolResult
from tests.e2e.test_doctor import run_doctor
from tests.fakes.local_server import LocalServer
from tests.fakes.mcp_server import PNG, build, http_app
from tests.helpers import message

ROOT = Path(__file__).resolve().parents[2]
FAKE = {"command": sys.executable, "args": ["-m", "tests.fakes.mcp_server"], "cwd": str(ROOT)}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], str]:
    def write(servers: dict[str, Any]) -> str:
        path = tmp_path / "mcp.json"
        path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
        return str(path)

    return write


@asynccontextmanager
async def opened(settings: Settings, **timeouts: float) -> AsyncIterator[McpServers]:
    # Short waits: the tests' servers answer at once, and the slow tool must time out.
    waits = {"connect_seconds": 20.0, "call_seconds": 1.0, "retry_seconds": 60.0, "wait_seconds": 30.0}
    waits.update(timeouts)
    async with McpServers.open(settings, **waits) as servers:
        yield servers


def offered(servers: McpServers) -> dict[str, Tool]:
    return {tool.spec.name: tool for source in servers.sources() for tool in source.tools()}


def context(*, admin: bool = False) -> ToolContext:
    return ToolContext(
        message=message("use a tool"), chat=ChatSettings(), stream=ReplyStream(), is_admin=admin
    )


async def call(tool: Tool, arguments: dict[str, Any] | None, *, admin: bool = False) -> ToolResult:
    return await tool.run(
        ToolCall(id="call-1", name=tool.spec.name, arguments=arguments), context(admin=admin)
    )


def children() -> set[int]:
    """This process's live child processes (zombies count: they were not reaped)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                found.add(int(entry.name))
    return found


async def test_a_stdio_server_offers_its_tools_namespaced_and_calls_return_text(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    settings = make_settings(mcp_config=write_config({"fake tools": FAKE}))
    async with opened(settings) as servers:
        tools = offered(servers)
        assert "fake_tools__add" in tools and "fake_tools__echo" in tools
        assert all(TOOL_NAME.fullmatch(name) for name in tools)
        add = tools["fake_tools__add"]
        assert add.spec.description == "Add two integers."
        assert set(add.spec.parameters["properties"]) == {"a", "b"}
        assert add.status(ToolCall("c", add.spec.name, {})) == "🔧 fake tools: add…"
        assert await add.price(ToolCall("c", add.spec.name, {}), context()) == 0
        result = await call(add, {"a": 2, "b": 40})
        assert (result.content, result.is_error) == ("42", False)
        assert (await call(tools["fake_tools__echo"], {"text": "héllo"})).content == "héllo"
        picture = await call(tools["fake_tools__picture"], {})
        assert [(a.kind, a.mime_type, a.data) for a in picture.attachments] == [("image", "image/png", PNG)]


async def test_only_allow_listed_tools_are_offered_and_admins_only_is_marked(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    config = {
        "open": {**FAKE, "tools": ["add", "echo", "no_such_tool"]},
        "locked": {**FAKE, "tools": ["secret_admin_tool"], "access": "admins"},
        "off": {**FAKE, "disabled": True},
    }
    async with opened(make_settings(mcp_config=write_config(config))) as servers:
        tools = offered(servers)
        assert sorted(tools) == ["locked__secret_admin_tool", "open__add", "open__echo"]
        assert not tools["open__add"].admins_only
        secret = tools["locked__secret_admin_tool"]
        assert secret.admins_only
        assert (await call(secret, {}, admin=True)).content == "the admins' secret"
        refused = await call(secret, {}, admin=False)
        assert refused.is_error and "admins only" in refused.content
        health = {s.config.name: s.health for s in servers.servers}
        assert health["open"].missing == ("no_such_tool",)
        assert health["off"].state == "disabled"
        assert len(servers.sources()) == 2


async def test_a_failing_tool_a_timeout_and_bad_arguments_become_error_results(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    async with opened(make_settings(mcp_config=write_config({"fake": FAKE}))) as servers:
        tools = offered(servers)
        failed = await call(tools["fake__fail"], {})
        assert failed.is_error and failed.content.startswith("Error: ")
        slow = await call(tools["fake__slow"], {"seconds": 30})
        assert slow.is_error and "did not answer within 1 s" in slow.content
        unparsed = await call(tools["fake__add"], None)
        assert unparsed.is_error and "not valid JSON" in unparsed.content
        # The server still answers after all that.
        assert (await call(tools["fake__add"], {"a": 1, "b": 1})).content == "2"


async def test_a_server_that_dies_mid_call_is_an_error_and_comes_back(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    async with opened(make_settings(mcp_config=write_config({"fake": FAKE}))) as servers:
        crashed = await call(offered(servers)["fake__crash"], {})
        assert crashed.is_error and "disconnected" in crashed.content
        server = servers.servers[0]
        # It is reconnected at once (then every retry_seconds): its tools come back.
        for _ in range(400):
            if server.health.state == "connected":
                break
            await asyncio.sleep(0.05)
        assert "fake__add" in offered(servers)


async def test_env_values_reach_the_server_and_never_the_log(
    make_settings: Callable[..., Settings],
    write_config: Callable[[dict[str, Any]], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FAKE_MCP_TOKEN", "tok-7d1e9a55c2")
    config = {"fake": {**FAKE, "env": {"TOKEN_FOR_SERVER": "${FAKE_MCP_TOKEN}"}}}
    caplog.set_level(logging.DEBUG)
    async with opened(make_settings(mcp_config=write_config(config))) as servers:
        result = await call(offered(servers)["fake__env_value"], {"name": "TOKEN_FOR_SERVER"})
        assert result.content == "tok-7d1e9a55c2"
    assert "tok-7d1e9a55c2" not in caplog.text


async def test_a_server_whose_command_does_not_exist_is_skipped_with_a_log_line(
    make_settings: Callable[..., Settings],
    write_config: Callable[[dict[str, Any]], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {"missing": {"command": "no-such-mcp-server-7f3a"}, "fake": {**FAKE, "tools": ["add"]}}
    with caplog.at_level(logging.WARNING, logger="adapters.mcp"):
        async with opened(make_settings(mcp_config=write_config(config))) as servers:
            assert list(offered(servers)) == ["fake__add"]
            health = {s.config.name: s.health for s in servers.servers}
            assert health["missing"].state == "failed"
            assert "no-such-mcp-server-7f3a: no such program" in health["missing"].reason
    assert "MCP server missing (command no-such-mcp-server-7f3a) is not available" in caplog.text


async def test_a_server_that_exits_at_start_is_reported_with_its_last_words(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    quitter = {"command": sys.executable, "args": ["-c", "import sys; sys.exit('no config for me')"]}
    async with opened(make_settings(mcp_config=write_config({"quitter": quitter}))) as servers:
        health = servers.servers[0].health
        assert health.state == "failed"
        assert "closed the connection while starting" in health.reason
        assert "no config for me" in health.reason
        assert offered(servers) == {}


async def test_a_server_that_does_not_answer_is_skipped_after_the_deadline(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    mute = {"command": sys.executable, "args": ["-c", "import time; time.sleep(60)"]}
    before = children()
    async with opened(make_settings(mcp_config=write_config({"mute": mute})), connect_seconds=0.5) as servers:
        health = servers.servers[0].health
        assert (health.state, health.reason) == ("failed", "no answer within 0.5 s")
    assert children() - before == set()


async def test_closing_leaves_no_child_process(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    before = children()
    config = {"one": FAKE, "two": FAKE}
    async with opened(make_settings(mcp_config=write_config(config))) as servers:
        assert len(children() - before) == 2
        assert len(offered(servers)) == 16
    assert children() - before == set()


async def test_no_mcp_config_means_no_servers(make_settings: Callable[..., Settings]) -> None:
    async with opened(make_settings()) as servers:
        assert servers.sources() == []


async def test_a_streamable_http_server_offers_its_tools_with_headers(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    seen: list[str] = []
    fake = build()
    app = http_app(fake)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.append(headers.get(b"authorization", b"").decode())
        await app(scope, receive, send)

    server = LocalServer(recording)
    async with fake.session_manager.run():
        await server.start()
        try:
            config = {
                "web": {
                    "url": f"http://127.0.0.1:{server.port}/mcp",
                    "headers": {"Authorization": "Bearer hdr-secret-1234"},
                    "tools": ["add"],
                }
            }
            async with opened(make_settings(mcp_config=write_config(config))) as servers:
                tools = offered(servers)
                assert list(tools) == ["web__add"]
                assert (await call(tools["web__add"], {"a": 20, "b": 22})).content == "42"
                assert "http://127.0.0.1" in servers.servers[0].config.where
        finally:
            await server.stop()
    assert seen and all(value == "Bearer hdr-secret-1234" for value in seen)


async def test_doctor_lists_each_server_and_a_down_one_is_only_a_warning(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    config = {
        "fake": {**FAKE, "tools": ["add", "echo"], "access": "admins"},
        "missing": {"command": "no-such-mcp-server-7f3a", "env": {"KEY": "env-secret-5521"}},
        "old": {**FAKE, "disabled": True},
    }
    code, lines = await run_doctor(make_settings(mcp_config=write_config(config)))
    mcp = [line for line in lines if "MCP server" in line]
    assert mcp == [
        f"[ ok ] MCP server fake (command {Path(sys.executable).name}): connected, 2 tool(s) offered, "
        "for admins only: fake__add, fake__echo",
        "[warn] MCP server missing (command no-such-mcp-server-7f3a): failed: cannot start "
        "no-such-mcp-server-7f3a: no such program (is it installed, and on PATH?). The bot starts "
        "without it and retries.",
        f"[info] MCP server old (command {Path(sys.executable).name}): disabled",
    ]
    assert code == 0, lines
    assert not any("env-secret-5521" in line for line in lines)


async def test_doctor_fails_on_a_config_file_that_cannot_be_used(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"a": {"command": "x", "timeout": 5}}}', encoding="utf-8")
    code, lines = await run_doctor(make_settings(mcp_config=str(path)))
    assert f'[FAIL] MCP_CONFIG file {path}: server "a": unknown key "timeout"' in "\n".join(lines)
    assert code == 1


async def test_the_start_does_not_wait_for_a_slow_server_whose_tools_come_later(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    late = {
        **FAKE,
        "args": [
            "-c",
            "import time, runpy; time.sleep(1); runpy.run_module('tests.fakes.mcp_server', run_name='__main__')",
        ],
    }
    async with opened(make_settings(mcp_config=write_config({"late": late})), wait_seconds=0.05) as servers:
        assert servers.servers[0].health.state == "connecting"
        assert offered(servers) == {}
        for _ in range(400):
            if offered(servers):
                break
            await asyncio.sleep(0.05)
        assert "late__add" in offered(servers)


async def test_an_http_server_that_refuses_is_reported_without_its_key(
    make_settings: Callable[..., Settings], write_config: Callable[[dict[str, Any]], str]
) -> None:
    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"no"})

    server = LocalServer(refuse)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/mcp?key=query-secret-8812"
        config = {"web": {"url": url, "headers": {"Authorization": "Bearer hdr-secret-9931"}}}
        async with opened(make_settings(mcp_config=write_config(config))) as servers:
            health = servers.servers[0].health
            assert health.state == "failed"
            shown = f"{servers.servers[0].config.where} {health.reason}"
    finally:
        await server.stop()
    assert "401" in health.reason, health.reason
    assert "query-secret-8812" not in shown and "hdr-secret-9931" not in shown
