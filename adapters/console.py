"""The console adapter: chat with the core from a terminal."""

from __future__ import annotations

import asyncio
import getpass
import io
import itertools
import logging
import mimetypes
import os
import re
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.dispatch import error_text
from adapters.private_files import private_dir, write_private
from core.app import App
from core.commands import Command, help_text
from core.errors import InvalidInput, UnknownCommand, UsageError
from core.events import Attachment, AttachmentKind, IncomingMessage, Reply, ReplyStream
from core.text import format_sources

log = logging.getLogger(__name__)

ReadLine = Callable[[str], Awaitable[str | None]]  # shows the prompt; None at the end of input
Write = Callable[[str], None]

PLATFORM = "console"
PROMPT = "you> "
OPERATOR_CHAT = "terminal"
GUEST_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
APOLOGY = "Sorry, something went wrong on the bot's side. It has been logged."
STOP_GRACE = 0.8  # seconds a stopped answer has to end before the prompt comes back anyway
BANNER = (
    "venice-bots console chat. Type a message, /help for commands, /quit or Ctrl-D to leave.\n"
    "Ctrl-C stops an answer. The conversation is saved: run this again later and it continues."
)


class _Turn:
    """One line being answered, and what Ctrl-C has done to it."""

    def __init__(self) -> None:
        self.stream: ReplyStream | None = None
        self.stopping = False
        self.detached = False  # the prompt came back while the work goes on
        self.let_go = asyncio.Event()  # set: stop waiting for it

    def stop(self) -> None:
        """Stop the answer; a second stop (or a slow one) gives the prompt back at once."""
        if self.stopping:
            self.let_go.set()
            return
        self.stopping = True
        if self.stream is not None:
            self.stream.stop()
        asyncio.get_running_loop().call_later(STOP_GRACE, self.let_go.set)


