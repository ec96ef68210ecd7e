"""Media endpoints of the fake Venice server: images, speech, transcription and video.

``MediaEndpoints`` is mixed into ``FakeVenice``: its settings (``adult_words``, ``upscale_echo``,
``transcript``, ``video_jobs``, ...) are plain attributes of the fake, which tests read and change
freely. The answers are real media made by ``media_samples``: Pillow opens the pictures, mutagen
parses the audio, and an upload is decoded the way Venice would before it is accepted.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tests.fakes import media_samples
from tests.fakes.venice_catalogue import VIDEO_USD_PER_SECOND, default_image_styles
from tests.fakes.venice_errors import (
    CONTENT_POLICY,
    INVALID_MODEL,
    default_error_body,
    error_response,
    field_error,
    payload_too_large,
    provider_content_policy_error,
)

if TYPE_CHECKING:
    from tests.fakes.venice import Call

__all__ = ["DEFAULT_TRANSCRIPT", "MediaEndpoints", "VideoJob"]

MB = 1024 * 1024
DEFAULT_TRANSCRIPT = "Hello from a voice note"
MIN_IMAGE_AREA = 65_536  # Venice refuses smaller uploads for upscale and edit
MAX_UPSCALED_AREA = 16_777_216  # Venice lowers the scale rather than go past this
SPEECH_SECONDS_PER_CHARACTER = 0.06
SPEECH_MIN_SECONDS, SPEECH_MAX_SECONDS = 0.5, 120.0
VIDEO_AVERAGE_EXECUTION_MS = 30_000
TRANSCRIBABLE = (
    "wav",
    "flac",
    "m4a",
    "aac",
    "mp4",
    "mp3",
    "ogg",
    "webm",
)  # Venice's list (mp4 sniffs as m4a too)
_RESOLUTION_PIXELS = {"1K": 1024, "2K": 2048, "4K": 4096}
_VIDEO_RESOLUTION_FACTOR = {"480p": 0.75, "720p": 1.0, "1080p": 1.5}
_AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# (the call, the standard response headers, the path parameters) -> the response
_Handler = Callable[["Call", dict[str, str], dict[str, str]], Response]


class _Refusal(Exception):
    """An answer other than success, raised from deep inside a handler and sent as it is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class VideoJob:
    """A queued video generation, as ``fake.video_jobs`` keeps it (tests may add their own)."""

    queue_id: str
    model: str
    prompt: str = ""
    duration: str = "5s"
    resolution: str | None = None
    aspect_ratio: str | None = None
    quote_usd: float = 0.0  # charged when queued, refunded when the provider refuses it
    queued_at: float = field(default_factory=time.monotonic)
    polls: int = 0  # POST /video/retrieve calls so far
    fail_status: int | None = None  # 500 or 422: retrieve answers this instead of the video
    delivered: bool = False  # the mp4 has been sent at least once
    completed: bool = (
        False  # POST /video/complete (or delete_media_on_completion) removed it: retrieve is a 404
    )
    refunded: bool = False

    @property
    def seconds(self) -> int:
        """Return the duration in whole seconds."""
        return _duration_seconds(self.duration)


