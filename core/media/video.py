"""/video: a quote first, then a paid job at Venice that is polled, delivered and cleaned up
(the queued-job path, shared with /music, is ``core.media.jobs``)."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.events import Attachment, IncomingMessage, Reply
from core.media.job_kinds import JobKindInfo
from core.media.jobs import QueuedJobs
from core.money import usd
from core.ports.records import VideoJob
from core.venice.types import ModelInfo

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
    """Quote, confirm, run and resume video jobs."""

    info = VIDEO

    async def model(self, wanted: str | None) -> ModelInfo:
        """The video model asked for, configured, or the first Venice lists."""
        found = await self._catalogue.models_of("video")
        wanted = wanted or self.settings.default_video_model
        for model in found:
            if wanted is None or model.id.lower() == wanted.lower():
                return model
        names = ", ".join(m.id for m in found) or "none right now"
        raise InvalidInput(f"There is no video model {wanted!r}. Video models: {names}.")

    async def quote(self, message: IncomingMessage, prompt: str, options: dict[str, Any]) -> Reply:
        """Ask Venice for the price and offer the job with Confirm and Cancel buttons."""
        model = await self.model(options.get("model"))
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
        price = await self.price(body)
        text = f"🎬 A {body['duration']} video with {model.id} costs {usd(price)}."
        return await self.offer(message, body, prompt, price, text)

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
