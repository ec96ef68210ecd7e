"""/edit with several pictures: Venice's multi-edit combines them (the first is the base, the
others are layers) with a model that takes that many, priced per edit from ``/models``."""

from __future__ import annotations

from typing import Any

from core import images
from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.catalogue import Catalogue
from core.errors import InvalidInput
from core.events import Attachment, IncomingMessage, Reply, ReplyStream
from core.media.uploads import priced
from core.runner import Runner
from core.settings import Settings
from core.text import clip
from core.venice.client import VeniceClient
from core.venice.types import ModelInfo

PROMPT_LIMIT = 7500
DEFAULT_INPUTS = 3  # the spec: without maxInputImages a model combines 3 (1 without combineImages)
# The spec: each image has at least 65,536 and at most 33,177,600 pixels, and under 25 MB.
MIN_AREA, MAX_AREA = 65_536, 33_177_600


def model_constraints(model: ModelInfo) -> dict[str, Any]:
    """The model's ``model_spec.constraints`` ({} when it lists none)."""
    spec = model.raw.get("model_spec") if model.raw else None
    constraints = spec.get("constraints") if isinstance(spec, dict) else None
    return constraints if isinstance(constraints, dict) else {}


def most_inputs(model: ModelInfo) -> int:
    """How many images the model combines (``maxInputImages``, else the spec's default)."""
    constraints = model_constraints(model)
    if not constraints.get("combineImages"):
        return 1
    return int(constraints.get("maxInputImages") or DEFAULT_INPUTS)


class Combinations:
    """Edit several pictures into one."""

    def __init__(
        self,
        settings: Settings,
        *,
        venice: VeniceClient,
        catalogue: Catalogue,
        prices: Prices,
        cashier: Cashier,
        runner: Runner,
    ) -> None:
        self.settings = settings
        self._venice = venice
        self._catalogue = catalogue
        self._prices = MediaPrices(prices)
        self._cashier = cashier
        self._runner = runner

    async def model(self, count: int) -> ModelInfo:
        """The edit model for ``count`` pictures: IMAGE_EDIT_MODEL if it combines that many, else
        the cheapest that does."""
        found = [m for m in await self._catalogue.models_of("inpaint") if most_inputs(m) >= count]
        configured = next((m for m in found if m.id == self.settings.image_edit_model), None)
        if configured is not None:
            return configured
        priced_models = [(self._prices.edit(m), m) for m in found]
        cheapest = sorted((price, m.id, m) for price, m in priced_models if price is not None)
        if not cheapest:
            most = max((most_inputs(m) for m in await self._catalogue.models_of("inpaint")), default=1)
            raise InvalidInput(
                f"Venice offers no edit model that combines {count} pictures right now (at most "
                f"{most}). Send fewer pictures with /edit."
            )
        return cheapest[0][2]

    async def combine(
        self, message: IncomingMessage, prompt: str, sources: tuple[Attachment, ...], *, safe_mode: bool
    ) -> ReplyStream:
        """Combine the pictures as the prompt says (the first is the base), paid per edit."""
        checked = [_checked(number, source) for number, source in enumerate(sources, start=1)]
        model = await self.model(len(sources))
        limit = int(model_constraints(model).get("promptCharacterLimit") or PROMPT_LIMIT)
        if len(prompt) > limit:
            raise InvalidInput(
                f"The edit prompt is {len(prompt):,} characters; {model.id} takes up to {limit:,}."
            )
        price = priced(self._prices.edit(model), model)
        urls = [
            images.data_url(source.data, info.mime_type)
            for source, info in zip(sources, checked, strict=True)
        ]

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(message, price, feature="edit", model_id=model.id) as held:
                data, _mime = await self._venice.multi_edit(
                    urls, prompt=prompt, model=model.id, safe_mode=safe_mode
                )
                result = images.inspect(data)  # Venice answered with something we can show
            reply = Reply(
                text=f"🖌️ {clip(prompt, 200)} ({len(sources)} pictures combined)",
                attachments=(
                    Attachment("image", result.mime_type, data, filename=f"combined.{result.extension}"),
                ),
            )
            await self._cashier.settle_on_delivery(held, price, stream, reply)

        return self._runner.spawn(work, activity="upload_photo")


def _checked(number: int, source: Attachment) -> images.ImageInfo:
    """Refuse a picture Venice would refuse (by size or pixels) before anything is paid."""
    info = images.check_upload(source.data)
    area = info.width * info.height
    if not MIN_AREA <= area <= MAX_AREA:
        raise InvalidInput(
            f"Picture {number} is {info.width}×{info.height} pixels; Venice combines pictures of "
            f"{MIN_AREA:,} to {MAX_AREA:,} pixels (e.g. 256×256 up to 7680×4320)."
        )
    return info
