"""Image facts read from headers (Pillow, no decoding), and the limits Venice sets on uploads."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from core.errors import InvalidInput

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # Venice refuses images of 25 MB and more
MIN_UPSCALE_AREA = 65_536  # Venice: an image to upscale needs at least 256×256 pixels' worth
MAX_UPSCALED_SIDE = 16_384  # keep the upscaled image something platforms can still show
MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


@dataclass(frozen=True)
class ImageInfo:
    """An image's format and size."""

    mime_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The usual file extension (``png``)."""
        return self.mime_type.split("/")[1].replace("jpeg", "jpg")


def inspect(data: bytes) -> ImageInfo:
    """Read an image's format and size from its header, or raise ``InvalidInput``."""
    if not data:
        raise InvalidInput("That image is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # lazy: reads the header only
                fmt, (width, height) = image.format or "", image.size
    except (
        UnidentifiedImageError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        OSError,
        ValueError,
    ):
        raise InvalidInput("The bot cannot read that image. Send a PNG, JPEG or WebP picture.") from None
    mime = MIME.get(fmt)
    if mime is None:
        raise InvalidInput(f"Images in {fmt or 'this'} format are not supported; send PNG, JPEG or WebP.")
    return ImageInfo(mime, width, height)


def check_upload(data: bytes) -> ImageInfo:
    """Refuse an image Venice would refuse for its size, before uploading it."""
    if len(data) >= MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"That image is {len(data) / 1048576:.1f} MB; Venice takes images under 25 MB. "
            "Send a smaller or more compressed one."
        )
    return inspect(data)


def check_upscale(info: ImageInfo, scale: int) -> None:
    """Refuse images too small for Venice or too big once upscaled."""
    if info.width * info.height < MIN_UPSCALE_AREA:
        raise InvalidInput(
            f"That image is {info.width}×{info.height} pixels; Venice upscales images of at least "
            f"{MIN_UPSCALE_AREA:,} pixels (e.g. 256×256)."
        )
    if max(info.width, info.height) * scale > MAX_UPSCALED_SIDE:
        raise InvalidInput(
            f"Upscaled {scale}× that image would be {info.width * scale}×{info.height * scale} "
            f"pixels, more than the {MAX_UPSCALED_SIDE:,} the bot can send. Try 2× or a smaller image."
        )


def data_url(data: bytes, mime_type: str) -> str:
    """A ``data:`` URL for a chat request's ``image_url`` part."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"
