"""The console adapter: chat with the core from a terminal."""

from __future__ import annotations

import asyncio
import getpass
import logging
import mimetypes
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from core.chat import ChatService
from core.errors import BotError
from core.events import Attachment, IncomingMessage, Reply, ReplyStream
from core.text import format_sources

log = logging.getLogger(__name__)

ReadLine = Callable[[], Awaitable[str | None]]
Write = Callable[[str], None]

BANNER = (
    "venice-bots console chat. Type a message, /help for commands, /quit to leave.\n"
    "The conversation is saved: run this again later and it continues."
)


class ConsoleAdapter:
    """Read lines, hand them to the core, print streamed answers."""

    def __init__(
        self,
        service: ChatService,
        *,
        read_line: ReadLine,
        write: Write,
        user_id: str | None = None,
        chat_id: str = "terminal",
        media_dir: Path = Path("venice-media"),
    ) -> None:
        self._service = service
        self._read_line = read_line
        self._write = write
        self._user_id = user_id or _local_user()
        self._chat_id = chat_id
        self._media_dir = media_dir

    async def run(self) -> None:
        """Chat until end of input or /quit."""
        self._write(BANNER + "\n")
        while True:
            self._write("\nyou> ")
            line = await self._read_line()
            if line is None:
                self._write("\n")
                return
            if line.strip().lower() in ("/quit", "/exit"):
                return
            if not line.strip() and len(line) < 2:
                continue  # a bare Enter at the prompt: nothing to say yet
            await self.handle_line(line)

    async def handle_line(self, line: str) -> None:
        """Send one line to the core and print what comes back."""
        message = IncomingMessage(
            platform="console",
            chat_id=self._chat_id,
            user_id=self._user_id,
            user_name=self._user_id,
            text=line,
            is_direct=True,
            is_chat_admin=True,
        )
        try:
            result = await self._service.handle_message(message)
            if isinstance(result, ReplyStream):
                self._write(f"{result.speaker.name if result.speaker else 'venice'}> ")
                status, streamed = "", False
                async for delta in result:
                    streamed = streamed or bool(delta)
                    self._write(delta)
                    if result.status and result.status != status:  # progress (a video)
                        status = result.status
                        self._write(f"[{status}]\n")
                reply = await result.reply()
                self._write("\n")
                self._render(reply, streamed=streamed)
            else:
                self._render(result, streamed=False)
        except BotError as exc:
            self._write(f"! {exc.user_message}\n")
        except Exception:
            log.exception("Console message failed")
            self._write("! Sorry, something went wrong on the bot's side. It has been logged.\n")

    def _render(self, reply: Reply, *, streamed: bool) -> None:
        if reply.text and not streamed:
            who = f"{reply.speaker.name}> " if reply.speaker else ""
            self._write(who + reply.text + "\n")
        for attachment in reply.attachments:
            path = self._save(attachment)
            self._write(f"[{attachment.kind} saved to {path}]\n")
        sources = format_sources(reply.citations)
        if sources:
            self._write(sources + "\n")
        for notice in reply.notices:
            mark = "!" if notice.level == "warning" else "i"
            self._write(f"({mark}) {notice.text}\n")
        for choice in reply.choices:
            if choice.command == "/retry":
                continue  # /retry is in /help; no need to offer it under every answer
            self._write(f"  → {choice.label}: type {choice.command}\n")

    def _save(self, attachment: Attachment) -> Path:
        """Write a file the bot sent into the media folder, never over an existing one."""
        self._media_dir.mkdir(parents=True, exist_ok=True)
        named = Path(attachment.filename or "")
        suffix = named.suffix or mimetypes.guess_extension(attachment.mime_type) or ".bin"
        stem = named.stem or attachment.kind
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:60] or attachment.kind
        path = self._media_dir / f"{stem}{suffix}"
        number = 1
        while path.exists():
            number += 1
            path = self._media_dir / f"{stem}-{number}{suffix}"
        path.write_bytes(attachment.data)
        return path


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in some containers
        return "local"


def terminal_io(stdin: TextIO | None = None, stdout: TextIO | None = None) -> tuple[ReadLine, Write]:
    """Line reader and writer over a terminal.

    Lines are read in a daemon thread: a blocked ``input()`` never holds up shutdown, and the
    event loop keeps streaming answers while the user types.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if hasattr(stdin, "reconfigure"):
        # Bytes that are not UTF-8 arrive as surrogates; the core turns them into U+FFFD.
        stdin.reconfigure(errors="surrogateescape")
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    interactive = stdin.isatty()

    def reader() -> None:
        while True:
            try:
                if interactive:
                    import readline  # noqa: F401  (line editing and history for input())

                    line: str | None = input()
                else:
                    raw = stdin.readline()
                    line = raw.rstrip("\n") if raw else None
            except (EOFError, KeyboardInterrupt):
                line = None
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=reader, name="console-input", daemon=True).start()

    def write(text: str) -> None:
        stdout.write(text)
        stdout.flush()

    return lines.get, write
