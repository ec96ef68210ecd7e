"""The console adapter: driven through its input and output, in-process and as a real process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.console import ConsoleAdapter
from tests.conftest import TEST_KEY
from tests.fakes.venice import ChatScript, FakeVenice

ROOT = Path(__file__).resolve().parents[2]


def scripted_io(
    lines: list[str],
) -> tuple[Callable[[], Awaitable[str | None]], Callable[[str], None], list[str]]:
    pending = list(lines)
    out: list[str] = []

    async def read_line() -> str | None:
        return pending.pop(0) if pending else None

    return read_line, out.append, out


async def test_console_streams_answers_runs_commands_and_explains_errors(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="Hello from Venice, streamed in pieces.", chunk_delay=0.02))
    read_line, write, out = scripted_io(["Hello", "/model", "/bogus", "x" * 100_000, "/quit", "never read"])
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, user_id="tester").run()
    text = "".join(out)
    assert "Hello from Venice, streamed in pieces." in text
    streamed = [chunk for chunk in out if chunk and chunk in "Hello from Venice, streamed in pieces."]
    assert len(streamed) > 1  # written piece by piece, as it arrived
    assert "Current model: venice-uncensored" in text
    assert "! Unknown command /bogus" in text
    assert "the limit is 16,000" in text
    assert "Traceback" not in text
    assert len(venice.calls_to("/chat/completions")) == 1


async def test_console_conversation_continues_after_a_restart(make_service: Any, venice: FakeVenice) -> None:
    for lines in (["My cat is called Miso"], ["What is my cat called?"]):
        read_line, write, _out = scripted_io(lines)
        async with make_service() as service:
            await ConsoleAdapter(service, read_line=read_line, write=write, user_id="tester").run()
    second = venice.calls_to("/chat/completions")[1].body["messages"]
    assert [m["content"] for m in second if m["role"] == "user"] == [
        "My cat is called Miso",
        "What is my cat called?",
    ]


async def test_console_shows_sources_and_notices(make_service: Any, venice: FakeVenice) -> None:
    venice.script.append(
        ChatScript(
            content="It is sunny[REF]0[/REF].",
            citations=[{"title": "Weather", "url": "https://weather.example"}],
        )
    )
    read_line, write, out = scripted_io(["/model llama-3.3-70b", "/websearch on", "Weather?"])
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, user_id="tester").run()
    text = "".join(out)
    assert "It is sunny[1]." in text
    assert "Sources:\n[1] Weather — https://weather.example" in text


async def run_cli(
    args: list[str],
    env: dict[str, str],
    stdin: bytes = b"",
    cwd: Path = ROOT,
    program: Sequence[str] = (sys.executable, "-m", "bots"),
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *program,
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def cli_env(tmp_path: Path, venice: FakeVenice | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VENICE_", "DATABASE_", "ADMIN_", "LOG_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    if venice is not None:
        env["VENICE_API_KEY"] = TEST_KEY
        env["VENICE_BASE_URL"] = venice.base_url
    env.update(extra)
    return env


async def test_the_real_chat_command_over_a_pipe_with_invalid_utf8(
    tmp_path: Path, venice: FakeVenice
) -> None:
    code, out, err = await run_cli(
        ["chat"],
        cli_env(tmp_path, venice, LOG_LEVEL="DEBUG"),
        stdin=b"Hello there\ncaf\xe9 \x1b bytes\n/quit\n",
        cwd=tmp_path,
    )
    assert code == 0, err
    assert "You said: “Hello there”" in out
    assert "You said: “caf\ufffd bytes”" in out
    assert "Traceback" not in out + err
    assert TEST_KEY not in out + err
    code, out, err = await run_cli(["chat"], cli_env(tmp_path, venice), stdin=b"And now?\n", cwd=tmp_path)
    assert "2 earlier user messages" in out  # the same database, the same conversation


async def test_missing_key_stops_with_exit_code_2_and_one_line(tmp_path: Path) -> None:
    code, _out, err = await run_cli(["chat"], cli_env(tmp_path), cwd=tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "VENICE_API_KEY is not set" in err and "https://venice.ai/settings/api" in err


async def test_invalid_values_name_the_field(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        VENICE_API_KEY=TEST_KEY,
        LOG_LEVEL="chatty",
        DATABASE_URL="postgres://x",
        ADMIN_USER_IDS="telegram:1,slack:2",
    )
    code, _, err = await run_cli(["doctor"], env, cwd=tmp_path)
    assert code == 2
    assert "Invalid setting LOG_LEVEL" in err
    assert "Invalid setting DATABASE_URL: must look like sqlite:///" in err
    assert "Invalid setting ADMIN_USER_IDS: 'slack:2' is not platform:id" in err
    assert TEST_KEY not in err


async def test_migrate_then_again_is_a_no_op(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VENICE_API_KEY=TEST_KEY)
    code, out, _ = await run_cli(["migrate"], env, cwd=tmp_path)
    assert code == 0 and "0001_initial" in out
    code, out, _ = await run_cli(["migrate"], env, cwd=tmp_path)
    assert code == 0 and "nothing to do" in out


async def test_doctor_checks_key_balance_and_database_without_secrets(
    tmp_path: Path, venice: FakeVenice
) -> None:
    code, out, err = await run_cli(["doctor"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 0, out + err
    from core.storage.migrations import discover

    latest = len(discover())
    assert "Venice API key works" in out and f"Database: schema {latest}/{latest}" in out and "USD" in out
    assert TEST_KEY not in out + err
    venice.api_key = "another-key"
    code, out, err = await run_cli(["doctor"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 1
    assert "rejected the bot's API key" in out
    assert TEST_KEY not in out + err


def test_files_in_a_reply_are_saved_and_their_paths_shown(tmp_path: Path) -> None:
    from core.events import Attachment, Notice, Reply

    out: list[str] = []

    async def no_input() -> str | None:
        return None

    adapter = ConsoleAdapter(
        None,
        read_line=no_input,
        write=out.append,  # type: ignore[arg-type]
        media_dir=tmp_path / "media",
    )
    png = b"\x89PNG\r\n\x1a\n fake"
    reply = Reply(
        "Here you go",
        attachments=(
            Attachment("image", "image/png", png, "../../etc/cat picture.png"),
            Attachment("image", "image/png", png, "../../etc/cat picture.png"),
        ),
        notices=(Notice("Blurred by safe mode", "warning"),),
    )
    adapter._render(reply, streamed=False)
    text = "".join(out)
    saved = sorted((tmp_path / "media").iterdir())
    assert [p.name for p in saved] == ["cat_picture-2.png", "cat_picture.png"]
    assert all(p.read_bytes() == png for p in saved)
    assert f"[image saved to {tmp_path / 'media' / 'cat_picture.png'}]" in text
    assert "(!) Blurred by safe mode" in text


async def test_run_without_platform_tokens_starts_the_console_and_says_so(
    tmp_path: Path, venice: FakeVenice
) -> None:
    code, out, err = await run_cli(["run"], cli_env(tmp_path, venice), stdin=b"Hello\n", cwd=tmp_path)
    assert code == 0, err
    assert "console chat starts" in err and "TELEGRAM_BOT_TOKEN" in err and "DISCORD_BOT_TOKEN" in err
    assert "You said: “Hello”" in out
    assert (tmp_path / ".venice-bots.heartbeat").exists()
    code, out, _ = await run_cli(["health"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 0 and "healthy" in out


async def test_admin_command_line_grant_balance_ledger_check(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VENICE_API_KEY=TEST_KEY, USER_ALLOWANCE_USD="0.25")
    code, out, _ = await run_cli(["admin", "grant", "telegram:77", "2.50"], env, cwd=tmp_path)
    assert code == 0 and "telegram:77 now has $2.50" in out
    code, out, _ = await run_cli(["admin", "balance", "telegram:77"], env, cwd=tmp_path)
    assert code == 0 and "telegram:77: $2.50" in out  # above the allowance: no top-up
    code, out, _ = await run_cli(["admin", "ledger", "telegram:77"], env, cwd=tmp_path)
    assert code == 0 and "grant" in out and "$2.50" in out
    code, out, _ = await run_cli(["admin", "check"], env, cwd=tmp_path)
    assert code == 0 and "all balances match" in out
    code, _, err = await run_cli(["admin", "grant", "slack:1", "5"], env, cwd=tmp_path)
    assert code == 1 and "platform:id" in err and "Traceback" not in err
    code, _, err = await run_cli(["admin", "grant", "telegram:77", "many"], env, cwd=tmp_path)
    assert code == 1 and "not an amount in USD" in err


async def test_admin_commands_are_refused_to_a_console_guest(tmp_path: Path, venice: FakeVenice) -> None:
    env = cli_env(tmp_path, venice)
    commands = b"/grant telegram:1 5\n/setallowance telegram:1 2\n/ledger telegram:1\n/status\n/pool on\n"
    code, out, err = await run_cli(["chat", "--guest", "visitor"], env, stdin=commands, cwd=tmp_path)
    assert code == 0, err
    for name in ("grant", "setallowance", "ledger", "status"):
        assert f"Only the bot's admins can use /{name}." in out
    assert "direct chat has one user" in out  # /pool is for groups
    code, out, _ = await run_cli(["chat"], env, stdin=b"/grant telegram:1 5\n", cwd=tmp_path)
    assert "Granted $5.00 to telegram:1" in out  # the operator is an admin


async def test_console_saves_media_and_prints_where(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    read_line, write, out = scripted_io(
        ["/imagine a lighthouse --variants 2", "/speak Good night.", "/video waves at dusk"]
    )
    async with make_service(video_poll_seconds=1) as service:
        adapter = ConsoleAdapter(service, read_line=read_line, write=write, user_id="tester", media_dir=media)
        await adapter.run()
        confirm = next(
            line.split("type ")[1].strip() for line in "".join(out).splitlines() if "/videoconfirm" in line
        )
        await adapter.handle_line(confirm)
    text = "".join(out)
    assert "🎨 a lighthouse" in text  # a media reply's text is printed although nothing streamed
    assert sorted(p.name for p in media.iterdir()) == [
        "venice-1.png",
        "venice-2.png",
        "venice-video.mp4",
        "voice.ogg",
    ]
    assert f"[image saved to {media / 'venice-1.png'}]" in text
    assert "Rendering the video" in text  # progress while Venice renders
    assert (media / "voice.ogg").read_bytes()[:4] == b"OggS"


async def test_console_shows_who_speaks_when_a_character_is_bound(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="The self is a verb."))
    read_line, write, out = scripted_io(
        ["/character set alan-watts", "What is the self?", "/character clear", "Hi"]
    )
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, user_id="tester").run()
    text = "".join(out)
    assert "Alan Watts> *Alan Watts is here.*" in text
    assert "Alan Watts> The self is a verb." in text
    assert "\nyou> venice> " in text.split("has left")[1]  # the plain bot again


async def test_console_export_saves_the_json_and_forget_asks_then_deletes(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    read_line, write, out = scripted_io(
        ["console-marker here", "/export", "/forget", "/forget confirm", "/export"]
    )
    async with make_service() as service:
        await ConsoleAdapter(
            service, read_line=read_line, write=write, user_id="tester", media_dir=media
        ).run()
    text = "".join(out)
    assert "type /forget confirm" in text and "messages deleted" in text
    before, after = media / "venice-bots-export.json", media / "venice-bots-export-2.json"
    assert "console-marker here" in before.read_text() and "console-marker" not in after.read_text()
