"""/video: a quote first, then a paid job at Venice that is polled, delivered and cleaned up
(the queued-job path, shared with /music, is ``core.media.jobs``)."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.events import Attachment, IncomingMessage, Reply
from core.media import animate
from core.media.job_kinds import JobKindInfo
from core.media.jobs import QUOTE_SECONDS, QueuedJobs, new_job_id
from core.money import usd
from core.ports.records import VideoJob

MAX_POLL_SECONDS = 30.0
VIDEO = JobKindInfo(
    kind="video",
    family="video",
    feature="video",
    command="video",
    noun="video",
    making="Rendering the video",
    activity="upload_video",
)


class VideoJobs(QueuedJobs):
    """Quote, confirm, run and resume video jobs (a picture's too: animated by image_url)."""

    info = VIDEO

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pictures = animate.HeldPictures(self._clock, QUOTE_SECONDS)  # to animate: in memory only

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
        price = await self.price(body)  # the quote needs no picture
        job_id = new_job_id()
        if picture is not None:
            body["image_url"] = self._pictures.hold(job_id, picture)
        what = "Animating your picture: a" if picture else "A"
        text = f"🎬 {what} {body['duration']} video with {model.id} costs {usd(price)}."
        return await self.offer(message, body, prompt, price, text, job_id=job_id)

    async def check_quoted(self, job: VideoJob) -> None:
        """A picture to animate that a restart lost: cancel the quote, ask for it again."""
        # (Not cancelled if a double press queued it meanwhile: that one is told below.)
        if self._pictures.lost(job) and await self.store.move(
            job.id, "quoted", "cancelled", finished_at=self._clock()
        ):
            raise InvalidInput(animate.LOST)

    def queued_body(self, job: VideoJob, body: dict[str, Any]) -> dict[str, Any]:
        """The picture (taken from memory now) in place of its marker."""
        return self._pictures.queued_body(job, body)

    def poll_waits(self) -> tuple[float, float]:
        """From ``VIDEO_POLL_SECONDS``, half again longer each time, up to 30 s."""
        return self.settings.video_poll_seconds, MAX_POLL_SECONDS

    def timeout_seconds(self) -> float:
        """``VIDEO_TIMEOUT_SECONDS``."""
        return self.settings.video_timeout_seconds

    def result(self, job: VideoJob, data: bytes, mime_type: str) -> Reply:
        """The video, captioned with its prompt."""
        return Reply(
            text=f"🎬 {self.prompt_of(job)[:900]}",
            attachments=(Attachment("video", mime_type, data, filename="venice-video.mp4"),),
        )
