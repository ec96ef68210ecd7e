"""More media endpoints of the fake Venice: background removal, multi-image edits and YouTube
transcripts, as Venice's spec shapes them.

``MoreMediaEndpoints`` is mixed into ``FakeVenice`` (over ``MediaEndpoints``, whose image decoding,
balance and refusals it shares). Its settings are plain attributes tests change freely; failures
come from the fake's ``fail()`` like every other path's.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image, ImageOps
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tests.fakes import media_samples
from tests.fakes.venice_errors import CONTENT_POLICY, field_error, payload_too_large
from tests.fakes.venice_media import (
    MediaEndpoints,
    _check_prompt,
    _decode_image,
    _fields,
    _mentions,
    _Refusal,
)

if TYPE_CHECKING:
    from tests.fakes.venice import Call

__all__ = [
    "BACKGROUND_REMOVE_USD",
    "DEFAULT_VIDEO_TRANSCRIPT",
    "MULTI_EDIT_MODEL",
    "TRANSCRIPT_USD",
    "MoreMediaEndpoints",
    "multi_edit_model",
]

BACKGROUND_REMOVE_USD = 0.03  # Venice's pricing page: Background Remover, $0.03 per image
TRANSCRIPT_USD = 0.05  # Venice publishes no price for /video/transcriptions: the fake's own
MULTI_EDIT_MODEL = "qwen-image-2-edit"
DEFAULT_VIDEO_TRANSCRIPT = (
    "Welcome to the channel. Today we bake sourdough bread: flour, water, salt and a starter. "
    "The secret ingredient is patience: the dough rests for twelve hours."
)
DEFAULT_MAX_INPUT_IMAGES = 3  # the spec: maxInputImages absent means 3 (1 without combineImages)
# The docs: watch, share, embed, live and shorts links on these hosts; anything else is a 400.
YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be", "youtube-nocookie.com"}
)
NOT_YOUTUBE = "url must be a valid YouTube video URL"


def multi_edit_model() -> dict[str, Any]:
    """An edit model that combines several images (up to three), priced like Venice's Qwen Image 2."""
    return {
        "id": MULTI_EDIT_MODEL,
        "type": "inpaint",
        "object": "model",
        "created": 1770000000,
        "owned_by": "venice.ai",
        "model_spec": {
            "name": "Qwen Image 2 Edit",
            "privacy": "anonymized",
            "constraints": {
                "aspectRatios": ["auto", "1:1", "16:9", "9:16"],
                "promptCharacterLimit": 1500,
                "combineImages": True,
                "maxInputImages": DEFAULT_MAX_INPUT_IMAGES,
            },
            "pricing": {"inpaint": {"usd": 0.05, "diem": 0.05}},
            "traits": [],
            "offline": False,
        },
    }


