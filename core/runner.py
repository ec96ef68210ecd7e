"""Turns and media actions, each in a task of its own; a failure ends its stream, never the bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from core.errors import BotError
from core.events import Activity, Notice, Reply, ReplyStream, Speaker
from core.turns import Turn, TurnQueue

log = logging.getLogger(__name__)

STOPPED_EARLY = Reply(notices=(Notice("Stopped before the answer began. Nothing was charged."),))

Work = Callable[[ReplyStream], Awaitable[None]]


class Runner:
    """Start work that produces a reply stream: a conversation's turns in the order asked for,
    media actions at once; finish or cancel them all at shutdown."""

    def __init__(self) -> None:
        self.turns = TurnQueue()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        """How many turns and media actions are running or waiting for their turn now."""
        return len(self._tasks)

    def turn(self, key: Hashable, work: Work, *, speaker: Speaker | None = None) -> ReplyStream:
        """Queue a turn of the conversation ``key`` and run it in a task of its own."""
        stream = ReplyStream(speaker=speaker)
        turn = self.turns.take(key)  # taken now, so turns run in the order asked for
        task = self._launch(turn, work, stream)
        task.add_done_callback(lambda _: turn.release())  # even if cancelled before it ran
        # Stopped while it waits for its turn, it is dropped; while its answer streams, the
        # answer ends there (the relay). In between and after, a stop waits or does nothing:
        # cancelling a payment half-way could lose the money it held.
        stream.stoppable(task.cancel)
        return stream

    def spawn(self, work: Work, *, activity: Activity = "typing") -> ReplyStream:
        """Run a media action in a task of its own (no conversation turn); return its stream."""
        stream = ReplyStream(activity)
        # Not stoppable: Venice bills a picture or a voice once asked, so the user gets it.
        self._launch(None, work, stream)
        return stream

    async def wait_idle(self) -> None:
        """Wait until every piece of work in flight has finished (settling, summarizing)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def drain(self, grace: float = 10.0) -> None:
        """Let work in flight finish, then cancel what is still running after ``grace`` seconds."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _launch(self, turn: Turn | None, work: Work, stream: ReplyStream) -> asyncio.Task[None]:
        task = asyncio.create_task(_produce(turn, work, stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda done: _end_if_cancelled(done, stream))
        task.add_done_callback(lambda _: stream.say_after(None))  # nothing more, if nothing was said
        return task


async def _produce(turn: Turn | None, work: Work, stream: ReplyStream) -> None:
    try:
        if turn is None:
            await work(stream)
        else:
            async with turn:
                stream.stoppable(None)
                await work(stream)
    except BotError as exc:
        stream.fail(exc)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if stream.stop_requested and task is not None and task.cancelling() == 1:
            # Stopped by the user while it waited for its turn: nothing was paid.
            task.uncancel()
            stream.finish(STOPPED_EARLY)
            return
        stream.fail(_shutting_down())
        raise
    except Exception as exc:  # a bug: the adapter logs it and apologises
        log.exception("Answering a message failed")
        stream.fail(exc)


def _shutting_down() -> BotError:
    return BotError("The bot is shutting down; send your message again later.")


def _end_if_cancelled(task: asyncio.Task[None], stream: ReplyStream) -> None:
    """A task cancelled before it ever ran (stopped at once, or at shutdown) still ends its stream."""
    if task.cancelled() and stream.stop_requested:
        stream.finish(STOPPED_EARLY)
    elif task.cancelled():
        stream.fail(_shutting_down())
