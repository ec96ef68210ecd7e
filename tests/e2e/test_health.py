"""``venice-bots health``: no API key needed; healthy while a bot runs, unhealthy once it has stopped."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bots.health import heartbeat
from tests.e2e.telegram_support import texts
from tests.e2e.test_console import ROOT, cli_env, run_cli
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

ALICE = 1001


def beat_file(tmp_path: Path) -> Path:
    return tmp_path / ".venice-bots.heartbeat"  # beside the database of cli_env


async def health(tmp_path: Path) -> tuple[int, str]:
    """Run ``venice-bots health`` as the Docker health check does: no VENICE_API_KEY at all."""
    env = cli_env(tmp_path)
    assert not any(name.startswith("VENICE_") for name in env)
    code, out, err = await run_cli(["health"], env, cwd=tmp_path)
    return code, out + err


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def bot_process(
    tmp_path: Path, venice: FakeVenice, *args: str, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``venice-bots ARGS`` as a real process, running until the block has stopped it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots",
        *args,
        cwd=tmp_path,
        env=cli_env(tmp_path, venice, **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for(beat_file(tmp_path).exists, "the bot's first heartbeat")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_health_needs_no_api_key_and_is_unhealthy_without_a_bot(tmp_path: Path) -> None:
    code, out = await health(tmp_path)
    assert code == 1
    assert out.strip() == f"unhealthy: the bot is not running (no heartbeat at {beat_file(tmp_path)})"


async def test_health_while_the_console_bot_runs_and_after_it_ends_on_eof(
    tmp_path: Path, venice: FakeVenice
) -> None:
    async with bot_process(tmp_path, venice, "chat") as process:
        code, out = await health(tmp_path)
        assert code == 0, out
        assert out.startswith("healthy: last heartbeat ") and out.strip().endswith(
            f"s ago (pid {process.pid})"
        )
        assert process.stdin is not None
        process.stdin.write(b"Hello\n")
        process.stdin.close()  # end of input: the console bot says goodbye and exits
        out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, err_bytes.decode()
        assert "You said: “Hello”" in out_bytes.decode()
    assert not beat_file(tmp_path).exists()
    code, out = await health(tmp_path)
    assert code == 1 and "unhealthy: the bot is not running" in out


async def test_health_after_the_console_bot_is_sent_sigterm(tmp_path: Path, venice: FakeVenice) -> None:
    async with bot_process(tmp_path, venice, "run") as process:
        assert (await health(tmp_path))[0] == 0
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        assert process.returncode == 0
    assert not beat_file(tmp_path).exists()  # a clean stop takes its heartbeat with it
    code, out = await health(tmp_path)
    assert code == 1 and "unhealthy: the bot is not running" in out, out


async def test_health_after_the_platform_bot_is_sent_sigterm(
    tmp_path: Path, venice: FakeVenice, tg: FakeTelegram
) -> None:
    telegram = {
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
    }
    async with bot_process(tmp_path, venice, "run", **telegram) as process:
        await tg.wait_for_call("getUpdates", timeout=20)
        tg.push_message("Still there?", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1, timeout=20)
        assert (await health(tmp_path))[0] == 0
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        assert process.returncode == 0
    assert not beat_file(tmp_path).exists()  # a clean stop takes its heartbeat with it
    code, out = await health(tmp_path)
    assert code == 1 and f"(no heartbeat at {beat_file(tmp_path)})" in out


async def test_a_killed_bot_is_unhealthy_at_once(tmp_path: Path) -> None:
    """SIGKILL leaves the heartbeat behind; it names a process that is gone."""
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from bots.health import heartbeat\n"
        "async def main():\n"
        "    async with heartbeat(Path(sys.argv[1])):\n"
        "        print('beating', flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(beat_file(tmp_path)), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), timeout=30) == b"beating\n"
    process.kill()
    await process.wait()
    assert beat_file(tmp_path).exists()
    code_, out = await health(tmp_path)
    assert code_ == 1
    assert out.startswith(f"unhealthy: the bot is not running (pid {process.pid} has exited; last heartbeat")


async def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    async with heartbeat(beat_file(tmp_path)):  # this process is alive, but its beats stopped 100 s ago
        then = time.time() - 100
        os.utime(beat_file(tmp_path), (then, then))
        code, out = await health(tmp_path)
    assert code == 1
    # 100 s, or a little more when the health process is slow to start on a busy machine.
    assert re.match(
        rf"unhealthy: last heartbeat 1\d\d s ago \(pid {os.getpid()}\); the bot beats every 30 s", out
    ), out
    assert not beat_file(tmp_path).exists()


async def test_an_invalid_database_url_is_unhealthy_with_exit_1_never_2(tmp_path: Path) -> None:
    """Docker reserves a health check's exit code 2: health says what is wrong and exits 1."""
    env = cli_env(tmp_path, DATABASE_URL="mysql://db/bots")
    code, out, _ = await run_cli(["health"], env, cwd=tmp_path)
    assert code == 1
    assert out.startswith("unhealthy: DATABASE_URL must start with 'sqlite:///'")
