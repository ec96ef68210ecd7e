"""`venice-bots web` and `venice-bots run` with a console, as real processes: the password is
required, `web` polls no platform, and the console beside `run` counts the bot's turns."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_KEY, FakeVenice
from tests.e2e.telegram_support import texts
from tests.e2e.test_console import cli_env, run_cli
from tests.fakes.telegram import FakeTelegram
from tests.web_support import PASSWORD

ALICE = 1001


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def console_process(
    tmp_path: Path, venice: FakeVenice, command: str, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, httpx.AsyncClient]]:
    """``venice-bots COMMAND`` serving its console; yields it and a client once /healthz answers."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots",
        command,
        cwd=tmp_path,
        env=cli_env(tmp_path, venice, WEB_ADMIN_PASSWORD=PASSWORD, WEB_PORT=str(port), **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "the console process ended early"
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the console never answered /healthz"
                await asyncio.sleep(0.1)
            yield process, http
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


def telegram_env(tg: FakeTelegram) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
    }


def turns_counted(exposition: str, platform: str) -> float:
    for family in text_string_to_metric_families(exposition):
        if family.name == "venice_bots_turns":
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total")
                and s.labels.get("platform") == platform
                and s.labels.get("outcome") == "answered"
            )
    return 0.0


async def test_web_refuses_to_start_without_a_password(tmp_path: Path, venice: FakeVenice) -> None:
    code, out, err = await run_cli(["web"], cli_env(tmp_path, venice), cwd=tmp_path)
    assert code == 2
    assert "WEB_ADMIN_PASSWORD" in err
    assert "Traceback" not in out + err


async def test_a_short_password_is_refused_by_name_without_echoing_it(
    tmp_path: Path, venice: FakeVenice
) -> None:
    code, _, err = await run_cli(
        ["web"], cli_env(tmp_path, venice, WEB_ADMIN_PASSWORD="hunter2"), cwd=tmp_path
    )
    assert code == 2
    assert "WEB_ADMIN_PASSWORD" in err and "12 characters" in err
    assert "hunter2" not in err


async def test_web_serves_the_console_alone_and_polls_no_platform(
    tmp_path: Path, venice: FakeVenice, tg: FakeTelegram
) -> None:
    async with console_process(tmp_path, venice, "web", **telegram_env(tg)) as (process, http):
        login = await http.post("/login", data={"password": PASSWORD})
        assert login.status_code == 303
        overview = await http.get("/")
        assert overview.status_code == 200
        assert "Spend and turns per day" in overview.text
        await asyncio.sleep(1.0)  # long enough for a poller to have asked at least once
        assert tg.calls_to("getUpdates") == [] and tg.calls_to("getMe") == []
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        assert process.returncode == 0
        assert process.stdout is not None and process.stderr is not None
        output = (await process.stdout.read() + await process.stderr.read()).decode()
    assert PASSWORD not in output and TEST_KEY not in output
    assert "The web console is at http://127.0.0.1:" in output


async def test_run_serves_the_console_beside_the_bot_and_counts_its_turns(
    tmp_path: Path, venice: FakeVenice, tg: FakeTelegram
) -> None:
    async with console_process(tmp_path, venice, "run", **telegram_env(tg)) as (_, http):
        await tg.wait_for_call("getUpdates", timeout=20)
        before = turns_counted((await http.get("/metrics")).text, "telegram")
        tg.push_message("Count me", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1, timeout=20)
        deadline = time.monotonic() + 20
        while turns_counted((await http.get("/metrics")).text, "telegram") < before + 1:
            assert time.monotonic() < deadline, "the console's metrics never counted the Telegram turn"
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 200
