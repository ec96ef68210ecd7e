"""/imagine, /upscale and /edit: checked against the model's limits, priced, paid, delivered."""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from typing import Any

from core import images
from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.catalogue import Catalogue
from core.errors import InvalidInput
from core.events import Attachment, Charge, IncomingMessage, Notice, Reply, ReplyStream
from core.media.combining import Combinations, model_constraints
from core.media.uploads import priced, source_image, source_images
from core.ports.records import ChatSettings
from core.ports.storage import ChatSettingsStore
from core.runner import Runner
from core.settings import Settings
from core.text import clip
from core.venice.client import VeniceClient
from core.venice.types import ModelInfo

log = logging.getLogger(__name__)

MAX_VARIANTS = 4
MAX_SIDE = 1280  # Venice: width and height up to 1280
DEFAULT_SIDE = 1024
PROMPT_LIMIT = 7500
SEED_LIMIT = 999_999_999
IMAGE_FORMAT = "png"  # shown inline by every platform, unlike WebP (Venice's default)
IMAGE_TOKENS = 1_200  # a rough prompt cost of one image for estimates


@dataclass(frozen=True)
class ImageRequest:
    """A checked /imagine request."""

    model: ModelInfo
    body: dict[str, Any]
    variants: int


class Images:
    """Generate, upscale and edit pictures for users."""

    def __init__(
        self,
        settings: Settings,
        *,
        venice: VeniceClient,
        chat_settings: ChatSettingsStore,
        prices: Prices,
        catalogue: Catalogue,
        cashier: Cashier,
        runner: Runner,
    ) -> None:
        self.settings = settings
        self._catalogue = catalogue
        self._venice = venice
        self._chat_settings = chat_settings
        self._prices = MediaPrices(prices)
        self._cashier = cashier
        self._runner = runner
        self._combinations = Combinations(
            settings, venice=venice, catalogue=catalogue, prices=prices, cashier=cashier, runner=runner
        )

    # ----- catalogue

    async def image_model(self, wanted: str | None) -> ModelInfo:
        """The model for /imagine: asked for, configured, or Venice's default image model."""
        found = await self._catalogue.models_of("image")
        wanted = wanted or self.settings.default_image_model
        if wanted:
            for model in found:
                if model.id.lower() == wanted.lower():
                    return model
            raise InvalidInput(f"There is no image model {wanted!r}. {_listing(found)}")
        for model in found:
            if "default" in model.traits:
                return model
        if not found:
            raise InvalidInput("Venice lists no image models right now. Try again later.")
        return found[0]

    # ----- /imagine

    async def image_request(
        self, message: IncomingMessage, chat: ChatSettings, prompt: str, options: dict[str, Any]
    ) -> ImageRequest:
        """Check /imagine's options against the model's limits; build the request body."""
        model = await self.image_model(options.get("model"))
        constraints = model_constraints(model)
        limit = int(constraints.get("promptCharacterLimit") or PROMPT_LIMIT)
        if len(prompt) > limit:
            raise InvalidInput(f"The prompt is {len(prompt):,} characters; {model.id} takes up to {limit:,}.")
        variants = int(options.get("variants") or 1)
        if not 1 <= variants <= MAX_VARIANTS:
            raise InvalidInput(f"--variants must be 1 to {MAX_VARIANTS}.")
        body: dict[str, Any] = {
            "model": model.id,
            "prompt": prompt,
            "variants": variants,
            "format": IMAGE_FORMAT,
            "safe_mode": self.safe_mode(message, chat),
            "hide_watermark": False,
        }
        body.update(self._image_size(model, options.get("aspect"), options.get("size")))
        negative = options.get("negative")
        if negative:
            if len(negative) > PROMPT_LIMIT:
                raise InvalidInput(f"The negative prompt is too long (over {PROMPT_LIMIT:,} characters).")
            body["negative_prompt"] = negative
        seed = options.get("seed")
        if seed is not None:
            if not -SEED_LIMIT <= int(seed) <= SEED_LIMIT:
                raise InvalidInput(f"--seed must be between -{SEED_LIMIT:,} and {SEED_LIMIT:,}.")
            body["seed"] = int(seed)
        style = options.get("style")
        if style:
            styles = await self._venice.image_styles()
            match = next((s for s in styles if s.lower() == str(style).lower()), None)
            if match is None:
                close = difflib.get_close_matches(str(style), styles, n=5, cutoff=0.4)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise InvalidInput(
                    f"There is no style {style!r}.{hint} See the styles in /imagine's options."
                )
            body["style_preset"] = match
        return ImageRequest(model, body, variants)

    def _image_size(self, model: ModelInfo, aspect: str | None, size: str | None) -> dict[str, Any]:
        """``aspect_ratio`` where the model lists ratios, else width and height within its limits."""
        constraints = model_constraints(model)
        ratios = [str(r) for r in constraints.get("aspectRatios") or ()]
        if size and aspect:
            raise InvalidInput("Give either --aspect or --size, not both.")
        if ratios:
            if size:
                raise InvalidInput(
                    f"{model.id} takes an aspect ratio, not a size: one of {', '.join(ratios)}."
                )
            if aspect and aspect not in ratios:
                raise InvalidInput(f"{model.id} makes images in {', '.join(ratios)}; not {aspect}.")
            body: dict[str, Any] = {"aspect_ratio": aspect} if aspect else {}
            if constraints.get("defaultResolution"):
                body["resolution"] = constraints["defaultResolution"]
            return body
        divisor = int(constraints.get("widthHeightDivisor") or 8)
        if size:
            found = re.fullmatch(r"(\d{2,5})\s*[x×*]\s*(\d{2,5})", size.strip().lower())
            if not found:
                raise InvalidInput("--size must look like 1024x768.")
            width, height = int(found[1]), int(found[2])
            if not (64 <= width <= MAX_SIDE and 64 <= height <= MAX_SIDE):
                raise InvalidInput(f"Width and height must be 64 to {MAX_SIDE} pixels.")
        elif aspect:
            found = re.fullmatch(r"(\d{1,2})\s*:\s*(\d{1,2})", aspect.strip())
            if not found or not int(found[1]) or not int(found[2]):
                raise InvalidInput("--aspect must look like 16:9.")
            w, h = int(found[1]), int(found[2])
            if max(w, h) / min(w, h) > 4:
                raise InvalidInput("The aspect ratio can be at most 4:1.")
            scale = MAX_SIDE / max(w, h) if max(w, h) / min(w, h) > 1 else DEFAULT_SIDE / w
            width, height = round(w * scale), round(h * scale)
        else:
            width = height = DEFAULT_SIDE
        return {"width": width // divisor * divisor, "height": height // divisor * divisor}

    def safe_mode(self, message: IncomingMessage, chat: ChatSettings) -> bool:
        """Safe mode: the channel's NSFW flag where the platform has one, else the chat's setting."""
        if message.nsfw is not None:
            return not message.nsfw
        return chat.safe_mode

    async def priced_request(
        self, message: IncomingMessage, prompt: str, options: dict[str, Any]
    ) -> tuple[ImageRequest, int]:
        """A checked request for these options, and what it costs (micro-USD)."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        request = await self.image_request(message, chat, prompt, options)
        price = self._prices.image_generation(
            request.model, variants=request.variants, resolution=request.body.get("resolution")
        )
        return request, priced(price, request.model)

    async def imagine(self, message: IncomingMessage, prompt: str, options: dict[str, Any]) -> ReplyStream:
        """Generate images (up to four variants), paid per image."""
        request, price = await self.priced_request(message, prompt, options)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(
                message, price, feature="image", model_id=request.model.id
            ) as held:
                files, notices = await self._generate(message, request)
            seed = f" · seed {request.body['seed']}" if "seed" in request.body else ""
            reply = Reply(f"🎨 {clip(prompt, 200)} ({request.model.id}{seed})", files, notices=tuple(notices))
            await self._cashier.settle_on_delivery(held, price, stream, reply)

        return self._runner.spawn(work, activity="upload_photo")

    async def draw(
        self, message: IncomingMessage, prompt: str, options: dict[str, Any]
    ) -> tuple[tuple[Attachment, ...], list[Notice], Charge]:
        """Generate images as /imagine does, for the model's ``generate_image`` tool: paid at once
        (the returned charge goes with the turn's answer, refunded if it cannot be delivered)."""
        request, price = await self.priced_request(message, prompt, options)
        async with self._cashier.paying(
            message, price, feature="image", model_id=request.model.id, answers=False
        ) as held:
            files, notices = await self._generate(message, request)
        charged = await self._cashier.settle(held, price)
        return files, notices, Charge.of(held, charged)

    async def _generate(
        self, message: IncomingMessage, request: ImageRequest
    ) -> tuple[tuple[Attachment, ...], list[Notice]]:
        """The images and what to say of them; raises (and so refunds) on a withheld image."""
        result = await self._venice.generate_images(request.body)
        if result.content_violation or not result.images:
            raise InvalidInput(
                "Venice withheld this image: the prompt breaks its content policy. You were not charged."
            )
        notices = []
        if result.blurred:
            notices.append(
                Notice(
                    "Venice blurred this image because safe mode is on here. "
                    + (
                        "Mark the channel as age-restricted (NSFW) to turn it off."
                        if message.nsfw is not None
                        else "A chat admin can turn it off with /safemode off."
                    ),
                    "info",
                )
            )
        files = tuple(
            Attachment("image", images.MIME["PNG"], data, filename=f"venice-{number}.png")
            for number, data in enumerate(result.images, start=1)
        )
        return files, notices

    # ----- /upscale and /edit

    async def upscale(self, message: IncomingMessage, scale: int) -> ReplyStream:
        """Upscale the image the user attached or replied to, 2× or 4×."""
        source = source_image(message, "/upscale")
        info = images.check_upload(source.data)
        images.check_upscale(info, scale)
        price = priced(await self._upscale_price(scale), None)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(message, price, feature="upscale", model_id="upscale") as held:
                data = await self._venice.upscale(
                    source.data, scale=scale, mime_type=info.mime_type, filename=f"image.{info.extension}"
                )
                result = images.inspect(data)  # Venice answered with something we can show
            reply = Reply(
                text=f"🔍 Upscaled {scale}×: {result.width}×{result.height}",
                attachments=(
                    Attachment(
                        "image", result.mime_type, data, filename=f"upscaled-{scale}x.{result.extension}"
                    ),
                ),
            )
            await self._cashier.settle_on_delivery(held, price, stream, reply)

        return self._runner.spawn(work, activity="upload_photo")

    async def _upscale_price(self, scale: int) -> int | None:
        for kind in ("upscale", "image"):
            for model in await self._catalogue.models_of(kind):
                price = self._prices.upscale(model, scale)
                if price is not None:
                    return price
        return None

    async def edit(self, message: IncomingMessage, prompt: str) -> ReplyStream:
        """Change the attached or replied-to image as the prompt says; several images (an album,
        or a reply plus attached ones) are combined by a model that takes them all."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        safe = self.safe_mode(message, chat)
        sources = source_images(message)
        if len(sources) > 1:
            return await self._combinations.combine(message, prompt, sources, safe_mode=safe)
        source = source_image(message, "/edit")
        info = images.check_upload(source.data)
        model_id = self.settings.image_edit_model
        model = next((m for m in await self._catalogue.models_of("inpaint") if m.id == model_id), None)
        if model is None:
            raise InvalidInput(f"Venice does not offer the edit model {model_id} right now.")
        limit = int(model_constraints(model).get("promptCharacterLimit") or PROMPT_LIMIT)
        if len(prompt) > limit:
            raise InvalidInput(
                f"The edit prompt is {len(prompt):,} characters; {model.id} takes up to {limit:,}."
            )
        price = priced(self._prices.edit(model), model)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(message, price, feature="edit", model_id=model.id) as held:
                data, _mime = await self._venice.edit_image(
                    source.data,
                    prompt=prompt,
                    model=model.id,
                    mime_type=info.mime_type,
                    filename=f"image.{info.extension}",
                    safe_mode=safe,
                )
                result = images.inspect(data)
            reply = Reply(
                text=f"🖌️ {clip(prompt, 200)}",
                attachments=(
                    Attachment("image", result.mime_type, data, filename=f"edited.{result.extension}"),
                ),
            )
            await self._cashier.settle_on_delivery(held, price, stream, reply)

        return self._runner.spawn(work, activity="upload_photo")


def _listing(models: tuple[ModelInfo, ...]) -> str:
    return "Image models: " + ", ".join(m.id for m in models) + "." if models else ""
