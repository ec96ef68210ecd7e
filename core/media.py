"""Images, speech and transcription: every media action checked, priced and paid through the ledger."""

from __future__ import annotations

import difflib
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from core import audio, images
from core.billing.cashier import Cashier
from core.billing.pricing import MediaPrices, Prices
from core.catalogue import Catalogue, voices_of
from core.errors import InvalidInput
from core.events import Attachment, AttachmentKind, IncomingMessage, Notice, Reply, ReplyStream
from core.ports.records import ChatSettings
from core.ports.storage import ChatSettingsStore
from core.runner import Runner
from core.settings import Settings
from core.venice.client import VeniceClient
from core.venice.errors import VeniceError
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


class MediaService:
    """The media half of the core: /imagine, /upscale, /edit, speech, transcription, vision."""

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
        self.prices = MediaPrices(prices)
        self._cashier = cashier
        self._runner = runner

    # ----- limits adapters check before downloading

    def check_download(self, kind: AttachmentKind, size: int | None, duration: float | None) -> None:
        """Refuse a user's file before it is downloaded, from what the platform says of it."""
        limit = images.MAX_UPLOAD_BYTES
        if size is not None and size >= limit:
            raise InvalidInput(
                f"That file is {size / 1048576:.1f} MB; the bot takes files under {limit // 1048576} MB."
            )
        if kind in ("voice", "audio", "video") and duration is not None:
            self.check_duration(duration)

    def check_duration(self, seconds: float) -> None:
        """Refuse audio longer than MAX_VOICE_SECONDS."""
        limit = self.settings.max_voice_seconds
        if seconds > limit:
            raise InvalidInput(
                f"That recording is {_duration(seconds)} long; the bot transcribes up to "
                f"{_duration(limit)}. Send a shorter one."
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
        constraints = _constraints(model)
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
        constraints = _constraints(model)
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

    async def imagine(self, message: IncomingMessage, prompt: str, options: dict[str, Any]) -> ReplyStream:
        """Generate images (up to four variants), paid per image."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        request = await self.image_request(message, chat, prompt, options)
        price = self.prices.image_generation(
            request.model, variants=request.variants, resolution=request.body.get("resolution")
        )
        price = self._priced(price, request.model)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(
                message, price, feature="image", model_id=request.model.id
            ) as held:
                result = await self._venice.generate_images(request.body)
                if result.content_violation or not result.images:
                    await self._cashier.refund(held)
                    raise InvalidInput(
                        "Venice withheld this image: the prompt breaks its content policy. "
                        "You were not charged."
                    )
                await self._cashier.settle(held, price)
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
            seed = f" · seed {request.body['seed']}" if "seed" in request.body else ""
            stream.finish(
                Reply(
                    text=f"🎨 {_clip(prompt, 200)} ({request.model.id}{seed})",
                    attachments=files,
                    notices=tuple(notices),
                )
            )

        return self._runner.spawn(work, activity="upload_photo")

    # ----- /upscale and /edit

    async def upscale(self, message: IncomingMessage, scale: int) -> ReplyStream:
        """Upscale the image the user attached or replied to, 2× or 4×."""
        source = _source_image(message, "/upscale")
        info = images.check_upload(source.data)
        images.check_upscale(info, scale)
        price = self._priced(await self._upscale_price(scale), None)

        async def work(stream: ReplyStream) -> None:
            async with self._cashier.paying(message, price, feature="upscale", model_id="upscale") as held:
                data = await self._venice.upscale(
                    source.data, scale=scale, mime_type=info.mime_type, filename=f"image.{info.extension}"
                )
                result = images.inspect(data)  # Venice answered with something we can show
                await self._cashier.settle(held, price)
            stream.finish(
                Reply(
                    text=f"🔍 Upscaled {scale}×: {result.width}×{result.height}",
                    attachments=(
                        Attachment(
                            "image", result.mime_type, data, filename=f"upscaled-{scale}x.{result.extension}"
                        ),
                    ),
                )
            )

        return self._runner.spawn(work, activity="upload_photo")

    async def _upscale_price(self, scale: int) -> int | None:
        for kind in ("upscale", "image"):
            for model in await self._catalogue.models_of(kind):
                price = self.prices.upscale(model, scale)
                if price is not None:
                    return price
        return None

    async def edit(self, message: IncomingMessage, prompt: str) -> ReplyStream:
        """Change the attached or replied-to image as the prompt says."""
        source = _source_image(message, "/edit")
        info = images.check_upload(source.data)
        model_id = self.settings.image_edit_model
        model = next((m for m in await self._catalogue.models_of("inpaint") if m.id == model_id), None)
        if model is None:
            raise InvalidInput(f"Venice does not offer the edit model {model_id} right now.")
        limit = int(_constraints(model).get("promptCharacterLimit") or PROMPT_LIMIT)
        if len(prompt) > limit:
            raise InvalidInput(
                f"The edit prompt is {len(prompt):,} characters; {model.id} takes up to {limit:,}."
            )
        price = self._priced(self.prices.edit(model), model)
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        safe = self.safe_mode(message, chat)

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
                await self._cashier.settle(held, price)
            stream.finish(
                Reply(
                    text=f"🖌️ {_clip(prompt, 200)}",
                    attachments=(
                        Attachment("image", result.mime_type, data, filename=f"edited.{result.extension}"),
                    ),
                )
            )

        return self._runner.spawn(work, activity="upload_photo")

    # ----- speech

    async def voice_of(self, chat: ChatSettings, character_voice: str | None = None) -> tuple[ModelInfo, str]:
        """The chat's TTS model and voice (a bound character's own voice first), checked
        against Venice's list."""
        models = await self._catalogue.models_of("tts")
        if character_voice:
            for candidate in models:
                if character_voice in voices_of(candidate):
                    return candidate, character_voice
        wanted = chat.tts_model or self.settings.default_tts_model
        model = next((m for m in models if m.id == wanted), None)
        if model is None:
            if not models:
                raise InvalidInput("Venice lists no text-to-speech models right now.")
            model = models[0]
        voices = voices_of(model)
        voice = chat.tts_voice or self.settings.default_tts_voice
        if voices and voice not in voices:
            voice = str(model.raw.get("model_spec", {}).get("default_voice") or voices[0])
        return model, voice

    async def speak(self, message: IncomingMessage, text: str) -> ReplyStream:
        """``/speak``: the text as a voice note."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)

        async def work(stream: ReplyStream) -> None:
            files, notices = await self.spoken(message, chat, text)
            stream.finish(Reply(attachments=files, notices=tuple(notices)))

        return self._runner.spawn(work, activity="record_voice")

    async def spoken(
        self, message: IncomingMessage, chat: ChatSettings, text: str, voice: str | None = None
    ) -> tuple[tuple[Attachment, ...], list[Notice]]:
        """Speak a text as Ogg/Opus voice notes, in sentence-bounded parts of 4,096 characters.

        At most MAX_SPOKEN_PARTS parts are spoken; a longer text gets a notice saying where the
        voice stops. Each part is paid by its characters.
        """
        model, voice = await self.voice_of(chat, voice)
        parts = audio.speech_parts(audio.speakable(text))
        if not parts:
            raise InvalidInput("There is nothing to read aloud in that text.")
        notices: list[Notice] = []
        limit = self.settings.max_spoken_parts
        if len(parts) > limit:
            notices.append(
                Notice(
                    f"The voice covers the first {limit * audio.TTS_LIMIT:,} characters or so; the "
                    "rest is in the text.",
                    "info",
                )
            )
            parts = parts[:limit]
        price = self._priced(self.prices.speech(model, sum(len(p) for p in parts)), model)
        files: list[Attachment] = []
        async with self._cashier.paying(message, price, feature="speech", model_id=model.id) as held:
            spoken = 0
            for number, part in enumerate(parts, start=1):
                try:
                    data = await self._venice.speech(part, model=model.id, voice=voice)
                    duration = audio.opus_duration(data)
                except ValueError:  # not Ogg/Opus: nothing a platform could play
                    if not files:
                        raise _unreadable_speech() from None
                    notices.append(Notice(f"The voice stops after part {number - 1}.", "warning"))
                    break
                except VeniceError:
                    if not files:
                        raise
                    notices.append(
                        Notice(
                            f"The voice stops after part {number - 1}: Venice failed on the rest.", "warning"
                        )
                    )
                    break
                spoken += len(part)
                name = "voice.ogg" if len(parts) == 1 else f"voice-{number}.ogg"
                files.append(Attachment("voice", "audio/ogg", data, filename=name, duration=duration))
            await self._cashier.settle(held, self.prices.speech(model, spoken) or 0)
        return tuple(files), notices

    async def set_voice(self, message: IncomingMessage, name: str) -> Reply:
        """Choose a voice (and the model it belongs to)."""
        models = await self._catalogue.models_of("tts")
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        current, _ = await self.voice_of(chat)
        ordered = [current] + [m for m in models if m.id != current.id]
        for model in ordered:
            for voice in voices_of(model):
                if voice.lower() == name.lower():
                    await self._chat_settings.update(
                        message.platform, message.chat_id, tts_model=model.id, tts_voice=voice
                    )
                    return Reply(f"Voice set to {voice} ({model.id}).")
        every = [v for m in models for v in voices_of(m)]
        close = difflib.get_close_matches(name, every, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " Send /voice for the list."
        raise InvalidInput(f"There is no voice {name!r}.{hint}")

    async def voices(self, message: IncomingMessage) -> tuple[ModelInfo, str, tuple[str, ...]]:
        """The chat's model and voice, and that model's voices."""
        chat = await self._chat_settings.get(message.platform, message.chat_id)
        model, voice = await self.voice_of(chat)
        return model, voice, voices_of(model)

    # ----- transcription

    async def transcribe(self, message: IncomingMessage, attachment: Attachment) -> str:
        """Turn a voice note, audio file or video note into text, paid per second."""
        info = audio.probe(attachment.data, video=attachment.kind == "video")
        seconds = info.duration or attachment.duration or 0.0
        self.check_duration(seconds)
        model_id = self.settings.transcription_model
        model = next((m for m in await self._catalogue.models_of("asr") if m.id == model_id), None)
        if model is None:
            raise InvalidInput(f"Venice does not offer the transcription model {model_id} right now.")
        price = self._priced(self.prices.transcription(model, seconds), model)
        async with self._cashier.paying(message, price, feature="transcription", model_id=model.id) as held:
            heard = await self._venice.transcribe(
                attachment.data,
                model=model.id,
                mime_type=info.mime_type,
                filename=f"{attachment.kind}.{info.format}",
            )
            text = " ".join(heard.text.split())
            if not text:
                await self._cashier.refund(held)
                raise InvalidInput("No speech was heard in that recording. You were not charged.")
            charged = self.prices.transcription(model, heard.duration or seconds) or price
            await self._cashier.settle(held, charged)
        return text

    # ----- vision

    # ----- helpers

    def _priced(self, price: int | None, model: ModelInfo | None) -> int:
        """A listed price, or a refusal: the bot does not give away what it cannot price."""
        if price is None:
            what = model.id if model else "this action"
            raise InvalidInput(
                f"Venice lists no price for {what}, so the bot cannot charge for it. Ask the bot's admin."
            )
        return price


def _source_image(message: IncomingMessage, command: str) -> Attachment:
    """The image a command works on: attached to the message, or to the message it replies to."""
    for attachment in (*message.attachments, *(message.reply_to.attachments if message.reply_to else ())):
        if attachment.kind == "image":
            return attachment
    raise InvalidInput(f"Attach an image to {command}, or reply to an image with {command}.")


def _constraints(model: ModelInfo) -> dict[str, Any]:
    spec = model.raw.get("model_spec") if model.raw else None
    constraints = spec.get("constraints") if isinstance(spec, dict) else None
    return constraints if isinstance(constraints, dict) else {}


def _listing(models: tuple[ModelInfo, ...]) -> str:
    return "Image models: " + ", ".join(m.id for m in models) + "." if models else ""


def _duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unreadable_speech() -> VeniceError:
    return VeniceError("speech is not Ogg/Opus", user_message="Venice sent audio the bot cannot read.")