class MediaEndpoints:
    """Venice's media endpoints for the fake: image generate/upscale/edit/styles, speech, transcription, video."""

    # Owned by FakeVenice; declared here so the handlers type-check on their own.
    models: list[dict[str, Any]]
    balance: dict[str, Any]
    deprecated_models: dict[str, str]

    def _init_media(self) -> None:
        """Set the media state to its defaults (called from FakeVenice.__init__)."""
        self.image_styles: list[str] = default_image_styles()  # GET /image/styles
        # Prompt words (whole words, any case) that make Venice blur the image when safe_mode is on (the default).
        self.adult_words: tuple[str, ...] = ("nsfw", "nude")
        # Prompt words that flag a content violation: images come back blurred with the header set; an
        # edit is a 422; a video queue is a 422.
        self.violation_words: tuple[str, ...] = ("forbidden-violence",)
        self.max_image_bytes: int = 25 * MB  # upscale and edit uploads above this are a 413
        self.upscale_echo: bool = False  # True: upscale returns the upload unchanged, without decoding it
        self.last_upscale_size: int = 0  # bytes of image the last upscale received (after base64 decoding)
        self.speech_characters: int = 0  # characters charged by /audio/speech so far
        self.max_transcription_bytes: int = 25 * MB  # a larger file is a 413 PAYLOAD_TOO_LARGE
        self.transcript: str | None = None  # what /audio/transcriptions hears; DEFAULT_TRANSCRIPT when None
        self.video_prices: dict[str, float] = dict(VIDEO_USD_PER_SECOND)  # USD per second at 720p
        self.video_polls_until_done: int = 2  # retrieves answered PROCESSING before the video is ready
        self.video_fail_job: int | None = None  # 500 or 422: jobs queued from now on fail at retrieve
        self.video_jobs: dict[str, VideoJob] = {}  # queue_id -> job; completed jobs stay, marked completed

    def _media_routes(self) -> list[tuple[str, str, _Handler]]:
        """Return (method, path template, handler) for each media endpoint."""
        return [
            ("GET", "/image/styles", self._image_styles),
            ("POST", "/image/generate", self._guarded(self._image_generate)),
            ("POST", "/image/upscale", self._guarded(self._image_upscale)),
            ("POST", "/image/edit", self._guarded(self._image_edit)),
            ("POST", "/audio/speech", self._guarded(self._audio_speech)),
            ("POST", "/audio/transcriptions", self._guarded(self._audio_transcriptions)),
            ("POST", "/video/quote", self._guarded(self._video_quote)),
            ("POST", "/video/queue", self._guarded(self._video_queue)),
            ("POST", "/video/retrieve", self._guarded(self._video_retrieve)),
            ("POST", "/video/complete", self._guarded(self._video_complete)),
        ]

    @staticmethod
    def _guarded(handler: _Handler) -> _Handler:
        """Turn a _Refusal raised by ``handler`` into its error response."""

        def run(call: Call, headers: dict[str, str], params: dict[str, str]) -> Response:
            try:
                return handler(call, headers, params)
            except _Refusal as refusal:
                return error_response(refusal.status, refusal.body, headers)

        return run

    # ---- images ------------------------------------------------------------------------------------

    def _image_styles(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        return JSONResponse({"object": "list", "data": list(self.image_styles)}, headers=headers)

    def _image_generate(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        started = time.perf_counter()
        body = _fields(call)
        model = self._model_of(body.get("model"), "image")
        prompt = str(body.get("prompt", ""))
        constraints = model["model_spec"].get("constraints", {})
        _check_prompt(prompt, constraints.get("promptCharacterLimit"))
        width, height, resolution = _generation_size(body, constraints)
        self._check_can_pay()

        image_format = str(body.get("format") or "webp")
        if image_format not in ("png", "jpeg", "webp"):  # only reachable with validation off
            raise _Refusal(400, field_error("format", "Format must be one of jpeg, png, webp"))
        # Venice makes several variants only for JSON answers; a binary answer is one image.
        variants = 1 if _flag(body.get("return_binary"), False) else int(_number(body, "variants", 1))
        seed = int(body["seed"]) if body.get("seed") is not None else zlib.crc32(prompt.encode()) % 1_000_000
        violation = _mentions(prompt, self.violation_words)
        blurred = _flag(body.get("safe_mode"), True) and _mentions(prompt, self.adult_words)
        images = []
        for index in range(variants):
            picture = media_samples.picture(width, height, color=_prompt_color(prompt), seed=seed + index)
            if blurred or violation:
                picture = picture.filter(ImageFilter.BoxBlur(max(4, min(width, height) // 16)))
            images.append(media_samples.encode_image(picture, cast(media_samples.ImageFormat, image_format)))

        self._spend(_image_price(model, resolution) * variants)
        headers = self._model_headers(model, headers)
        # Venice sends these booleans as the strings "true" / "false".
        headers["x-venice-is-blurred"] = _bool_header(blurred)
        headers["x-venice-is-content-violation"] = _bool_header(violation)
        if _flag(body.get("return_binary"), False):
            return Response(images[0], headers=headers, media_type=f"image/{image_format}")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        return JSONResponse(
            {
                "id": f"generate-image-{uuid.uuid4().hex[:16]}",
                "images": [base64.b64encode(image).decode("ascii") for image in images],
                "timing": {
                    "inferenceDuration": elapsed_ms,
                    "inferencePreprocessingTime": 0,
                    "inferenceQueueTime": 0,
                    "total": elapsed_ms,
                },
            },
            headers=headers,
        )

    def _image_upscale(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        data = self._uploaded_image(call, "image")
        self.last_upscale_size = len(data)
        scale = _number(body, "scale", 2)
        if scale not in (2, 4):
            # The spec allows any number from 2 to 4; Venice only does 2x and 4x.
            raise _Refusal(400, field_error("scale", "Scale must be either 2 or 4"))
        self._check_can_pay()
        self._spend(self._upscale_price(int(scale)))
        if self.upscale_echo:
            # For memory benchmarks: a 25 MB round trip without any Pillow work in between.
            return Response(data, headers=headers, media_type="image/png")

        image = _decode_image(data)
        effective = min(scale, math.sqrt(MAX_UPSCALED_AREA / (image.width * image.height)))
        if effective < 1:
            raise _Refusal(
                400, field_error("image", f"Image dimensions must not exceed {MAX_UPSCALED_AREA} pixels")
            )
        size = (int(image.width * effective), int(image.height * effective))
        # Nearest-neighbour: the fake only needs the right size, and it is the fastest resize.
        upscaled = image.convert("RGB").resize(size, Image.Resampling.NEAREST)
        return Response(media_samples.encode_image(upscaled, "png"), headers=headers, media_type="image/png")

    def _image_edit(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model") or body.get("modelId") or "firered-image-edit", "inpaint")
        constraints = model["model_spec"].get("constraints", {})
        prompt = str(body.get("prompt", ""))
        _check_prompt(prompt, constraints.get("promptCharacterLimit"))
        aspect_ratio = str(body.get("aspect_ratio") or "auto")
        if aspect_ratio not in constraints.get("aspectRatios", [aspect_ratio]):
            raise _unsupported("aspect_ratio", aspect_ratio, constraints["aspectRatios"])
        image = _decode_image(self._uploaded_image(call, "image"))
        if _mentions(prompt, self.violation_words):
            raise _Refusal(422, dict(CONTENT_POLICY))
        self._check_can_pay()

        # The "edit": inverted colours, cropped to the asked aspect ratio, so a test can tell it happened.
        edited = ImageOps.invert(image.convert("RGB"))
        if aspect_ratio != "auto":
            edited = _crop_to_ratio(edited, aspect_ratio)
        output_format = str(body.get("output_format") or "png").replace("jpg", "jpeg")
        if output_format not in ("png", "jpeg", "webp"):
            raise _Refusal(400, field_error("output_format", "Output format must be one of jpeg, png, webp"))
        self._spend(float(model["model_spec"].get("pricing", {}).get("inpaint", {}).get("usd", 0.0)))
        headers = self._model_headers(model, headers)
        headers |= {
            "x-venice-is-content-violation": "false",
            "x-venice-model-id": model["id"],
            "x-venice-model-name": str(model["model_spec"].get("name", model["id"])),
        }
        data = media_samples.encode_image(edited, cast(media_samples.ImageFormat, output_format))
        return Response(data, headers=headers, media_type=f"image/{output_format}")

    def _uploaded_image(self, call: Call, name: str) -> bytes:
        """Return an image field's bytes: a file part, or a base64 string (a data URL too); refuse URLs and junk."""
        if name in call.files:
            data = call.files[name].data
        else:
            value = _fields(call).get(name)
            if not isinstance(value, str) or not value:
                raise _Refusal(400, field_error(name, "Required"))
            if value.startswith(("http://", "https://")):
                # Venice would download it; the fake never leaves 127.0.0.1.
                raise _Refusal(
                    400, field_error(name, "The fake Venice cannot fetch image URLs; send the bytes")
                )
            encoded = value.split(",", 1)[1] if value.startswith("data:") else value
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise _Refusal(400, field_error(name, "Invalid image: not valid base64")) from None
        if len(data) > self.max_image_bytes:
            raise _Refusal(413, payload_too_large(self.max_image_bytes))
        return data

    def _upscale_price(self, scale: int) -> float:
        for model in self.models:
            if model.get("type") == "upscale":
                price = model["model_spec"].get("pricing", {}).get("upscale", {}).get(f"{scale}x", {})
                return float(price.get("usd", 0.0))
        return 0.0

    # ---- audio -------------------------------------------------------------------------------------

    def _audio_speech(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model") or "tts-kokoro", "tts")
        spec = model["model_spec"]
        voice = str(body.get("voice") or spec.get("default_voice") or "af_sky")
        voices = spec.get("voices", [])
        if voice not in voices:
            raise _Refusal(
                400,
                field_error(
                    "voice",
                    f"Invalid voice {voice!r} for model {model['id']}. Available voices: {', '.join(voices)}",
                ),
            )
        audio_format = str(body.get("response_format") or spec.get("default_format") or "mp3")
        supported = spec.get("supported_formats", list(_AUDIO_TYPES))
        if audio_format not in supported:
            raise _unsupported("response_format", audio_format, supported)
        self._check_can_pay()

        text = str(body.get("input", ""))
        speed = _number(body, "speed", 1) or 1
        seconds = min(
            SPEECH_MAX_SECONDS, max(SPEECH_MIN_SECONDS, len(text) * SPEECH_SECONDS_PER_CHARACTER / speed)
        )
        self.speech_characters += len(text)
        self._spend(len(text) * float(spec.get("pricing", {}).get("input", {}).get("usd", 0.0)) / 1_000_000)
        headers = self._model_headers(model, headers)
        return Response(
            _speech_audio(audio_format, seconds), headers=headers, media_type=_AUDIO_TYPES[audio_format]
        )

    def _audio_transcriptions(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        upload = call.files.get("file")
        if upload is None:
            raise _Refusal(400, field_error("file", "Required: upload the audio as a multipart file"))
        model = self._model_of(body.get("model") or "nvidia/parakeet-tdt-0.6b-v3", "asr")
        if len(upload.data) > self.max_transcription_bytes:
            raise _Refusal(413, payload_too_large(self.max_transcription_bytes))
        if not upload.data:
            raise _Refusal(422, {"error": "The audio file is empty"})
        kind = media_samples.sniff_audio(upload.data)
        if kind is None:
            # 400, not 415: Venice's 415 is about the request's Content-Type header, not the file inside.
            message = f"Unsupported audio format. Supported formats: {', '.join(TRANSCRIBABLE)}"
            raise _Refusal(400, field_error("file", message))
        seconds = _audio_seconds(kind, upload.data)  # raises 422 for audio that does not decode
        if seconds is not None and seconds <= 0:
            raise _Refusal(422, {"error": "The audio file contains no audio"})
        self._check_can_pay()

        per_second = float(model["model_spec"].get("pricing", {}).get("per_audio_second", {}).get("usd", 0.0))
        self._spend((seconds or 0.0) * per_second)
        text = self.transcript if self.transcript is not None else DEFAULT_TRANSCRIPT
        if body.get("response_format") == "text":
            return PlainTextResponse(text, headers=headers)
        answer: dict[str, Any] = {"text": text}
        if seconds is not None:
            answer["duration"] = round(seconds, 3)
        if _flag(body.get("timestamps"), False):
            answer["timestamps"] = _timestamps(text, seconds or 0.0)
        return JSONResponse(answer, headers=headers)

    # ---- video -------------------------------------------------------------------------------------

    def _video_quote(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model"), "video")
        return JSONResponse({"quote": self._video_quote_usd(model, body)}, headers=headers)

    def _video_queue(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("model"), "video")
        quote = self._video_quote_usd(model, body)
        constraints = model["model_spec"].get("constraints", {})
        prompt = str(body.get("prompt", ""))
        _check_prompt(prompt, constraints.get("prompt_character_limit", 2500), field_name="prompt")
        if constraints.get("model_type") == "image-to-video" and not body.get("image_url"):
            raise _Refusal(400, field_error("image_url", f"{model['id']} needs an image_url"))
        if _mentions(prompt, self.violation_words):
            # The spec shapes a queue-time refusal as ContentViolationError: a plain string error.
            raise _Refusal(422, dict(CONTENT_POLICY))
        self._check_can_pay()

        job = VideoJob(
            queue_id=str(uuid.uuid4()),
            model=model["id"],
            prompt=prompt,
            duration=str(body.get("duration")),
            resolution=body.get("resolution"),
            aspect_ratio=body.get("aspect_ratio"),
            quote_usd=quote,
            fail_status=self.video_fail_job,
        )
        self.video_jobs[job.queue_id] = job
        self._spend(quote)
        return JSONResponse(
            {"model": job.model, "queue_id": job.queue_id}, headers=self._model_headers(model, headers)
        )

    def _video_retrieve(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        job = self._video_job(body)
        if job.polls < self.video_polls_until_done:
            job.polls += 1
            return JSONResponse(
                {
                    "status": "PROCESSING",
                    "average_execution_time": VIDEO_AVERAGE_EXECUTION_MS,
                    "execution_duration": round((time.monotonic() - job.queued_at) * 1000),
                },
                headers=headers,
            )
        job.polls += 1
        if job.fail_status is not None:
            if job.fail_status == 422:
                if not job.refunded:  # the body promises a refund: keep the promise once
                    self._spend(-job.quote_usd)
                    job.refunded = True
                raise _Refusal(422, provider_content_policy_error())
            error = default_error_body(job.fail_status, call.path)
            raise _Refusal(job.fail_status, error if isinstance(error, dict) else {"error": error})
        job.delivered = True
        if _flag(body.get("delete_media_on_completion"), False):
            job.completed = True
        return Response(media_samples.mp4_video(job.seconds), headers=headers, media_type="video/mp4")

    def _video_complete(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        job = self._video_job(_fields(call))
        job.completed = True  # kept in video_jobs so tests can see it happened; retrieve now 404s
        return JSONResponse({"success": True}, headers=headers)

    def _video_job(self, body: dict[str, Any]) -> VideoJob:
        job = self.video_jobs.get(str(body.get("queue_id")))
        if job is None or job.completed:
            raise _Refusal(404, {"error": "Video generation request not found"})
        if body.get("model") != job.model:
            raise _Refusal(400, field_error("model", f"The request was queued with model {job.model}"))
        return job

    def _video_quote_usd(self, model: dict[str, Any], body: dict[str, Any]) -> float:
        constraints = model["model_spec"].get("constraints", {})
        duration = str(body.get("duration"))
        if duration not in constraints.get("durations", []):
            raise _unsupported("duration", duration, constraints.get("durations", []))
        resolution = body.get("resolution")
        if resolution is not None and resolution not in constraints.get("resolutions", []):
            raise _unsupported("resolution", resolution, constraints.get("resolutions", []))
        aspect_ratio = body.get("aspect_ratio")
        if aspect_ratio is not None and aspect_ratio not in constraints.get("aspect_ratios", []):
            raise _unsupported("aspect_ratio", aspect_ratio, constraints.get("aspect_ratios", []))
        seconds = _duration_seconds(duration)
        factor = _VIDEO_RESOLUTION_FACTOR.get(str(resolution or "720p"), 1.0)
        return round(self.video_prices.get(model["id"], 0.10) * seconds * factor, 4)

    # ---- shared ------------------------------------------------------------------------------------

    def _model_of(self, model_id: Any, kind: str) -> dict[str, Any]:
        """Return the catalogue model ``model_id`` if it is of type ``kind``; else refuse as Venice does (400)."""
        for model in self.models:
            if model.get("id") == model_id and model.get("type") == kind:
                return model
        raise _Refusal(400, dict(INVALID_MODEL))

    def _model_headers(self, model: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
        """Return ``headers`` plus the deprecation warning when the test marked ``model`` deprecated."""
        if model["id"] not in self.deprecated_models:
            return headers
        date = model["model_spec"].get("deprecation", {}).get("date", "2026-12-31T00:00:00.000Z")
        return headers | {
            "x-venice-model-deprecation-warning": self.deprecated_models[model["id"]],
            "x-venice-model-deprecation-date": date,
        }

    def _check_can_pay(self) -> None:
        if not self.balance.get("canConsume", True):
            error = default_error_body(402, "")
            raise _Refusal(402, error if isinstance(error, dict) else {"error": error})

    def _spend(self, usd: float) -> None:
        """Deduct ``usd`` (negative: refund) from the balance in its consumption currency, as chat does."""
        balances = self.balance.get("balances")
        currency = "diem" if self.balance.get("consumptionCurrency") == "DIEM" else "usd"
        if usd and isinstance(balances, dict) and isinstance(balances.get(currency), (int, float)):
            balances[currency] = round(balances[currency] - usd, 8)


# ---- helpers ---------------------------------------------------------------------------------------


def _fields(call: Call) -> dict[str, Any]:
    """Return the body's fields: the JSON object, or a form's text fields (file parts are in ``call.files``)."""
    if not isinstance(call.body, dict):
        return {}
    return {key: value for key, value in call.body.items() if key not in call.files}


def _number(body: dict[str, Any], name: str, default: float) -> float:
    """Read a number from JSON or a form field; refuse text that is not one (reachable with validation off)."""
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Refusal(400, field_error(name, f"Expected a number, received {value!r}")) from None


def _flag(value: Any, default: bool) -> bool:
    """Read a boolean from JSON (true/false) or a form field ("true"/"false")."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _unsupported(name: str, value: Any, allowed: list[str]) -> _Refusal:
    """Refuse a value the model does not support (the spec allows it for some other model)."""
    message = f"Unsupported {name} {value!r} for this model. Supported: {', '.join(allowed)}"
    return _Refusal(400, field_error(name, message))


def _duration_seconds(duration: str) -> int:
    """Read a video duration ("10s" -> 10); anything else ("auto", "1 gen") counts as 5 seconds."""
    match = re.fullmatch(r"(\d+)s", duration)
    return int(match.group(1)) if match else 5


def _bool_header(value: bool) -> str:
    return "true" if value else "false"


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) for word in words if word)


def _check_prompt(prompt: str, limit: Any, field_name: str = "prompt") -> None:
    if isinstance(limit, (int, float)) and len(prompt) > limit:
        raise _Refusal(
            400, field_error(field_name, f"Prompt must be at most {int(limit)} characters for this model")
        )


def _prompt_color(prompt: str) -> tuple[int, int, int]:
    # The same prompt always gets the same colour, a different prompt very likely another.
    digest = zlib.crc32(prompt.encode())
    return (digest & 0xFF, (digest >> 8) & 0xFF, (digest >> 16) & 0xFF)


def _ratio(aspect_ratio: str) -> tuple[int, int]:
    wide, _, tall = aspect_ratio.partition(":")
    return int(wide), int(tall)


def _generation_size(body: dict[str, Any], constraints: dict[str, Any]) -> tuple[int, int, str | None]:
    """Return (width, height, resolution tier) for a generation: from the aspect ratio and tier on models
    that list aspect ratios, else from width/height (default 1024)."""
    ratios = constraints.get("aspectRatios")
    if not ratios:
        return int(body.get("width") or 1024), int(body.get("height") or 1024), None
    aspect_ratio = str(body.get("aspect_ratio") or constraints.get("defaultAspectRatio") or ratios[0])
    if aspect_ratio not in ratios:
        raise _unsupported("aspect_ratio", aspect_ratio, ratios)
    tiers = constraints.get("resolutions") or ["1K"]
    resolution = str(body.get("resolution") or constraints.get("defaultResolution") or tiers[0])
    if resolution not in tiers:
        raise _unsupported("resolution", resolution, tiers)
    long_side = _RESOLUTION_PIXELS.get(resolution, 1024)
    wide, tall = _ratio(aspect_ratio)
    divisor = int(constraints.get("widthHeightDivisor") or 16)
    short_side = max(divisor, round(long_side * min(wide, tall) / max(wide, tall) / divisor) * divisor)
    return (long_side, short_side, resolution) if wide >= tall else (short_side, long_side, resolution)


def _image_price(model: dict[str, Any], resolution: str | None) -> float:
    pricing = model["model_spec"].get("pricing", {})
    tiers = pricing.get("resolutions")
    if isinstance(tiers, dict) and tiers:
        # "When present, replaces `generation`" (the spec); the first tier when none was asked for.
        tier: dict[str, Any] = tiers[resolution] if resolution in tiers else next(iter(tiers.values()))
        return float(tier.get("usd", 0.0))
    return float(pricing.get("generation", {}).get("usd", 0.0))


def _decode_image(data: bytes) -> Image.Image:
    """Decode an upload fully (Venice would), refusing what is not an image or is under 65,536 pixels."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _Refusal(
            400, field_error("image", "Invalid image: the file could not be decoded as an image")
        ) from None
    if image.width * image.height < MIN_IMAGE_AREA:
        raise _Refusal(
            400,
            field_error(
                "image",
                f"Image dimensions must be at least {MIN_IMAGE_AREA} pixels; got {image.width}x{image.height} "
                f"({image.width * image.height} pixels)",
            ),
        )
    return image


def _crop_to_ratio(image: Image.Image, aspect_ratio: str) -> Image.Image:
    wide, tall = _ratio(aspect_ratio)
    width = min(image.width, image.height * wide // tall)
    height = min(image.height, image.width * tall // wide)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def _speech_audio(audio_format: str, seconds: float) -> bytes:
    if audio_format == "opus":
        return media_samples.ogg_opus(seconds)
    if audio_format == "wav":
        return media_samples.wav(seconds, rate=24_000)
    if audio_format == "pcm":
        return media_samples.wav(seconds, rate=24_000)[44:]  # the samples without the 44-byte RIFF header
    if audio_format == "flac":
        return media_samples.flac(seconds)
    if audio_format == "aac":
        return media_samples.adts_aac(seconds)
    return media_samples.mp3(seconds)


def _audio_seconds(kind: str, data: bytes) -> float | None:
    """Return the duration of an upload of a sniffed ``kind``; None when the fake cannot tell (webm).

    Refuses with 422 what does not decode: a bad Ogg CRC, a WAV header without samples, an MP4 without
    its index, and so on.
    """
    try:
        if kind == "wav":
            return media_samples.wav_duration(data)
        if kind == "ogg":
            return media_samples.ogg_duration(data)
        if kind == "mp4":
            return media_samples.mp4_duration(data)
        if kind in ("mp3", "flac", "aac"):
            return media_samples.mutagen_duration(data, cast(Literal["mp3", "flac", "aac"], kind))
        return None  # webm: accepted as is, duration unknown
    except ValueError as exc:
        raise _Refusal(422, {"error": f"The audio file could not be decoded: {exc}"}) from None


def _timestamps(text: str, seconds: float) -> dict[str, Any]:
    words = text.split()
    step = seconds / len(words) if words else 0.0
    return {
        "segment": [{"text": text, "start": 0.0, "end": round(seconds, 3)}],
        "word": [
            {"word": word, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
            for i, word in enumerate(words)
        ],
    }
