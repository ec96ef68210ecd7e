"""What an operator waits for: Ctrl-C to the prompt, `health`, `doctor`, `--version`.

Run: ``.venv/bin/python bench/operator.py`` (``make bench`` runs it too). Prints one line per
figure. The console runs as a real process in a real pseudo-terminal against the fake Venice
(in this process, on 127.0.0.1), as a user would type: a question, then Ctrl-C mid-answer.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.venice import ChatScript, FakeVenice  # noqa: E402

ROUNDS = 5
STORY = " ".join(f"word{i}" for i in range(300))
KEY = "bench-key-0123456789"


def environment(workdir: Path, base_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENICE_", "DATABASE_", "LOG_"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite:///{workdir}/bench.db")
    if base_url is not None:
        env.update(VENICE_API_KEY=KEY, VENICE_BASE_URL=base_url)
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and exit code of one run of the command."""
    start = time.perf_counter()
    code = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False).returncode
    return time.perf_counter() - start, code


def command_times(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    runs = [timed(argv, env, cwd) for _ in range(ROUNDS)]
    seconds = sorted(s for s, _ in runs)
    return f"median {statistics.median(seconds):.2f} s, max {seconds[-1]:.2f} s, exit {runs[0][1]}"


async def ctrl_c_to_prompt(venice: FakeVenice, workdir: Path) -> list[float]:
    """Seconds from Ctrl-C (mid-answer) until the prompt is back, once per round."""
    command = shlex.join([sys.executable, "-m", "bots", "chat"])
    child = pexpect.spawn(
        "bash", ["-c", command], env=environment(workdir, venice.base_url), cwd=str(workdir), encoding="utf-8"
    )
    waits = []
    try:
        await asyncio.to_thread(child.expect, "you> ", timeout=60)
        for _ in range(ROUNDS):
            venice.script.append(ChatScript(content=STORY, chunk_delay=0.3))
            child.send("Tell me a long story\r")
            await asyncio.to_thread(child.expect, "word3", timeout=60)
            start = time.perf_counter()
            child.send("\x03")
            back = await asyncio.to_thread(child.expect, ["you> ", pexpect.EOF], timeout=30)
            waits.append(time.perf_counter() - start)
            if back == 1:
                print(f"console: Ctrl-C mid-answer ended the chat after {waits[-1]:.2f} s")
                return waits
        child.send("\x04")
        await asyncio.to_thread(child.expect, pexpect.EOF, timeout=30)
    finally:
        child.close(force=True)
    return waits


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main() -> None:
    python = [sys.executable, "-m", "bots"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with FakeVenice() as venice:
            waits = await ctrl_c_to_prompt(venice, workdir)
            print(
                f"console: Ctrl-C mid-answer → prompt back: median {statistics.median(waits) * 1000:.0f} ms, "
                f"max {max(waits) * 1000:.0f} ms over {len(waits)} rounds"
            )
            fresh = workdir / "fresh"
            fresh.mkdir()
            env = environment(fresh, venice.base_url)
            await asyncio.to_thread(timed, [*python, "doctor"], env, fresh)
            left = sorted(p.name for p in fresh.iterdir())
            print(f"doctor on a fresh folder left behind: {', '.join(left) or 'nothing'}")
            env = environment(workdir, venice.base_url)
            doctor_ok = await asyncio.to_thread(command_times, [*python, "doctor"], env, workdir)
            print(f"doctor, every check reachable: {doctor_ok}")
        unreachable = environment(workdir, f"http://127.0.0.1:{closed_port()}/api/v1")
        print(f"doctor, Venice unreachable: {command_times([*python, 'doctor'], unreachable, workdir)}")
        no_key = environment(workdir, None)
        print(f"health (no API key): {command_times([*python, 'health'], no_key, workdir)}")
        print(f"--version: {command_times([*python, '--version'], no_key, workdir)}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"largest of these processes: {peak:.0f} MB resident")


if __name__ == "__main__":
    asyncio.run(main())