class ConsoleAdapter:
    """Read lines, hand them to the core, print streamed answers.

    The operator chats in the chat ``terminal`` as their login name, with admin rights; a
    guest (``guest="alice"``) as ``guest:alice`` in a chat of their own, with none.
    """

    def __init__(
        self,
        service: App,
        *,
        read_line: ReadLine,
        write: Write,
        user_id: str | None = None,
        guest: str | None = None,
        media_dir: Path = Path("venice-media"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if guest is not None and not GUEST_NAME.fullmatch(guest):
            raise InvalidInput(
                f"{guest!r} cannot be a guest's name: use up to 32 letters, digits, '.', '_' or '-'."
            )
        self._service = service
        self._read_line = read_line
        self._write = write
        self._guest = guest
        self._user_id = f"guest:{guest}" if guest else (user_id or _local_user())
        self._chat_id = f"guest:{guest}" if guest else OPERATOR_CHAT
        self._media_dir = media_dir
        self._clock = clock
        self._closing = False
        self._reading: asyncio.Future[str | None] | None = None
        self._turn: _Turn | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Chat until end of input, /quit, or ``close()``."""
        self._write(BANNER + "\n")
        try:
            while not self._closing:
                self._write("\n")
                line = await self._next_line()
                if line is None or line.strip().lower() in ("/quit", "/exit"):
                    break
                if not line.strip() and len(line) < 2:
                    continue  # a bare Enter at the prompt: nothing to say yet
                await self._take_turn(line)
            if self._background and not self._closing:  # paid for: worth the wait
                self._write("\n(i) Waiting for what is still being made; Ctrl-C leaves without it.\n")
                await asyncio.wait(set(self._background))
        finally:
            for task in self._background:
                task.cancel()
        self._write("\nBye.\n")

    def interrupt(self) -> None:
        """Ctrl-C: stop the answer being written, or end the chat at the prompt."""
        if self._turn is not None and not self._closing:
            self._turn.stop()
        else:
            self.close()

    def close(self) -> None:
        """End the chat (SIGTERM, Ctrl-C at the prompt): an answer being written stops first."""
        self._closing = True
        if self._turn is not None:
            self._turn.stop()
        if self._reading is not None:
            self._reading.cancel()
        for task in self._background:
            task.cancel()

    async def _next_line(self) -> str | None:
        self._reading = asyncio.ensure_future(self._read_line(PROMPT))
        try:
            return await self._reading
        except asyncio.CancelledError:
            if not self._reading.cancelled() or not self._closing:
                raise  # not ours: the chat itself is being cancelled
            return None
        finally:
            self._reading = None

    async def _take_turn(self, line: str) -> None:
        """Answer a line; Ctrl-C gives the prompt back, whatever the work still does."""
        self._turn = turn = _Turn()
        task = asyncio.create_task(self.handle_line(line, turn))
        released = asyncio.create_task(turn.let_go.wait())
        try:
            await asyncio.wait({task, released}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            released.cancel()
            self._turn = None
        if not task.done():  # work that cannot stop (a picture Venice is making)
            turn.detached = True
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            self._write("\n(i) That goes on; its result shows here when it is ready.\n")

    async def handle_line(self, line: str, turn: _Turn | None = None) -> None:
        """Send one line to the core and print what comes back."""
        turn = turn or _Turn()
        command: Command | None = None

        def late() -> str:  # output after the prompt came back starts on a line of its own
            return "\n" if turn.detached else ""

        try:
            command = self._command_of(line)
            if command is not None and command.name == "help":
                self._render(self._help(), streamed=False)
                return
            result = await self._service.handle_message(self._message(line, command))
            if isinstance(result, ReplyStream):
                await self._show(result, turn)
            else:
                self._write(late())
                self._render(result, streamed=False)
        except UsageError as exc:  # with the console's own usage (file paths included)
            usage, example = exc.usage, exc.example
            if command is not None:
                usage = _usage(command)
                if command.file is not None and example:  # the console takes the file by its path
                    name, _, rest = example.partition(" ")
                    example = f"{name} {command.file.name}.png {rest}"
            shown = f"{exc.problem} Example: {example}" if example else exc.problem
            self._write(f"{late()}! {shown}\nUsage: {usage}\n")
        except Exception as exc:  # noqa: BLE001 - error_text logs it
            self._write(f"{late()}! {error_text(exc, log, 'Console message failed', apology=APOLOGY)}\n")

    async def _show(self, stream: ReplyStream, turn: _Turn) -> None:
        """Print a stream as it arrives (nothing more once the prompt is back), then its reply."""
        turn.stream = stream
        if turn.stopping:  # Ctrl-C came before the answer started
            stream.stop()
        self._write(f"{stream.speaker.name if stream.speaker else 'venice'}> ")
        status, streamed = "", False
        async for delta in stream:
            if turn.detached:
                continue
            streamed = streamed or bool(delta)
            self._write(delta)
            if stream.status and stream.status != status:  # progress (a video)
                status = stream.status
                self._write(f"[{status}]\n")
        reply = await stream.reply()
        self._write("\n")
        self._render(reply, streamed=streamed and not turn.detached)
        said = await stream.afterword()  # e.g. the answer could not be saved
        if said is not None:
            self._write(f"! {said.text}\n")

    def _command_of(self, line: str) -> Command | None:
        """The command a line runs, if it is one the core knows."""
        if not line.lstrip().startswith("/"):
            return None
        name = line.strip().partition(" ")[0][1:].split("@", 1)[0]
        try:
            return self._service.commands.get(name)
        except UnknownCommand:
            return None  # the core says so

    def _message(self, line: str, command: Command | None) -> IncomingMessage:
        """The line as the core takes it; a command's file path becomes an attachment."""
        text, attachments = line, tuple[Attachment, ...]()
        if command is not None and command.file is not None:
            text, attachments = _attach(line, command)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=self._chat_id,
            user_id=self._user_id,
            user_name=self._guest or self._user_id,
            text=text,
            # A guest is a member of a chat they do not run: no /model, no chat settings.
            is_direct=self._guest is None,
            is_chat_admin=self._guest is None,
            attachments=attachments,
        )

    def _help(self) -> Reply:
        message = self._message("/help", None)
        commands = self._service.commands.visible_to(self._service.command_context(message))
        return Reply(help_text(commands, _usage))

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
        """Write a file the bot sent into the media folder under a new name, never over another.

        Names start with the local time (``20250301-142233-venice-1.png``), so they sort in the
        order they came and a later run never numbers its files after an earlier run's.
        """
        private_dir(self._media_dir)
        named = Path(attachment.filename or "")
        suffix = named.suffix or mimetypes.guess_extension(attachment.mime_type) or ".bin"
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", named.stem)[:60] or attachment.kind
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        for number in itertools.count(1):
            taken = stamp if number == 1 else f"{stamp}.{number}"  # the same second: still sorted
            path = self._media_dir / f"{taken}-{stem}{suffix}"
            try:  # exclusive: an existing file is never replaced
                write_private(path, attachment.data, exclusive=True)
            except FileExistsError:
                continue
            return path
        raise AssertionError("unreachable")


def _attach(line: str, command: Command) -> tuple[str, tuple[Attachment, ...]]:
    """Take the file path that follows the command (or its action) out of the line and read it."""
    file = command.file
    assert file is not None
    head, _, rest = line.strip().partition(" ")
    if file.action is not None:
        action, _, rest = rest.strip().partition(" ")
        if action.lower() != file.action:
            return line, ()  # another action of the command: no file
        head = f"{head} {action}"
    path_text, rest = _first_word(rest)
    if file.optional and not Path(path_text).expanduser().is_file():
        return line, ()  # the command works without its file: the word is its text
    if not path_text:
        raise UsageError(f"Give the {file.name}'s path.", _usage(command))
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as opened:
            data = opened.read(file.max_bytes + 1)  # never more than the limit into memory
            size = max(len(data), os.fstat(opened.fileno()).st_size)
    except FileNotFoundError:
        raise UsageError(f"There is no file {path}.", _usage(command)) from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder; give the path of the {file.name} file.") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if len(data) > file.max_bytes:
        raise InvalidInput(
            f"{path.name} is {_megabytes(size)}; {head} takes files up to {_megabytes(file.max_bytes)}."
        )
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # An image command reads any file as an image (the core says if it is not one); a card
    # may be a picture or a file.
    as_image = "image" in file.kinds and (mime.startswith("image/") or "file" not in file.kinds)
    kind: AttachmentKind = "image" if as_image else "file"
    return f"{head} {rest}".strip(), (Attachment(kind, mime, data, filename=path.name),)


def _first_word(text: str) -> tuple[str, str]:
    """A path as a shell would read it ('quoted', or with escaped spaces), and the rest."""
    source = io.StringIO(text)
    lexer = shlex.shlex(source, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        word = lexer.get_token() or ""
    except ValueError:
        raise InvalidInput("The file's path has an opening quote but no closing one.") from None
    return word, text[source.tell() :].strip()


def _usage(command: Command) -> str:
    """A command's usage in the console, where a file is given by its path."""
    file = command.file
    if file is None:
        return command.usage
    path = f"<{file.name} path>"
    if file.action is not None:
        return f"{command.usage} | /{command.name} {file.action} {path}"
    head, _, rest = command.usage.partition(" ")
    return f"{head} {path} {rest}".rstrip()


def _megabytes(size: int) -> str:
    return f"{size / 1048576:.1f} MB".replace(".0 MB", " MB")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in some containers
        return "local"
