"""/video: a quote first, then a paid job at Venice that is polled, delivered and cleaned up.

Jobs are stored, and every step is written before the next one starts, so a crash at any moment
loses neither the video nor the money:

- the job moves to ``queued`` with its reservation before Venice is asked (a pending row);
- Venice's queue id is stored the moment it arrives, before anything else is done with it;
- the video is handed to the chat before the reservation is settled and the job marked done;
- Venice is told to delete its copy (``/video/complete``) only after that.

At start-up, ``resume`` polls every queued job with a queue id again and delivers its video
through the platform's registered deliverer (a video cut off in delivery is sent again, charged
once: settling is idempotent). A queued job without a queue id was killed between Venice's answer
and the write: its reservation is refunded and its user told.
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
from core.events import Attachment, Choice, Destination, IncomingMessage, Reply, ReplyStream
from core.media import animate
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
MAX_POLL_SECONDS = 30.0
MAX_POLL_FAILURES = 8  # in a row, before a job is given up (and refunded)
DELIVERER_WAIT = 300.0  # after a restart, how long a finished job waits for its platform
RESUME_SECONDS = 60.0  # how often a worker looks for jobs a dead worker stopped following
NOT_STARTED = (
    "Your video could not be started before the bot restarted, so it was not made. "
    "You were not charged; ask again with /video."
)
NOT_SENT = "Your video was made but could not be sent here, so you were not charged. Ask again with /video."


class Deliverers(dict[str, Callable[[Destination, Reply], Awaitable[None]]]):
    """Each running adapter's way to post a late result; waiters learn when one registers."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __setitem__(self, platform: str, deliver: Callable[[Destination, Reply], Awaitable[None]]) -> None:
        super().__setitem__(platform, deliver)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self, platform: str, timeout: float
    ) -> Callable[[Destination, Reply], Awaitable[None]] | None:
        """The platform's deliverer, waiting up to ``timeout`` seconds for it to register."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while platform not in self:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self[platform]


class VideoJobs:
    """Quote, confirm, run and resume video jobs."""

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
        self._leases = VideoLeases(workers)
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
        self._pictures = animate.HeldPictures(clock, QUOTE_SECONDS)  # to animate: in memory only

    async def quote(self, message: IncomingMessage, prompt: str, options: dict[str, Any]) -> Reply:
        """Ask Venice for the price and offer the job with Confirm and Cancel buttons (to animate
        ``options["picture"]`` when given, an Attachment)."""
        picture: Attachment | None = options.pop("picture", None)
        model = await animate.video_model(self._catalogue, self.settings, options.get("model"), bool(picture))
        spec = model.raw.get("model_spec", {}) if model.raw else {}
        constraints = spec.get("constraints") or {}
        limit = int(constraints.get("prompt_character_limit") or 2500)
        if len(prompt) > limit:
            raise InvalidInput(f"The prompt is {len(prompt):,} characters; {model.id} takes up to {limit:,}.")
        body: dict[str, Any] = {"model": model.id}
        for option, key in (
            ("duration", "durations"),
            ("aspect", "aspect_ratios"),
            ("resolution", "resolutions"),
        ):
            allowed = [str(v) for v in constraints.get(key) or ()]
            value = options.get(option)
            if value is not None and allowed and str(value) not in allowed:
                raise InvalidInput(f"{model.id} takes --{option} {' | '.join(allowed)}; not {value}.")
            if value is None and allowed and option == "duration":
                value = allowed[0]
            if value is not None:
                body[{"aspect": "aspect_ratio"}.get(option, option)] = str(value)
        if "duration" not in body:
            body["duration"] = "5s"
        usd_quote = await self._venice.video_quote(body)
        price = self._prices._micro(usd_quote, "video")
        owner = await self._cashier.account_of(message)
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        job_id = secrets.token_hex(5)
        if chat.ephemeral:
            self._prompts[job_id] = prompt
        if picture is not None:
            body["image_url"] = self._pictures.hold(job_id, picture)
        job = VideoJob(
            id=job_id,
            status="quoted",
            platform=message.platform,
            chat_id=message.chat_id,
            thread_id=message.thread_id,
            user_id=message.user_id,
            owner=owner,
            model=model.id,
            request=body | {"prompt": "" if chat.ephemeral else prompt},
            quote=price,
            reservation=None,
            queue_id=None,
            created_at=self._clock(),
            queued_at=None,
            finished_at=None,
        )
        await self.store.create(job)
        return Reply(
            text=f"🎬 {'Animating your picture: a' if picture else 'A'} {body['duration']} video with {model.id} costs {usd(price)}. Make it?\n> {prompt[:300]}",
            choices=(
                Choice(f"✅ Make it ({usd(price)})", f"/videoconfirm {job.id}"),
                Choice("✖ Cancel", f"/videocancel {job.id}"),
            ),
        )

    def prompt_of(self, job: VideoJob) -> str:
        """The job's prompt (from memory for ephemeral chats)."""
        return self._prompts.get(job.id) or job.prompt

    async def _asked(self, message: IncomingMessage, job_id: str) -> VideoJob:
        job = await self.store.get(job_id)
        if job is None or job.platform != message.platform or job.chat_id != message.chat_id:
            raise InvalidInput("There is no such video request here. Start one with /video.")
        if job.user_id != message.user_id:
            raise PermissionDenied("Only the person who asked for this video can confirm or cancel it.")
        if job.status != "quoted":
            raise InvalidInput(
                {
                    "queued": "This video is being made already.",
                    "done": "This video was delivered already.",
                    "cancelled": "This video request was cancelled.",
                    "failed": "This video failed; start again with /video.",
                }.get(job.status, "")
            )
        return job

    async def cancel(self, message: IncomingMessage, job_id: str) -> Reply:
        """Drop a quoted job; nothing was reserved yet."""
        job = await self._asked(message, job_id)
        await self.store.move(job.id, "quoted", "cancelled", finished_at=self._clock())
        return Reply("Video request cancelled. Nothing was charged.")

    async def confirm(self, message: IncomingMessage, job_id: str) -> ReplyStream:
        """Reserve the quoted price, queue the job at Venice, and follow it to the video."""
        job = await self._asked(message, job_id)
        if self._clock() - job.created_at > QUOTE_SECONDS:
            await self.store.move(job.id, "quoted", "cancelled", finished_at=self._clock())
            raise InvalidInput("That price quote has expired. Ask again with /video.")
        # (Not cancelled if a double press queued it meanwhile: that one is told below.)
        if self._pictures.lost(job) and await self.store.move(
            job.id, "quoted", "cancelled", finished_at=self._clock()
        ):
            raise InvalidInput(animate.LOST)
        # Claimed before it is queued: another worker looking for jobs to resume leaves it alone.
        if not await self._leases.take(job.id):
            raise InvalidInput("This video is being made already.")
        try:
            return await self._confirm(message, job)
        except BaseException:
            await self._leases.give_back(job.id)
            raise

    async def _confirm(self, message: IncomingMessage, job: VideoJob) -> ReplyStream:
        async with self._cashier.paying(
            message, job.quote, feature="video", model_id=job.model, answers=False
        ) as held:
            if not await self.store.move(
                job.id, "quoted", "queued", reservation=held.request_id, queued_at=self._clock()
            ):
                raise InvalidInput("This video is being made already.")  # a double press
            try:
                body = self._pictures.queued_body(job, job.request | {"prompt": self.prompt_of(job)})
                queue_id = await self._venice.video_queue(body)
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
        stream = ReplyStream("upload_video")
        stream.set_status("⏳ Video queued at Venice…")
        self._run(queued, held, stream)
        return stream

    async def resume(self) -> int:
        """Follow the jobs that were running when the bot stopped (and no other worker
        follows); returns how many."""
        resumed = 0
        for job in await self.store.queued():
            if not await self._leases.take(job.id):
                continue  # followed here already, or by another worker
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
            log.info("Resuming %d video job(s)", resumed)
        return resumed

    def start(self) -> None:
        """With other workers on the database, take over their jobs when they stop following
        them (a worker died): look every ``RESUME_SECONDS``, until ``aclose``."""
        if self._leases.workers.shared and self._resuming is None:
            self._resuming = asyncio.create_task(self._resume_forever(), name="video-resume")

    async def _resume_forever(self) -> None:
        while True:
            await asyncio.sleep(RESUME_SECONDS)  # real time: it only paces
            try:
                await self.resume()
            except Exception:  # a failed look must not stop the next one
                log.exception("Looking for video jobs to resume failed")

    async def _reservation(self, job: VideoJob) -> Reservation:
        return await self._cashier.resume(job.owner, job.reservation or "", job.quote, "video")

    async def _unstarted(self, job: VideoJob) -> None:
        """Refund a job whose queue id never reached the database, and tell its user.

        Each step may be repeated by the next start (the job stays queued until the last
        one): the refund closes the reservation once, the user may be told twice.
        """
        if job.reservation:
            await self._cashier.refund(await self._reservation(job))
        await self._deliver(job, None, error=BotError(NOT_STARTED))
        await self.store.move(job.id, "queued", "failed", finished_at=self._clock())

    def _run(self, job: VideoJob, held: Reservation, stream: ReplyStream | None) -> None:
        self._spawn(self._leases.keep(job.id, lambda: self._follow(job, held, stream)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, job: VideoJob, held: Reservation, stream: ReplyStream | None) -> None:
        """Poll until the video is there (or the job fails or times out), then deliver it."""
        assert job.queue_id is not None
        # Each outcome closes the reservation before the job leaves ``queued``: a crash in
        # between repeats the step at the next start, and the ledger closes a reservation once.
        try:
            video = await self._poll(job, stream)
        except BotError as exc:
            await self._cashier.refund(held)
            note = (
                exc.user_message
                if "not charged" in exc.user_message
                else f"{exc.user_message} You were not charged."
            )
            await self._deliver(job, stream, error=BotError(f"The video could not be made: {note}"))
            await self.store.move(job.id, "queued", "failed", finished_at=self._clock())
            return
        except asyncio.CancelledError:
            if stream is not None:
                stream.fail(BotError("The bot is restarting; your video will be sent when it is back."))
            raise
        except Exception as exc:  # a bug: refund, tell the user, keep the traceback
            log.exception("Video job %s failed", job.id)
            await self._cashier.refund(held)
            await self._deliver(job, stream, error=exc)
            await self.store.move(job.id, "queued", "failed", finished_at=self._clock())
            return
        reply = Reply(
            text=f"🎬 {self.prompt_of(job)[:900]}",
            attachments=(Attachment("video", video[1], video[0], filename="venice-video.mp4"),),
        )
        if not await self._deliver(job, stream, reply=reply):
            if stream is not None:  # the adapter could not send it: nobody pays for a video not got
                await self._cashier.refund(held)
                await self._deliver(job, None, error=BotError(NOT_SENT))
                await self.store.move(job.id, "queued", "failed", finished_at=self._clock())
            return  # else still queued and held: the next start polls it again and delivers it
        # Delivered first, paid second: a crash before the settlement is written sends the
        # video again at the next start, and still charges it once.
        await self._cashier.settle(held, job.quote, durable=True)
        await self.store.move(job.id, "queued", "done", finished_at=self._clock())
        try:  # the video is ours now: Venice need not keep it
            await self._venice.video_complete(job.model, job.queue_id)
        except VeniceError as exc:
            log.warning("Could not delete video %s from Venice's storage: %s", job.queue_id, exc)

    async def _poll(self, job: VideoJob, stream: ReplyStream | None) -> tuple[bytes, str]:
        assert job.queue_id is not None
        wait = self.settings.video_poll_seconds
        failures = 0
        started = job.queued_at or self._clock()
        while True:
            if self._clock() - started > self.settings.video_timeout_seconds:
                raise BotError(
                    "Venice did not finish it within "
                    f"{plural(round(self.settings.video_timeout_seconds / 60), 'minute')}."
                )
            try:
                status = await self._venice.video_retrieve(job.model, job.queue_id)
                failures = 0
            except VeniceError as exc:
                transient = exc.status is None or exc.status in RETRYABLE_STATUSES
                failures += 1
                if not transient or failures >= MAX_POLL_FAILURES:
                    raise
                log.info("Polling video %s failed (%s); trying again", job.queue_id, exc)
            else:
                if status.done:
                    if not status.video:
                        raise BotError("Venice sent an empty video.")
                    return status.video, status.mime_type
                if stream is not None:
                    stream.set_status(_progress(status.elapsed_ms, status.average_ms))
            await self._sleep(wait)
            wait = min(MAX_POLL_SECONDS, wait * 1.5)

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
        if stream is not None:
            if reply is None:
                stream.fail(error or BotError("The video failed."))
                return True
            stream.finish(reply)
            return await stream.delivered()  # paid only once the adapter has sent it
        deliver = await self._deliverers.wait_for(job.platform, DELIVERER_WAIT)
        if deliver is None:
            log.warning("Video %s is done but no %s adapter is running to deliver it", job.id, job.platform)
            return False
        if reply is None:
            text = error.user_message if isinstance(error, BotError) else "Sorry, your video failed."
            reply = Reply(f"⚠️ {text}")
        try:
            await deliver(Destination(job.platform, job.chat_id, job.user_id, job.thread_id), reply)
        except Exception:
            log.exception("Delivering video %s failed", job.id)
            return False
        return True

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


def _progress(elapsed_ms: float | None, average_ms: float | None) -> str:
    if elapsed_ms is not None and average_ms:
        percent = min(99, int(100 * elapsed_ms / average_ms))
        return f"⏳ Rendering the video… {percent}%"
    return "⏳ Rendering the video…"
