"""Checks made before a user's file is downloaded or anything is charged: sizes, durations,
and prices that Venice must list."""

from __future__ import annotations

import math

from core import images
from core.errors import InvalidInput
from core.events import Attachment, AttachmentKind, IncomingMessage
from core.settings import Settings
from core.venice.types import ModelInfo


class Uploads:
    """Refuse files the bot will not take, from what the platform says of them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check_download(self, kind: AttachmentKind, size: int | None, duration: float | None) -> None:
        """Refuse a user's file before it is downloaded, from what the platform says of it."""
        limit = images.MAX_UPLOAD_BYTES
        if size is not None and size >= limit:
            raise InvalidInput(
                f"That file is {size / 1048576:.1f} MB; the bot takes files under {limit // 1048576} MB."
            )
        documents = self.settings.max_document_mb
        if kind == "document" and size is not None and size > documents * 1048576:
            raise InvalidInput(
                f"That document is {size / 1048576:.1f} MB; the bot reads documents of up to "
                f"{documents:g} MB. Send a smaller file, or the part you want to ask about."
            )
        if kind in ("voice", "audio", "video") and duration is not None:
            self.check_duration(duration)

    def check_duration(self, seconds: float) -> None:
        """Refuse audio longer than MAX_VOICE_SECONDS."""
        limit = self.settings.max_voice_seconds
        if seconds > limit:
            raise InvalidInput(
                f"That recording is {duration_text(seconds)} long; the bot transcribes up to "
                f"{duration_text(limit)}. Send a shorter one."
            )


def source_images(message: IncomingMessage) -> tuple[Attachment, ...]:
    """The images a command works on: the replied-to message's first (a base to change), then
    the message's own."""
    replied = message.reply_to.attachments if message.reply_to else ()
    return tuple(a for a in (*replied, *message.attachments) if a.kind == "image")


def source_image(message: IncomingMessage, command: str) -> Attachment:
    """The image a command works on: attached to the message, or to the message it replies to."""
    for attachment in (*message.attachments, *(message.reply_to.attachments if message.reply_to else ())):
        if attachment.kind == "image":
            return attachment
    raise InvalidInput(f"Attach an image to {command}, or reply to an image with {command}.")


def priced(price: int | None, model: ModelInfo | None) -> int:
    """A listed price, or a refusal: the bot does not give away what it cannot price."""
    if price is None:
        what = model.id if model else "this action"
        raise InvalidInput(
            f"Venice lists no price for {what}, so the bot cannot charge for it. Ask the bot's admin."
        )
    return price


def duration_text(seconds: float) -> str:
    """A duration as people read it: "45 s", "5 min 00 s"."""
    seconds = math.ceil(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
