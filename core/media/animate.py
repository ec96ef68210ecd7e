"""Animate a picture: ``/video`` with a picture picks an image-to-video model (by its spec's
``model_type``) and sends the picture as ``/video/queue``'s ``image_url``, a data URL.

The picture is kept in memory from the quote until the job is queued, never in the database:
after a restart in between, the user is asked to send it again (nothing was charged yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core import images
from core.errors import InvalidInput
from core.events import Attachment
from core.venice.types import ModelInfo

if TYPE_CHECKING:
    from core.catalogue import Catalogue
    from core.ports.records import VideoJob
    from core.settings import Settings

HELD = "(the picture to animate: kept in memory until queued)"  # in the stored request
LOST = "The bot restarted and no longer has the picture to animate. Send it again with /video."


def animates(model: ModelInfo) -> bool:
    """Whether a video model animates a picture (its spec's ``model_type`` is image-to-video)."""
    spec = model.raw.get("model_spec") if model.raw else None
    constraints = spec.get("constraints") if isinstance(spec, dict) else None
    return isinstance(constraints, dict) and constraints.get("model_type") == "image-to-video"


async def video_model(
    catalogue: Catalogue, settings: Settings, wanted: str | None, animate: bool
) -> ModelInfo:
    """The video model asked for, configured, or the first Venice lists: of the image-to-video
    models when ``animate``, else of the others."""
    found = [m for m in await catalogue.models_of("video") if animates(m) == animate]
    wanted = wanted or (settings.default_image_to_video_model if animate else settings.default_video_model)
    for model in found:
        if wanted is None or model.id.lower() == wanted.lower():
            return model
    names = ", ".join(m.id for m in found) or "none right now"
    kind = "image-to-video" if animate else "video"
    raise InvalidInput(f"There is no {kind} model {wanted!r}. {kind.capitalize()} models: {names}.")


class HeldPictures:
    """The pictures of quoted jobs, by job id, until they are queued (or their quote expires)."""

    def __init__(self, clock: Callable[[], float], expiry: float) -> None:
        self._clock = clock
        self._expiry = expiry
        self._pictures: dict[str, tuple[float, str]] = {}

    def hold(self, job_id: str, picture: Attachment) -> str:
        """Keep the job's picture (refusing one Venice would); return what the stored request
        says in its place."""
        info = images.check_upload(picture.data)  # Venice takes images under 25 MB
        now = self._clock()
        for job, (quoted_at, _url) in list(self._pictures.items()):
            if now - quoted_at > self._expiry:  # an offer nobody took: its quote has expired too
                del self._pictures[job]
        self._pictures[job_id] = (now, images.data_url(picture.data, info.mime_type))
        return HELD

    def lost(self, job: VideoJob) -> bool:
        """Whether the job animates a picture that is no longer here (the bot restarted since
        its quote: ``LOST`` says so)."""
        return "image_url" in job.request and job.id not in self._pictures

    def queued_body(self, job: VideoJob, body: dict[str, Any]) -> dict[str, Any]:
        """The request that queues the job, its picture (taken from here: it is queued now, or
        the job fails) in place of the marker."""
        return body | {"image_url": self._pictures.pop(job.id)[1]} if "image_url" in body else body
