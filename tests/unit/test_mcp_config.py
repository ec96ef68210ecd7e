"""The MCP_CONFIG file: what it may say, and a clear error naming the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.mcp.config import load_config, namespace_of
from adapters.mcp.tools import tool_name, why_unnamed
from core.errors import ConfigurationError


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def problem(tmp_path: Path, document: Any, environ: dict[str, str] | None = None) -> str:
    path = write(tmp_path, document)
    with pytest.raises(ConfigurationError) as raised:
        load_config(path, environ or {})
    assert str(path) in raised.value.user_message
    return raised.value.user_message


def test_the_mcp_servers_shape_is_read_with_our_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "files": {"command": "npx", "args": ["-y", "server", "${ROOT}"], "env": {"KEY": "${KEY}"}},
                "web.search": {
                    "type": "http",
                    "url": "https://mcp.example.org/mcp?key=${KEY}",
                    "headers": {"Authorization": "Bearer ${KEY}"},
                    "tools": ["search"],
                    "access": "admins",
                },
                "old": {"command": "old-server", "disabled": True},
            }
        },
    )
    files, web, old = load_config(path, {"ROOT": "/srv", "KEY": "k-123456"})
    assert (files.transport, files.args, dict(files.env)) == (
        "stdio",
        ("-y", "server", "/srv"),
        {"KEY": "k-123456"},
    )
    assert (files.tools, files.admins_only, files.disabled) == (None, False, False)
    assert (web.transport, web.namespace, web.tools, web.admins_only) == (
        "http",
        "web_search",
        {"search"},
        True,
    )
    assert web.headers == {"Authorization": "Bearer k-123456"}
    # What the log may show: no query, no credentials, no header.
    assert web.where == "https://mcp.example.org/mcp"
    assert "k-123456" not in repr(web) and "k-123456" not in repr(files)
    assert old.disabled


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (
            "{not json",
            "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        ([], 'must be a JSON object like {"mcpServers"'),
        ({"servers": {}}, 'unknown key "servers"'),
        ({"mcpServers": []}, '"mcpServers" must be an object'),
        ({"mcpServers": {"a": {"command": "x", "autoApprove": []}}}, 'server "a": unknown key "autoApprove"'),
        ({"mcpServers": {"a": {}}}, 'server "a" needs either "command"'),
        ({"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}, "not both"),
        ({"mcpServers": {"a": {"url": "ftp://h/mcp"}}}, '"url" must start with http:// or https://'),
        ({"mcpServers": {"a": {"url": "http://h/sse", "type": "sse"}}}, "SSE is not supported"),
        (
            {"mcpServers": {"a": {"command": "x", "access": "owners"}}},
            '"access" must be "everyone" or "admins"',
        ),
        ({"mcpServers": {"a": {"command": "x", "tools": "add"}}}, '"tools" must be a list of tool names'),
        ({"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}, '"disabled" must be true or false'),
        (
            {"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}},
            '"env" must be an object of string values',
        ),
        ({"mcpServers": {"a": {"url": "http://h/mcp", "env": {}}}}, 'are for a "command"'),
        ({"mcpServers": {"a.b": {"command": "x"}, "a_b": {"command": "y"}}}, 'servers "a.b" and "a_b" both'),
        ({"mcpServers": {"…": {"command": "x"}}}, "needs a letter or a digit"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, document: Any, said: str) -> None:
    assert said in problem(tmp_path, document)


def test_a_missing_variable_is_named_and_no_value_is_shown(tmp_path: Path) -> None:
    said = problem(
        tmp_path,
        {"mcpServers": {"gh": {"command": "x", "env": {"TOKEN": "${GH_TOKEN}", "OTHER": "${SET}"}}}},
        {"SET": "value-never-shown"},
    )
    assert '"env" TOKEN: ${GH_TOKEN} is not set in the environment' in said
    assert "value-never-shown" not in said


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(tmp_path / "nowhere.json", {})


def test_tool_names_keep_the_servers_own_name_or_are_skipped() -> None:
    assert namespace_of("My Server!") == "My_Server"
    assert namespace_of("a__b") == "a_b"  # so "{server}__{tool}" splits one way only
    assert tool_name("files", "read_file") == "files__read_file"
    assert tool_name("files", "read.file") is None
    assert "characters a function name cannot have" in why_unnamed("files", "read.file")
    assert tool_name("s" * 40, "t" * 30) is None
    assert "more than 64" in why_unnamed("s" * 40, "t" * 30)
