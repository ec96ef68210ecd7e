"""Paid jobs Venice runs in a queue (/video, /music): a quote first, then a job that is polled,
delivered and cleaned up.

Jobs are stored, and every step is written before the next one starts, so a crash at any moment
loses neither the result nor the money:

- the job moves to ``queued`` with its reservation before Venice is asked (a pending row);
- Venice's queue id is stored the moment it arrives, before anything else is done with it;
- the file is handed to the chat before the reservation is settled and the job marked done;
- Venice is told to delete its copy (``/video/complete``, ``/audio/complete``) only after that.

At start-up, ``resume`` polls every queued job of its kind with a queue id again and delivers its
file through the platform's registered deliverer (a file cut off in delivery is sent again,
charged once: settling is idempotent). A queued job without a queue id was killed between
Venice's answer and the write: its reservation is refunded and its user told.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from core.errors import BotError, InvalidInput, PermissionDenied
from core.events import Choice, Destination, IncomingMessage, Reply, ReplyStream
from core.media.deliverers import Deliverers
from core.media.job_kinds import JobKindInfo
from core.media.video_leases import VideoLeases
from core.money import usd
from core.ports.coordination import Coordination
from core.ports.records import Reservation, VideoJob
from core.ports.storage import VideoJobStore
from core.text import plural
from core.venice.errors import VeniceError
from core.venice.retry import RETRYABLE_STATUSES

if TYPE_CHECKING:
    from core.billing.cashier import Cashier
    from core.billing.pricing import Prices
    from core.catalogue import Catalogue
    from core.ports.storage import ChatSettingsStore
    from core.settings import Settings
    from core.venice.client import VeniceClient

log = logging.getLogger(__name__)

QUOTE_SECONDS = 15 * 60  # a quote older than this is asked again


def new_job_id() -> str:
    """A fresh job id."""
    return secrets.token_hex(5)


MAX_POLL_FAILURES = 8  # in a row, before a job is given up (and refunded)
DELIVERER_WAIT = 300.0  # after a restart, how long a finished job waits for its platform
RESUME_SECONDS = 60.0  # how often a worker looks for jobs a dead worker stopped following


class QueuedJobs:
    """Quote, confirm, run and resume the queued jobs of one kind (``info``)."""

    info: JobKindInfo

    def __init__(
        self,
        settings: Settings,
        store: VideoJobStore,
        *,
        venice: VeniceClient,
        chat_settings: ChatSettingsStore,
        prices: Prices,
        cashier: Cashier,
        catalogue: Catalogue,
        deliverers: Deliverers,
        workers: Coordination,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._leases = VideoLeases(workers, self.info.kind)
        self._resuming: asyncio.Task[None] | None = None
        self._venice = venice
        self._chat_settings = chat_settings
        self._prices = prices
        self._cashier = cashier
        self._catalogue = catalogue
        self._deliverers = deliverers
        self.store = store
        self._clock = clock
        self._sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()
        # Prompts of ephemeral chats: kept here, never in the database.
        self._prompts: dict[str, str] = {}

    # ----- what each kind says for itself

    def poll_waits(self) -> tuple[float, float]:
        """The first wait between polls, and the longest (it grows half again each poll)."""
        raise NotImplementedError

    def timeout_seconds(self) -> float:
        """How long a job may run at Venice before it is given up and refunded."""
        raise NotImplementedError

    def result(self, job: VideoJob, data: bytes, mime_type: str) -> Reply:
        """The reply that delivers a finished job's file."""
        raise NotImplementedError

    async def check_quoted(self, job: VideoJob) -> None:
        """Refuse to confirm a quoted job that can no longer be made as quoted (a kind's own rule)."""

    def queued_body(self, job: VideoJob, body: dict[str, Any]) -> dict[str, Any]:
        """The request that queues the job at Venice (a kind may add what it kept in memory)."""
        return body

    # ----- quote, confirm, cancel

    async def price(self, body: dict[str, Any]) -> int:
        """Venice's quote for a request, marked up, in micro-USD."""
        return self._prices._micro(await self._venice.queue_quote(self.info.family, body), self.info.feature)

    async def offer(
        self,
        message: IncomingMessage,
        body: dict[str, Any],
        prompt: str,
        price: int,
        text: str,
        *,
        job_id: str | None = None,
    ) -> Reply:
        """Store a quoted job and offer it: ``text``, with Make it and Cancel buttons."""
        owner = await self._cashier.account_of(message)
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        job_id = job_id or new_job_id()
        if chat.ephemeral:
            self._prompts[job_id] = prompt
        job = VideoJob(
            id=job_id,
            status="quoted",
            platform=message.platform,
            chat_id=message.chat_id,
            thread_id=message.thread_id,
            user_id=message.user_id,
            owner=owner,
            model=str(body["model"]),
            request=body | {"prompt": "" if chat.ephemeral else prompt},
            quote=price,
            reservation=None,
            queue_id=None,
            created_at=self._clock(),
            queued_at=None,
            finished_at=None,
            kind=self.info.kind,
        )
        await self.store.create(job)
        command = self.info.command
        return Reply(
            text=f"{text} Make it?\n> {prompt[:300]}",
            choices=(
                Choice(f"✅ Make it ({usd(price)})", f"/{command}confirm {job.id}"),
                Choice("✖ Cancel", f"/{command}cancel {job.id}"),
            ),
        )

    def prompt_of(self, job: VideoJob) -> str:
        """The job's prompt (from memory for ephemeral chats)."""
        return self._prompts.get(job.id) or job.prompt

    async def _asked(self, message: IncomingMessage, job_id: str) -> VideoJob:
        noun, command = self.info.noun, self.info.command
        job = await self.store.get(job_id)
        if (
            job is None
            or job.kind != self.info.kind
            or job.platform != message.platform
            or job.chat_id != message.chat_id
        ):
            raise InvalidInput(f"There is no such {noun} request here. Start one with /{command}.")
        if job.user_id != message.user_id:
            raise PermissionDenied(f"Only the person who asked for this {noun} can confirm or cancel it.")
        if job.status != "quoted":
            raise InvalidInput(
                {
                    "queued": f"This {noun} is being made already.",
                    "done": f"This {noun} was delivered already.",
                    "cancelled": f"This {noun} request was cancelled.",
                    "failed": f"This {noun} failed; start again with /{command}.",
                }.get(job.status, "")
            )
        return job

    async def cancel(self, message: IncomingMessage, job_id: str) -> Reply:
        """Drop a quoted job; nothing was reserved yet."""
        job = await self._asked(message, job_id)
        await self.store.move(job.id, "quoted", "cancelled", finished_at=self._clock())
        return Reply(f"{self.info.noun.capitalize()} request cancelled. Nothing was charged.")

    async def confirm(self, message: IncomingMessage, job_id: str) -> ReplyStream:
        """Reserve the quoted price, queue the job at Venice, and follow it to its file."""
        job = await self._asked(message, job_id)
        if self._clock() - job.created_at > QUOTE_SECONDS:
            await self.store.move(job.id, "quoted", "cancelled", finished_at=self._clock())
            raise InvalidInput(f"That price quote has expired. Ask again with /{self.info.command}.")
        await self.check_quoted(job)
        # Claimed before it is queued: another worker looking for jobs to resume leaves it alone.
        if not await self._leases.take(job.id):
            raise InvalidInput(f"This {self.info.noun} is being made already.")
        try:
            return await self._confirm(message, job)
        except BaseException:
            await self._leases.give_back(job.id)
            raise

    async def _confirm(self, message: IncomingMessage, job: VideoJob) -> ReplyStream:
        info = self.info
        async with self._cashier.paying(
            message, job.quote, feature=info.feature, model_id=job.model, answers=False
        ) as held:
            if not await self.store.move(
                job.id, "quoted", "queued", reservation=held.request_id, queued_at=self._clock()
            ):
                raise InvalidInput(f"This {info.noun} is being made already.")  # a double press
            try:
                queue_id = await self._venice.queue_job(
                    info.family, self.queued_body(job, job.request | {"prompt": self.prompt_of(job)})
                )
            except BaseException:
                # Refunded before the job is closed: a crash in between leaves a queued job
                # without a queue id, which resume() refunds again (a no-op) and reports.
                await self._cashier.refund(held)
                await self.store.move(job.id, "queued", "failed", finished_at=self._clock())
                raise
            # Venice charges from here on: its id is stored first, in one statement, before
            # the user is told or the job polled. A crash before this write is the one case
            # resume() cannot follow: it refunds the job and tells the user.
            await self.store.move(job.id, "queued", "queued", queue_id=queue_id)
        queued = await self.store.get(job.id)
        assert queued is not None
        stream = ReplyStream(info.activity)
        stream.set_status(f"⏳ {info.noun.capitalize()} queued at Venice…")
        self._run(queued, held, stream)
        return stream

    # ----- resuming after a restart, or after another worker died

    async def resume(self) -> int:
        """Follow the jobs that were running when the bot stopped (and no other worker
        follows); returns how many."""
        resumed = 0
        for job in await self.store.queued():
            if job.kind != self.info.kind or not await self._leases.take(job.id):
                continue  # another kind's, followed here already, or by another worker
            try:
                if job.queue_id is None:  # stopped before Venice's id was stored: it cannot be followed
                    self._spawn(self._leases.keep(job.id, functools.partial(self._unstarted, job)))
                else:
                    self._run(job, await self._reservation(job), None)
            except BaseException:
                await self._leases.give_back(job.id)
                raise
            resumed += 1
        if resumed:
            log.info("Resuming %d %s job(s)", resumed, self.info.kind)
        return resumed

    def start(self) -> None:
        """With other workers on the database, take over their jobs when they stop following
        them (a worker died): look every ``RESUME_SECONDS``, until ``aclose``."""
        if self._leases.workers.shared and self._resuming is None:
            name = f"{self.info.kind}-resume"
            self._resuming = asyncio.create_task(self._resume_forever(), name=name)

    async def _resume_forever(self) -> None:
        while True:
            await asyncio.sleep(RESUME_SECONDS)  # real time: it only paces
            try:
                await self.resume()
            except Exception:  # a failed look must not stop the next one
                log.exception("Looking for %s jobs to resume failed", self.info.kind)

    async def _reservation(self, job: VideoJob) -> Reservation:
        return await self._cashier.resume(job.owner, job.reservation or "", job.quote, self.info.feature)

    async def _unstarted(self, job: VideoJob) -> None:
        """Refund a job whose queue id never reached the database, and tell its user.

        Each step may be repeated by the next start (the job stays queued until the last
        one): the refund closes the reservation once, the user may be told twice.
        """
        if job.reservation:
            await self._cashier.refund(await self._reservation(job))
        await self._deliver(job, None, error=BotError(self.info.not_started()))
        await self.store.move(job.id, "queued", "failed", finished_at=self._clock())

    # ----- following a job to its end

    def _run(self, job: VideoJob, held: Reservation, stream: ReplyStream | None) -> None:
        self._spawn(self._leases.keep(job.id, lambda: self._follow(job, held, stream)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, job: VideoJob, held: Reservation, stream: ReplyStream | None) -> None:
        """Poll until the file is there (or the job fails or times out), then deliver it."""
        assert job.queue_id is not None
        noun = self.info.noun
        # Each outcome closes the reservation before the job leaves ``queued``: a crash in
        # between repeats the step at the next start, and the ledger closes a reservation once.
        try:
            data, mime_type = await self._poll(job, stream)
        except BotError as exc:
            note = exc.user_message
            note = note if "not charged" in note else f"{note} You were not charged."
            await self._failed(job, held, stream, BotError(f"The {noun} could not be made: {note}"))
            return
        except asyncio.CancelledError:
            if stream is not None:
                stream.fail(BotError(f"The bot is restarting; your {noun} will be sent when it is back."))
            raise
        except Exception as exc:  # a bug: refund, tell the user, keep the traceback
            log.exception("%s job %s failed", self.info.kind, job.id)
            await self._failed(job, held, stream, exc)
            return
        if not await self._deliver(job, stream, reply=self.result(job, data, mime_type)):
            if stream is not None:  # the adapter could not send it: nobody pays for a file not got
                command = self.info.command
                not_sent = f"Your {noun} was made but could not be sent here, so you were not charged. "
                await self._failed(job, held, None, BotError(f"{not_sent}Ask again with /{command}."))
            return  # else still queued and held: the next start polls it again and delivers it
        # Delivered first, paid second: a crash before the settlement is written sends the
        # file again at the next start, and still charges it once.
        await self._cashier.settle(held, job.quote, durable=True)
        await self.store.move(job.id, "queued", "done", finished_at=self._clock())
        try:  # the file is ours now: Venice need not keep it
            await self._venice.queue_complete(self.info.family, job.model, job.queue_id)
        except VeniceError as exc:
            log.warning("Could not delete %s %s from Venice's storage: %s", noun, job.queue_id, exc)

    async def _failed(
        self, job: VideoJob, held: Reservation, stream: ReplyStream | None, error: BaseException
    ) -> None:
        """Refund, tell the user, close the job (in that order: see ``_follow``)."""
        await self._cashier.refund(held)
        await self._deliver(job, stream, error=error)
        await self.store.move(job.id, "queued", "failed", finished_at=self._clock())

    async def _poll(self, job: VideoJob, stream: ReplyStream | None) -> tuple[bytes, str]:
        assert job.queue_id is not None
        wait, longest = self.poll_waits()
        timeout = self.timeout_seconds()
        failures = 0
        started = job.queued_at or self._clock()
        while True:
            if self._clock() - started > timeout:
                raise BotError(f"Venice did not finish it within {plural(round(timeout / 60), 'minute')}.")
            try:
                status = await self._venice.queue_retrieve(self.info.family, job.model, job.queue_id)
                failures = 0
            except VeniceError as exc:
                transient = exc.status is None or exc.status in RETRYABLE_STATUSES
                failures += 1
                if not transient or failures >= MAX_POLL_FAILURES:
                    raise
                log.info("Polling %s %s failed (%s); trying again", self.info.kind, job.queue_id, exc)
            else:
                if status.done:
                    if not status.data:
                        raise BotError(f"Venice sent an empty {self.info.noun}.")
                    return status.data, status.mime_type
                if stream is not None:
                    stream.set_status(self._progress(status.elapsed_ms, status.average_ms))
            await self._sleep(wait)
            wait = min(longest, wait * 1.5)

    def _progress(self, elapsed_ms: float | None, average_ms: float | None) -> str:
        if elapsed_ms is not None and average_ms:
            percent = min(99, int(100 * elapsed_ms / average_ms))
            return f"⏳ {self.info.making}… {percent}%"
        return f"⏳ {self.info.making}…"

    async def _deliver(
        self,
        job: VideoJob,
        stream: ReplyStream | None,
        *,
        reply: Reply | None = None,
        error: BaseException | None = None,
    ) -> bool:
        """To the waiting stream if there is one, else through the platform's deliverer.

        Returns whether it was handed over (to the stream, or sent by the deliverer).
        """
        noun = self.info.noun
        if stream is not None:
            if reply is None:
                stream.fail(error or BotError(f"The {noun} failed."))
                return True
            stream.finish(reply)
            return await stream.delivered()  # paid only once the adapter has sent it
        if reply is None:
            text = error.user_message if isinstance(error, BotError) else f"Sorry, your {noun} failed."
            reply = Reply(f"⚠️ {text}")
        where = Destination(job.platform, job.chat_id, job.user_id, job.thread_id)
        return await self._deliverers.send(where, reply, f"{noun} {job.id}", wait=DELIVERER_WAIT)

    async def aclose(self) -> None:
        """Stop following jobs; queued ones resume at the next start (or in another worker)."""
        if self._resuming is not None:
            self._resuming.cancel()
            await asyncio.gather(self._resuming, return_exceptions=True)
            self._resuming = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # A job cancelled before its follower began still holds its lease: give it back, so
        # another worker (or the next start) resumes it at once.
        await self._leases.give_back_all()

    async def wait_idle(self) -> None:
        """Wait until every followed job is delivered (tests)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)
