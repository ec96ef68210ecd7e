"""The terminal the console chats in: prompted line reads, Ctrl-C and SIGTERM, its modes restored."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from adapters.console import ConsoleAdapter, ReadLine, Write
from core.app import App


async def chat_in_terminal(
    service: App, *, guest: str | None = None, media_dir: Path = Path("venice-media")
) -> None:
    """Chat in this terminal until the user leaves; the terminal is left as it was found.

    Ctrl-C stops an answer being written, or ends the chat at the prompt; SIGTERM and SIGHUP
    end it too (an answer being written stops first, and is kept).
    """
    with terminal_restored(sys.stdin):
        read_line, write = terminal_io()
        adapter = ConsoleAdapter(service, read_line=read_line, write=write, guest=guest, media_dir=media_dir)
        handlers = {signal.SIGINT: adapter.interrupt, signal.SIGTERM: adapter.close}
        if sys.platform != "win32":
            handlers[signal.SIGHUP] = adapter.close  # the terminal window was closed
        with signals_handled(handlers):
            await adapter.run()


@contextlib.contextmanager
def terminal_restored(stream: TextIO) -> Iterator[None]:
    """Put the terminal's modes back on every way out.

    readline turns echo off while it reads a line; a chat that ends while a line is being read
    (Ctrl-C at the prompt, SIGTERM) would otherwise leave the shell typing blind.
    """
    if sys.platform == "win32" or not stream.isatty():
        yield
        return
    import termios

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def signals_handled(handlers: Mapping[signal.Signals, Callable[[], None]]) -> Iterator[None]:
    """Run these callbacks in the event loop on these signals, inside the block; then put
    back what handled them before (``asyncio.run``'s own Ctrl-C handling, for the shutdown)."""
    loop = asyncio.get_running_loop()
    installed = {}
    for sig, handler in handlers.items():
        before = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, handler)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            continue
        installed[sig] = before
    try:
        yield
    finally:
        for sig, before in installed.items():
            loop.remove_signal_handler(sig)
            if before is not None:
                signal.signal(sig, before)


def terminal_io(stdin: TextIO | None = None, stdout: TextIO | None = None) -> tuple[ReadLine, Write]:
    """Line reader and writer over a terminal (or pipes).

    A line is read in a thread, only when the chat asks for one: the event loop streams
    answers meanwhile, and a blocked ``input()`` never holds up the way out. On a terminal,
    ``input()`` brings readline's line editing and history.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if hasattr(stdin, "reconfigure"):
        # Bytes that are not UTF-8 arrive as surrogates; the core turns them into U+FFFD.
        stdin.reconfigure(errors="surrogateescape")
    loop = asyncio.get_running_loop()
    interactive = stdin is sys.stdin and stdin.isatty() and stdout.isatty()
    asked: queue.SimpleQueue[tuple[str, asyncio.Future[str | None]]] = queue.SimpleQueue()

    def write(text: str) -> None:
        try:
            stdout.write(text)
            stdout.flush()
        except OSError:  # the terminal is gone (SIGHUP) or the pipe closed: no one to tell
            pass

    def reader() -> None:
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())
        while True:
            prompt, answer = asked.get()
            try:
                if interactive:
                    line: str | None = input(prompt)
                else:
                    raw = stdin.readline()
                    line = raw.rstrip("\n") if raw else None
            except (EOFError, KeyboardInterrupt):
                line = None
            try:
                loop.call_soon_threadsafe(_resolve, answer, line)
            except RuntimeError:  # the loop is closed: the chat is over
                return
            if line is None:
                return

    thread = threading.Thread(target=reader, name="console-input", daemon=True)

    async def read_line(prompt: str) -> str | None:
        if not thread.is_alive() and thread.ident is not None:
            return None  # the input ended
        if not interactive:
            write(prompt)
        answer: asyncio.Future[str | None] = loop.create_future()
        asked.put((prompt, answer))
        if thread.ident is None:
            thread.start()
        return await answer

    return read_line, write


def _resolve(answer: asyncio.Future[str | None], line: str | None) -> None:
    if not answer.done():  # a read given up (the chat ended at the prompt) stays so
        answer.set_result(line)
