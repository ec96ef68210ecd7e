"""The seam between adapters and the core: plain frozen values, no platform objects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from core.ports.records import Reservation
from core.venice.types import Citation

AttachmentKind = Literal[
    "image", "audio", "voice", "video", "document", "file"
]  # document: one the bot reads
# What an adapter shows while the core works: Telegram's chat actions, Discord's "typing".
Activity = Literal["typing", "upload_photo", "record_voice", "upload_video", "upload_document"]


@dataclass(frozen=True)
class Attachment:
    """A file that comes with a message, in either direction (an image, a voice note…)."""

    kind: AttachmentKind
    mime_type: str
    data: bytes = field(repr=False)
    filename: str | None = None
    duration: float | None = None  # seconds, for audio and video, when known

    @property
    def is_audio(self) -> bool:
        """Something to transcribe: a voice note, an audio file, a video note."""
        return self.kind in ("voice", "audio", "video")


@dataclass(frozen=True)
class RepliedMessage:
    """The message that an incoming message answers (quoted in the context)."""

    text: str
    from_bot: bool
    author: str | None = None
    attachments: tuple[Attachment, ...] = ()  # e.g. the image that /upscale works on


@dataclass(frozen=True)
class IncomingMessage:
    """One message from a user on some platform.

    Attributes:
        chat_id: the chat / channel / DM, as the platform names it.
        thread_id: a forum topic or thread inside the chat, None when there is none.
        is_direct: a one-to-one chat with the bot.
        is_chat_admin: the platform says this user administers the chat (a DM counts).
        nsfw: the platform marks the channel as adult (Discord's NSFW flag); None when the
            platform has no such flag and the chat's own setting decides.
        server_id: the server the chat belongs to (a Discord guild), None where there is none.
        private_chat_id: the user's private chat with the bot, where the platform names it
            without being asked (a Telegram private chat's id is the user's); None elsewhere.
        receipts: the inbox keys of what the platform delivered as this message (an album is
            several updates); the paid action that answers it marks them answered.
    """

    platform: str
    chat_id: str
    user_id: str
    text: str
    user_name: str | None = None
    thread_id: str | None = None
    is_direct: bool = True
    is_chat_admin: bool = False
    attachments: tuple[Attachment, ...] = ()
    reply_to: RepliedMessage | None = None
    message_id: str | None = None
    nsfw: bool | None = None
    server_id: str | None = None
    private_chat_id: str | None = None
    receipts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """Where a late result goes (a video finished after a restart): a chat, maybe a thread."""

    platform: str
    chat_id: str
    user_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Notice:
    """A short remark shown beside an answer (a warning, a hint)."""

    text: str
    level: Literal["info", "warning"] = "info"


@dataclass(frozen=True)
class Choice:
    """One option an adapter may offer as a button; choosing it runs ``command``."""

    label: str
    command: str


@dataclass(frozen=True)
class Speaker:
    """Who speaks an answer: the character or persona bound to the chat."""

    name: str
    avatar_url: str | None = None


@dataclass(frozen=True)
class Charge:
    """What was charged for an answer: the hold it settled and the amount taken.

    An adapter that cannot deliver the answer hands it back for a refund.
    """

    account_id: int
    request_id: str
    amount: int
    feature: str

    @classmethod
    def of(cls, held: Reservation, amount: int) -> Charge:
        """The charge a settled hold made."""
        return cls(held.account_id, held.request_id, amount, held.feature)


@dataclass(frozen=True)
class Reply:
    """What the core answers: text, files (images, voice), sources, notices, options.

    ``speaker``: the character speaking it; None is the bot itself. ``charges``: what was
    charged for it (refunded if it cannot be delivered): the answer's, and its voice's; none
    when it was free, or when it is ``charged_on_delivery`` (the producer settles it once the
    adapter reports it arrived, and refunds it if not).
    """

    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    citations: tuple[Citation, ...] = ()
    notices: tuple[Notice, ...] = ()
    choices: tuple[Choice, ...] = ()
    speaker: Speaker | None = None
    charges: tuple[Charge, ...] = ()
    charged_on_delivery: bool = False  # paid only once it reached the user (refunded if not)


class ReplyStream:
    """An answer that is still being written: iterate for text deltas, then read ``reply``.

    The core produces it in its own task, so the turn is saved even if an adapter stops
    reading half-way; an adapter that reads slowly only sees bigger deltas.
    """

    def __init__(self, activity: Activity = "typing", speaker: Speaker | None = None) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.activity: Activity = activity  # what to show while nothing is visible yet
        self.status = ""  # a progress line that replaces itself ("Rendering… 40%")
        self.speaker = speaker  # known before the first delta: adapters show the answer as it
        self._stop_requested = False
        self._stopper: Callable[[], object] | None = None
        self._delivered: asyncio.Future[bool] | None = None  # set once a consumer reports back
        self._afterword: asyncio.Future[Notice | None] | None = None

    def set_activity(self, activity: Activity) -> None:
        """Change what the adapter shows while it waits; readers wake (producer side)."""
        if activity != self.activity:
            self.activity = activity
            self._queue.put_nowait("")

    def set_status(self, status: str) -> None:
        """Replace the progress line; readers wake with an empty delta (producer side)."""
        if status != self.status:
            self.status = status
            self._queue.put_nowait("")

    def push(self, delta: str) -> None:
        """Add text to the answer (producer side)."""
        if delta:
            self._queue.put_nowait(delta)

    def finish(self, reply: Reply) -> None:
        """End the stream with the final reply (producer side)."""
        if not self._done.done():
            self._done.set_result(reply)
            self._queue.put_nowait(None)

    def fail(self, error: BaseException) -> None:
        """End the stream with an error that ``reply()`` raises (producer side)."""
        if not self._done.done():
            self._done.set_exception(error)
            self._queue.put_nowait(None)

    def when_ended(self, callback: Callable[[bool], object]) -> None:
        """Call ``callback(True)`` once the stream finishes with a reply, ``callback(False)``
        once it fails."""
        self._done.add_done_callback(lambda done: callback(not done.cancelled() and done.exception() is None))

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        while True:
            delta = await self._queue.get()
            if delta is None:
                return
            # Coalesce what piled up while the reader was busy (e.g. editing a message).
            # An empty delta only says the status line changed.
            parts = [delta]
            while not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    yield "".join(parts)
                    return
                parts.append(nxt)
            yield "".join(parts)

    async def reply(self) -> Reply:
        """Wait for the final reply (the whole text, notices, citations)."""
        return await asyncio.shield(self._done)

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        """Wrap the writing of the answer to the chat (consumer side), so the producer learns
        whether it arrived: the block ended normally (yes) or raised (no). A cancelled block
        (the bot stops) says nothing: the producer is stopped too."""
        if self._delivered is None:
            self._delivered = asyncio.get_running_loop().create_future()
        try:
            yield
        except asyncio.CancelledError:
            raise
        except BaseException:
            if not self._delivered.done():
                self._delivered.set_result(False)
            raise
        if not self._delivered.done():
            self._delivered.set_result(True)

    def expect_report(self) -> None:
        """Say, as the stream is taken (consumer side), that ``delivering`` will report back:
        a producer that finishes before the writing begins then waits for the report."""
        if self._delivered is None:
            self._delivered = asyncio.get_running_loop().create_future()

    def not_delivered(self) -> None:
        """Report that the answer did not arrive, unless something was reported already
        (consumer side: it stopped before it could write)."""
        if self._delivered is not None and not self._delivered.done():
            self._delivered.set_result(False)

    def say_after(self, notice: Notice | None) -> None:
        """What the user must hear once the answer arrived (it could not be saved), or None;
        the first word counts (producer side; the runner says None when the work ends)."""
        future = self._afterword_future()
        if not future.done():
            future.set_result(notice)

    async def afterword(self) -> Notice | None:
        """Wait for what is said after the answer (consumer side, once it is written). Only an
        answer charged on delivery is stored and paid after it arrived, so only it may have one."""
        try:
            reply = await self.reply()
        except Exception:  # noqa: BLE001 - a failed answer: its error was the last word
            return None
        if not reply.charged_on_delivery:
            return None
        return await asyncio.shield(self._afterword_future())

    def _afterword_future(self) -> asyncio.Future[Notice | None]:
        if self._afterword is None:
            self._afterword = asyncio.get_running_loop().create_future()
        return self._afterword

    async def delivered(self) -> bool:
        """Wait until the consumer has written the finished answer out; whether it arrived
        (producer side, after ``finish``). A consumer that does not report back (the
        console) counts as delivered once the answer is handed over."""
        if self._delivered is None:
            return True
        return await asyncio.shield(self._delivered)

    def stop(self) -> None:
        """Ask for the answer to end where it is (consumer side: the user pressed stop).

        A chat answer keeps the text that arrived and is charged for it; work that has not
        begun is dropped, uncharged; work that cannot stop (a video Venice is rendering)
        goes on. ``reply()`` then says which it was.
        """
        if self._stop_requested or self._done.done():
            return
        self._stop_requested = True
        # Whoever stops an answer may no longer wait for it: never leave its outcome unread
        # (asyncio would log "Future exception was never retrieved").
        self._done.add_done_callback(_read_outcome)
        if self._stopper is not None:
            self._stopper()

    @property
    def stop_requested(self) -> bool:
        """Whether the consumer asked to stop (producer side)."""
        return self._stop_requested

    def stoppable(self, stopper: Callable[[], object] | None) -> None:
        """Say how ``stop()`` ends the work from now on; None: it can no longer be stopped
        (producer side). A stop asked for earlier takes effect now."""
        self._stopper = stopper
        if stopper is not None and self._stop_requested and not self._done.done():
            stopper()


def _read_outcome(future: asyncio.Future[Reply]) -> None:
    if not future.cancelled():
        future.exception()