class MoreMediaEndpoints(MediaEndpoints):
    """Background removal, multi-edit and video transcription for the fake."""

    def _init_more_media(self) -> None:
        """Set these endpoints' state to its defaults (called from FakeVenice.__init__)."""
        self.models.append(multi_edit_model())
        self.video_transcript: str = DEFAULT_VIDEO_TRANSCRIPT  # what /video/transcriptions hears
        self.cutouts_made: int = 0  # background removals answered (and charged)

    def _more_media_routes(self) -> list[tuple[str, str, Any]]:
        """Return (method, path template, handler) for these endpoints."""
        return [
            ("POST", "/image/background-remove", self._guarded(self._background_remove)),
            ("POST", "/image/multi-edit", self._guarded(self._multi_edit)),
            ("POST", "/video/transcriptions", self._guarded(self._video_transcriptions)),
        ]

    def _background_remove(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        if _fields(call).get("image_url"):
            raise _Refusal(400, field_error("image_url", "The fake Venice cannot fetch image URLs"))
        image = _decode_image(self._uploaded_image(call, "image"))
        self._check_can_pay()
        self.cutouts_made += 1
        self._spend(BACKGROUND_REMOVE_USD)
        return Response(
            media_samples.encode_image(cut_out(image), "png"), headers=headers, media_type="image/png"
        )

    def _multi_edit(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        model = self._model_of(body.get("modelId") or "firered-image-edit", "inpaint")
        constraints = model["model_spec"].get("constraints", {})
        prompt = str(body.get("prompt", ""))
        _check_prompt(prompt, constraints.get("promptCharacterLimit"))
        sources = body.get("images")
        if not isinstance(sources, list) or not sources:
            raise _Refusal(400, field_error("images", "Required: at least one image"))
        most = int(
            constraints.get("maxInputImages")
            or (DEFAULT_MAX_INPUT_IMAGES if constraints.get("combineImages") else 1)
        )
        if len(sources) > most:
            raise _Refusal(400, field_error("images", f"{model['id']} takes at most {most} images"))
        pictures = [_decode_image(self._image_value(value)) for value in sources]
        if _mentions(prompt, self.violation_words):
            raise _Refusal(422, dict(CONTENT_POLICY))
        self._check_can_pay()
        self._spend(float(model["model_spec"].get("pricing", {}).get("inpaint", {}).get("usd", 0.0)))
        data = media_samples.encode_image(combine(pictures), "png")
        headers = self._model_headers(model, headers) | {"x-venice-is-content-violation": "false"}
        return Response(data, headers=headers, media_type="image/png")

    def _image_value(self, value: Any) -> bytes:
        """An image given in JSON: base64, or a data URL (the fake fetches no http URL)."""
        if not isinstance(value, str) or not value:
            raise _Refusal(400, field_error("images", "Each image must be a base64 string or a URL"))
        if value.startswith(("http://", "https://")):
            raise _Refusal(400, field_error("images", "The fake Venice cannot fetch image URLs"))
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _Refusal(400, field_error("images", "Invalid image: not valid base64")) from None
        if len(data) > self.max_image_bytes:
            raise _Refusal(413, payload_too_large(self.max_image_bytes))
        return data

    def _video_transcriptions(self, call: Call, headers: dict[str, str], _: dict[str, str]) -> Response:
        body = _fields(call)
        if not is_youtube(str(body.get("url", ""))):
            raise _Refusal(400, field_error("url", NOT_YOUTUBE))
        self._check_can_pay()
        self._spend(TRANSCRIPT_USD)
        if body.get("response_format") == "text":
            return PlainTextResponse(self.video_transcript, headers=headers)
        return JSONResponse({"transcript": self.video_transcript, "lang": "en"}, headers=headers)


def is_youtube(url: str) -> bool:
    """Whether Venice takes the URL: a video on one of YouTube's hosts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in YOUTUBE_HOSTS:
        return False
    if host == "youtu.be":
        return bool(re.fullmatch(r"/[\w-]{6,}", parts.path))
    return bool(
        re.search(r"v=[\w-]{6,}", parts.query) or re.match(r"/(embed|live|shorts)/[\w-]{6,}", parts.path)
    )


def cut_out(image: Image.Image) -> Image.Image:
    """The "subject" kept and the rest made transparent: a centred box opaque, so a test can
    tell both kinds of pixel apart (corners transparent, centre opaque)."""
    rgba = image.convert("RGBA")
    alpha = Image.new("L", rgba.size, 0)
    width, height = rgba.size
    alpha.paste(255, (width // 4, height // 4, width - width // 4, height - height // 4))
    rgba.putalpha(alpha)
    return rgba


def combine(pictures: list[Image.Image]) -> Image.Image:
    """The base picture, inverted (an edit happened), with each other picture as an inset."""
    base = ImageOps.invert(pictures[0].convert("RGB"))
    inset = (max(1, base.width // 3), max(1, base.height // 3))
    for index, picture in enumerate(pictures[1:]):
        base.paste(picture.convert("RGB").resize(inset), (index * inset[0] % base.width, 0))
    return base
