"""Venice's picture and transcript calls beyond the basics: background removal, multi-image edits
and YouTube transcripts. Mixed into ``VeniceClient``, whose transport they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.venice.errors import UnreadableAnswer
from core.venice.transport import Transport
from core.venice.types import dumps


@dataclass(frozen=True)
class VideoTranscript:
    """A video's transcript as Venice made it, and the language it detected (if it said)."""

    text: str = field(repr=False)
    language: str | None = None


class MediaCalls:
    """``/image/background-remove``, ``/image/multi-edit`` and ``/video/transcriptions``."""

    _transport: Transport

    async def remove_background(self, image: bytes, *, filename: str, mime_type: str) -> bytes:
        """``POST /image/background-remove`` as a multipart upload; returns a PNG with transparency."""
        response = await self._transport.send(
            "POST", "/image/background-remove", files={"image": (filename, image, mime_type)}
        )
        return response.content

    async def multi_edit(
        self, images: Sequence[str], *, prompt: str, model: str, safe_mode: bool = True
    ) -> tuple[bytes, str]:
        """``POST /image/multi-edit`` (JSON): ``images`` are data URLs (or base64), the first
        the base; returns the image and its type."""
        body: dict[str, Any] = {
            "modelId": model,
            "prompt": prompt,
            "images": list(images),
            "output_format": "png",
            "safe_mode": safe_mode,
        }
        response = await self._transport.send(
            "POST", "/image/multi-edit", content=dumps(body).encode(), model=model
        )
        kind = response.headers.get("content-type", "image/png").split(";")[0].strip()
        return response.content, kind

    async def transcribe_video(self, url: str) -> VideoTranscript:
        """``POST /video/transcriptions``: Venice fetches the (YouTube) video and transcribes it."""
        response = await self._transport.send(
            "POST", "/video/transcriptions", content=dumps({"url": url, "response_format": "json"}).encode()
        )
        data = _json_object(response)
        text, language = data.get("transcript"), data.get("lang")
        if not isinstance(text, str):
            raise _unreadable(response, "transcription answer without a transcript")
        return VideoTranscript(text, language if isinstance(language, str) and language else None)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise _unreadable(response, "response is not JSON") from None
    return data if isinstance(data, dict) else {}


def _unreadable(response: httpx.Response, why: str) -> UnreadableAnswer:
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    return UnreadableAnswer(
        why, status=response.status_code, cf_ray=response.headers.get("cf-ray"), content_type=kind
    )
