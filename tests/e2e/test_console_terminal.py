"""The real ``venice-bots chat`` in a real pseudo-terminal: Ctrl-C, Ctrl-D, SIGTERM, the terminal after."""

from __future__ import annotations

import asyncio
import io
import os
import shlex
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pexpect
import pytest

from core.ports.records import CUT_OFF_MARK
from tests.e2e.test_console import cli_env
from tests.fakes.venice import ChatScript, FakeVenice

START = 60.0  # seconds for the process to start (imports, migrations) on a busy machine
STOPPED = 1.0  # Ctrl-C gives the prompt back within a second (the whole answer takes 30 s)
STORY = " ".join(f"word{i}" for i in range(300))  # 100 chunks of three words, 0.3 s apart


class Terminal:
    """A shell line run in a pseudo-terminal; the fake Venice answers in this test's event loop."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path) -> None:
        # bash runs the chat, then says how it ended and how it left the terminal.
        script = f'{command}; echo "exit code $?"; stty -a'
        self.child = pexpect.spawn(
            "bash",
            ["-c", script],
            env=env,
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(24, 200),
        )
        self.transcript = io.StringIO()  # everything the terminal showed
        self.child.logfile_read = self.transcript

    async def expect(self, pattern: str | type[pexpect.EOF], timeout: float = START) -> str:
        """Wait (off the event loop, so the fake keeps serving) for the pattern; what came before it."""
        await asyncio.to_thread(self.child.expect, pattern, timeout=timeout)
        return str(self.child.before)

    def send(self, text: str) -> None:
        self.child.send(text)

    def chat_pid(self) -> int:
        """The chat's process: the one bash started."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.child.pid:
                    return int(entry.name)
        raise AssertionError("the chat is not running")

    async def ending(self) -> tuple[int, str]:
        """Wait for the end: the chat's exit code, and the terminal's settings after it."""
        after = await self.expect(pexpect.EOF)
        code, _, settings = after.partition("exit code ")[2].partition("\n")
        return int(code.strip()), settings


@pytest.fixture
def terminal(tmp_path: Path, venice: FakeVenice) -> AsyncIterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def open_terminal(*args: str) -> Terminal:
        command = shlex.join([sys.executable, "-m", "bots", *args])
        opened.append(Terminal(command, cli_env(tmp_path, venice), tmp_path))
        return opened[-1]

    yield open_terminal  # type: ignore[misc]
    for term in opened:
        term.child.close(force=True)


def assert_echo_on(settings: str) -> None:
    flags = settings.split()
    assert "echo" in flags and "-echo" not in flags and "icanon" in flags, settings


def stored_answers(tmp_path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(tmp_path / "cli.db") as db:
        rows = db.execute("SELECT content, interrupted FROM messages WHERE role = 'assistant' ORDER BY id")
        return [(str(content), int(cut)) for content, cut in rows]


async def test_ctrl_c_stops_the_answer_keeps_it_and_ctrl_d_leaves_the_terminal_as_it_was(
    terminal: Callable[..., Terminal], venice: FakeVenice, tmp_path: Path
) -> None:
    venice.script.append(ChatScript(content=STORY, chunk_delay=0.3))
    term = terminal("chat")
    await term.expect("you> ")
    term.send("Tell me a long story\r")
    await term.expect("word3")  # the answer is streaming
    term.send("\x03")  # Ctrl-C, as the terminal sends it: SIGINT to the foreground processes
    await term.expect("you> ", timeout=STOPPED)
    term.send("And now?\r")
    answered = await term.expect("you> ")
    assert "You said: “And now?”" in answered
    term.send("\x04")  # Ctrl-D
    code, settings = await term.ending()
    assert code == 0
    assert_echo_on(settings)
    shown = term.transcript.getvalue()
    assert "Stopped. The answer is kept as far as it got." in shown
    assert not any(noise in shown for noise in ("Traceback", "never retrieved", "shutting down"))
    (partial, cut), _second = stored_answers(tmp_path)
    assert cut == 1 and partial.startswith("word0 word1 word2 word3") and "word299" not in partial
    history = [m["content"] for m in venice.calls_to("/chat/completions")[1].body["messages"]]
    assert history[-3:] == ["Tell me a long story", partial + CUT_OFF_MARK, "And now?"]


async def test_ctrl_c_at_the_prompt_says_goodbye_and_exits_0(terminal: Callable[..., Terminal]) -> None:
    term = terminal("chat")
    await term.expect("you> ")
    term.send("\x03")
    await term.expect("Bye.")
    code, settings = await term.ending()
    assert code == 0
    assert_echo_on(settings)


@pytest.mark.parametrize(
    ("command", "sig"),
    [
        ("chat", signal.SIGTERM),  # as `docker stop` or systemd would
        ("run", signal.SIGTERM),  # run: no platform token, so the console
        ("chat", signal.SIGHUP),  # the terminal window was closed
    ],
)
async def test_sigterm_ends_the_console_cleanly_keeping_the_answer_so_far(
    terminal: Callable[..., Terminal], venice: FakeVenice, command: str, sig: signal.Signals, tmp_path: Path
) -> None:
    venice.script.append(ChatScript(content=STORY, chunk_delay=0.3))
    term = terminal(command)
    await term.expect("you> ")
    term.send("Tell me a long story\r")
    await term.expect("word3")
    os.kill(term.chat_pid(), sig)
    await term.expect("Bye.")
    code, settings = await term.ending()
    assert code == 0
    assert_echo_on(settings)
    ((partial, cut),) = stored_answers(tmp_path)
    assert cut == 1 and partial.startswith("word0 word1 word2 word3") and "word299" not in partial
    assert "Traceback" not in term.transcript.getvalue()
