"""The console adapter: driven through its input and output, in-process and as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.console import ConsoleAdapter
from tests.conftest import TEST_KEY
from tests.fakes import media_samples
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import message

ROOT = Path(__file__).resolve().parents[2]
NOON = 1_767_268_800.0  # 2026-01-01 12:00 UTC


def stamp(when: float) -> str:
    """How the console names a file saved at this time (local time, to the second)."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(when))


async def no_input(prompt: str) -> str | None:
    return None


def scripted_io(
    lines: list[str],
) -> tuple[Callable[[str], Awaitable[str | None]], Callable[[str], None], list[str]]:
    pending = list(lines)
    out: list[str] = []

    async def read_line(prompt: str) -> str | None:
        out.append(prompt)
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
        DATABASE_URL="mysql://x",
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
    from adapters.storage.sqlite.migrations import discover

    latest = len(discover())
    assert "no database at" in out  # doctor creates none: the bot, or migrate, does
    assert (await run_cli(["migrate"], cli_env(tmp_path, venice), cwd=tmp_path))[0] == 0
    code, out, err = await run_cli(["doctor"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 0, out + err
    assert "Venice API key works" in out and f"schema {latest} of {latest}" in out and "USD" in out
    assert TEST_KEY not in out + err
    venice.api_key = "another-key"
    code, out, err = await run_cli(["doctor"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 1
    assert "401, the API key was rejected. Check VENICE_API_KEY" in out
    assert TEST_KEY not in out + err


def test_files_in_a_reply_are_saved_under_new_sorted_names_and_their_paths_shown(tmp_path: Path) -> None:
    from core.events import Attachment, Notice, Reply

    out: list[str] = []
    now = [NOON]
    adapter = ConsoleAdapter(
        None,  # type: ignore[arg-type]  # rendering needs no core
        read_line=no_input,
        write=out.append,
        media_dir=tmp_path / "media",
        clock=lambda: now[0],
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
    now[0] += 60
    adapter._render(
        Reply(attachments=(Attachment("image", "image/png", png, "venice-1.png"),)), streamed=False
    )
    text = "".join(out)
    saved = sorted((tmp_path / "media").iterdir())
    first, later = stamp(NOON), stamp(NOON + 60)
    assert [p.name for p in saved] == [
        f"{first}-cat_picture.png",
        f"{first}.2-cat_picture.png",  # the same second: never over the first, still in order
        f"{later}-venice-1.png",
    ]
    assert all(p.read_bytes() == png for p in saved)
    assert f"[image saved to {tmp_path / 'media' / f'{first}-cat_picture.png'}]" in text
    assert "(!) Blurred by safe mode" in text


async def test_run_without_platform_tokens_starts_the_console_and_says_so(
    tmp_path: Path, venice: FakeVenice
) -> None:
    code, out, err = await run_cli(["run"], cli_env(tmp_path, venice), stdin=b"Hello\n", cwd=tmp_path)
    assert code == 0, err
    assert "console chat starts" in err and "TELEGRAM_BOT_TOKEN" in err and "DISCORD_BOT_TOKEN" in err
    assert "You said: “Hello”" in out
    assert not (tmp_path / ".venice-bots.heartbeat").exists()  # the bot has stopped: tests/e2e/test_health.py


async def test_admin_command_line_grant_balance_ledger_check(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VENICE_API_KEY=TEST_KEY, USER_ALLOWANCE_USD="0.25")
    code, _, err = await run_cli(["admin", "check"], env, cwd=tmp_path)
    assert code == 1 and "There is no database at" in err  # a mistyped DATABASE_URL creates nothing
    assert not (tmp_path / "cli.db").exists()
    code, _, err = await run_cli(["migrate"], env, cwd=tmp_path)
    assert code == 0, err
    code, _, err = await run_cli(["admin", "grant", "telegram:77", "2.50"], env, cwd=tmp_path)
    assert code == 1 and "No such user: telegram:77" in err and "--create" in err
    code, out, _ = await run_cli(["admin", "grant", "--create", "telegram:77", "2.50"], env, cwd=tmp_path)
    assert code == 0 and "telegram:77 now has $2.50" in out
    code, out, _ = await run_cli(["admin", "balance", "telegram:77"], env, cwd=tmp_path)
    assert code == 0 and "telegram:77: $2.50" in out  # above the allowance: no top-up
    code, out, _ = await run_cli(["admin", "ledger", "telegram:77"], env, cwd=tmp_path)
    assert code == 0 and "grant" in out and "$2.50" in out
    code, out, _ = await run_cli(["admin", "check"], env, cwd=tmp_path)
    assert code == 0 and "all balances match" in out
    code, _, err = await run_cli(["admin", "grant", "slack:1", "5"], env, cwd=tmp_path)
    assert code == 1 and "platform:id" in err and "Traceback" not in err
    code, _, err = await run_cli(["admin", "grant", "telegram:abc", "5"], env, cwd=tmp_path)
    assert code == 1 and "Telegram ids are numbers, like telegram:123456789" in err
    code, _, err = await run_cli(["admin", "grant", "telegram:77", "many"], env, cwd=tmp_path)
    assert code == 1 and "not an amount in USD" in err


async def test_admin_commands_are_refused_to_a_console_guest(tmp_path: Path, venice: FakeVenice) -> None:
    env = cli_env(tmp_path, venice)
    commands = (
        b"/grant telegram:1 5\n/setallowance telegram:1 2\n/ledger telegram:1\n/status\n/pool on\n/whoami\n"
    )
    code, out, err = await run_cli(["chat", "--guest", "visitor"], env, stdin=commands, cwd=tmp_path)
    assert code == 0, err
    for name in ("grant", "setallowance", "ledger", "status"):
        assert f"Only the bot's admins can use /{name}." in out
    assert "Only the bot's admins can turn the shared balance on or off." in out
    assert "Your id: console:guest:visitor" in out and "Bot admin: no" in out
    code, out, _ = await run_cli(
        ["chat"], env, stdin=b"/grant telegram:1 5\n/grant console:guest:visitor 5\n", cwd=tmp_path
    )
    assert "No such user: telegram:1" in out  # the operator is an admin; telegram:1 never wrote
    assert "Granted $5.00 to console:guest:visitor" in out  # seen: /whoami above


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
    assert sorted(p.name.split("-", 2)[2] for p in media.iterdir()) == [
        "venice-1.png",
        "venice-2.png",
        "venice-video.mp4",
        "voice.ogg",
    ]
    first = next(media.glob("*-venice-1.png"))
    assert f"[image saved to {first}]" in text
    assert "Rendering the video" in text  # progress while Venice renders
    assert next(media.glob("*-voice.ogg")).read_bytes()[:4] == b"OggS"


async def test_a_second_run_never_numbers_its_files_after_the_first(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    for when in (NOON, NOON + 30):
        read_line, write, _out = scripted_io(["/imagine a lighthouse --variants 2"])
        async with make_service() as service:
            adapter = ConsoleAdapter(
                service, read_line=read_line, write=write, media_dir=media, clock=lambda when=when: when
            )
            await adapter.run()
            await service.wait_idle()
    assert sorted(p.name for p in media.iterdir()) == [
        f"{stamp(NOON)}-venice-1.png",
        f"{stamp(NOON)}-venice-2.png",
        f"{stamp(NOON + 30)}-venice-1.png",
        f"{stamp(NOON + 30)}-venice-2.png",
    ]


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
    assert "type /forget confirm" in text and "Done: deleted " in text
    before, after = sorted(media.iterdir())  # the same second: the second sorts after the first
    assert before.name.endswith("-venice-bots-export.json") and after.name.endswith(
        "-venice-bots-export.json"
    )
    assert "console-marker here" in before.read_text() and "console-marker" not in after.read_text()


async def test_a_guest_has_a_conversation_of_their_own_and_no_admin_rights(
    tmp_path: Path, venice: FakeVenice
) -> None:
    env = cli_env(tmp_path, venice)
    code, _, err = await run_cli(["chat"], env, stdin=b"My locker code is 4711\n", cwd=tmp_path)
    assert code == 0, err
    guest_lines = b"What is my locker code?\n/model llama-3.3-70b\n/model\n/websearch on\n"
    code, out, err = await run_cli(["chat", "--guest", "alice"], env, stdin=guest_lines, cwd=tmp_path)
    assert code == 0, err
    asked = venice.calls_to("/chat/completions")[1].body["messages"]
    assert "4711" not in str(asked)  # the operator's conversation is not the guest's
    assert asked[-1]["content"].endswith("What is my locker code?")
    assert "Only admins of this chat can change the model." in out
    assert "Current model: venice-uncensored" in out  # looking is fine
    assert "Only admins of this chat can change web search." in out
    code, out, _ = await run_cli(["chat"], env, stdin=b"And my code?\n", cwd=tmp_path)
    again = venice.calls_to("/chat/completions")[2].body["messages"]
    assert "4711" in str(again) and "locker code?" not in str(again)  # the operator's own, continued
    code, _, err = await run_cli(["chat", "--guest", "no spaces"], env, cwd=tmp_path)
    assert code == 1 and "cannot be a guest's name" in err


async def test_image_and_card_commands_take_a_file_path(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    picture = tmp_path / "my photo.png"
    picture.write_bytes(media_samples.png(512, 512))
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"spec": "chara_card_v2", "data": {"name": "Ada", "description": "A poet."}}))
    media = tmp_path / "media"
    read_line, write, out = scripted_io(
        [
            f"/edit '{picture}' make it blue",
            f"/upscale {str(picture).replace(' ', chr(92) + ' ')} 2",
            f"/persona import {card}",
            "/help",
        ]
    )
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, media_dir=media).run()
        await service.wait_idle()
    text = "".join(out)
    edit = venice.calls_to("/image/edit")[0]
    assert edit.files["image"].data == picture.read_bytes() and edit.body["prompt"] == "make it blue"
    assert venice.calls_to("/image/upscale")[0].files["image"].data == picture.read_bytes()
    assert "Imported Ada." in text
    assert sorted(p.name.split("-", 2)[2] for p in media.iterdir()) == ["edited.png", "upscaled-2x.png"]
    assert "/edit <image path> <prompt>" in text and "/upscale <image path> [2|4]" in text
    assert "/persona import <card path>" in text


async def test_a_bad_file_path_is_explained_and_costs_nothing(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * (5 * 1024 * 1024) + b"}")
    lines = [
        f"/edit {tmp_path / 'missing.png'} make it blue",
        "/upscale",
        f"/upscale {tmp_path}",
        f"/persona import {big}",
        f"/edit '{tmp_path}/x.png make it blue",
        f"/edit {big}",
        f"/edit {big} make it blue",
    ]
    read_line, write, out = scripted_io(lines)
    async with make_service() as service:
        await ConsoleAdapter(service, read_line=read_line, write=write, guest="bob").run()
        account = await service.account_of(
            message("", platform="console", chat_id="guest:bob", user_id="guest:bob", is_direct=False)
        )
        entries = await service.store.ledger.entries(account)
    text = "".join(out)
    assert f"! There is no file {tmp_path / 'missing.png'}.\nUsage: /edit <image path> <prompt>" in text
    assert "! Give the image's path.\nUsage: /upscale <image path> [2|4]" in text
    assert f"! {tmp_path} is a folder; give the path of the image file." in text
    assert "! big.json is 5 MB; /persona import takes files up to 4 MB." in text
    assert "! The bot cannot read that image. Send a PNG, JPEG or WebP picture." in text
    assert "has an opening quote but no closing one" in text
    assert (
        "! /edit needs a prompt (the change to make). Example: /edit image.png make the sky purple\n"
        "Usage: /edit <image path> <prompt>"
    ) in text
    assert "Traceback" not in text
    assert [e.kind for e in entries if e.kind != "allowance"] == []  # nothing reserved, nothing charged
    assert venice.calls_to("/image/edit") == [] and venice.calls_to("/image/upscale") == []


async def test_ctrl_c_during_a_picture_gives_the_prompt_back_and_the_picture_still_comes(
    make_service: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    read_line, write, out = scripted_io(["/imagine a lighthouse"])
    adapter: ConsoleAdapter

    def write_and_press_ctrl_c(text: str) -> None:
        write(text)
        if text == "venice> ":  # the picture is being made: Ctrl-C, and again
            adapter.interrupt()
            adapter.interrupt()

    async with make_service() as service:
        adapter = ConsoleAdapter(service, read_line=read_line, write=write_and_press_ctrl_c, media_dir=media)
        await adapter.run()
    text = "".join(out)
    assert "(i) That goes on; its result shows here when it is ready." in text
    assert "Waiting for what is still being made" in text  # Ctrl-D came before the picture
    assert [p.name.split("-", 2)[2] for p in media.iterdir()] == ["venice-1.png"]  # paid for, and kept
    assert text.index("[image saved to") < text.index("Bye.")


async def test_ctrl_c_before_the_answer_begins_charges_nothing(make_service: Any, venice: FakeVenice) -> None:
    read_line, write, out = scripted_io(["Tell me a story", "/balance"])
    adapter: ConsoleAdapter

    def write_and_press_ctrl_c(text: str) -> None:
        write(text)
        if text == "venice> ":
            adapter.interrupt()

    async with make_service() as service:
        adapter = ConsoleAdapter(service, read_line=read_line, write=write_and_press_ctrl_c, guest="carol")
        await adapter.run()
    text = "".join(out)
    assert "(i) Stopped before the answer began. Nothing was charged." in text
    assert "Balance: $1.00" in text
    assert venice.calls_to("/chat/completions") == []
