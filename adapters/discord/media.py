"""Files between Discord and the core: attachments in, uploads and voice messages out."""

from __future__ import annotations

import base64
import io
import json
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
from PIL import Image, UnidentifiedImageError

from core.audio import opus_duration, waveform
from core.chat.documents import is_document
from core.errors import InvalidInput
from core.events import Attachment, AttachmentKind

log = logging.getLogger(__name__)

VOICE_MESSAGE_FLAG = 1 << 13  # IS_VOICE_MESSAGE: the message is a voice note with a player
VOICE_FILENAME = "voice-message.ogg"
MAX_FILES = 10  # attachments per Discord message
DM_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # 10 MiB, as for a server without boosts
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/flac": "flac",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "video/mp4": "mp4",
}
_BASENAMES = {
    "image": "image",
    "voice": "voice",
    "audio": "audio",
    "video": "video",
    "document": "document",
    "file": "file",
}


# ----- in


def media_type(content_type: str | None, filename: str) -> str:
    """The MIME type of an upload without parameters, guessed from its name when Discord gave none."""
    if content_type:
        return content_type.split(";", 1)[0].strip().lower()
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def attachment_kind(content_type: str | None, filename: str, *, voice_message: bool) -> AttachmentKind:
    """What the core should make of an upload: an image, a voice message, audio, video, a
    document the bot reads, another file."""
    mime = media_type(content_type, filename)
    top = mime.split("/", 1)[0]
    if top == "image":
        return "image"
    if top == "audio":
        return "voice" if voice_message else "audio"
    if top == "video":
        return "video"
    return "document" if is_document(mime, filename) else "file"


def is_voice_message(message: discord.Message, attachment: discord.Attachment) -> bool:
    """A voice message: flagged as one, or an attachment carrying a duration and waveform."""
    return message.flags.voice or attachment.is_voice_message()


def first_image(message: discord.Message) -> discord.Attachment | None:
    """The first image attached to a message, if any."""
    for attachment in message.attachments:
        if attachment_kind(attachment.content_type, attachment.filename, voice_message=False) == "image":
            return attachment
    return None


async def download(media: Any, attachment: discord.Attachment, *, voice_message: bool = False) -> Attachment:
    """Check the core's limits for an upload, then fetch it (never fetched when over a limit)."""
    kind = attachment_kind(attachment.content_type, attachment.filename, voice_message=voice_message)
    media.check_download(kind, attachment.size, attachment.duration)
    try:
        data = await attachment.read()
    except discord.HTTPException as exc:  # e.g. the CDN link of an old message expired
        raise InvalidInput(
            f"The bot could not fetch {attachment.filename} from Discord; send it again.",
            detail=f"{exc.status} {exc.text}",
        ) from exc
    mime = "audio/ogg" if kind == "voice" else media_type(attachment.content_type, attachment.filename)
    return Attachment(
        kind=kind, mime_type=mime, data=data, filename=attachment.filename, duration=attachment.duration
    )


async def download_all(media: Any, message: discord.Message) -> tuple[Attachment, ...]:
    """Every file of a message, in order, each checked before it is fetched."""
    return tuple(
        [await download(media, a, voice_message=is_voice_message(message, a)) for a in message.attachments]
    )


def channel_nsfw(channel: Any) -> bool | None:
    """The channel's NSFW flag (a thread: its parent's); None where there is none (DMs)."""
    if getattr(channel, "guild", None) is None:
        return None
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else None


# ----- out


def filename_for(attachment: Attachment, index: int = 0) -> str:
    """A file name with the right extension (Discord shows and plays files by their names)."""
    if attachment.filename:
        return attachment.filename
    extension = _EXTENSIONS.get(attachment.mime_type) or (
        mimetypes.guess_extension(attachment.mime_type) or ".bin"
    ).lstrip(".")
    suffix = f"-{index + 1}" if index else ""
    return f"{_BASENAMES[attachment.kind]}{suffix}.{extension}"


def shrink_image(data: bytes, limit: int) -> bytes | None:
    """The image as a JPEG under ``limit`` bytes (quality lowered, then size halved), or None."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    for _ in range(4):
        for quality in (90, 80, 65):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return out.getvalue()
        if min(image.size) < 64:
            break
        image = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    return None


@dataclass
class Upload:
    """One file to send: its name and bytes."""

    filename: str
    data: bytes = field(repr=False)

    def file(self) -> discord.File:
        """A fresh discord.File (each can be sent once)."""
        return discord.File(io.BytesIO(self.data), filename=self.filename)


@dataclass
class Outgoing:
    """How a reply's attachments go out on one surface."""

    files: list[Upload] = field(default_factory=list)  # with the answer's last message
    voice: list[Attachment] = field(default_factory=list)  # as voice messages of their own, after it
    notices: list[str] = field(default_factory=list)  # files that could not be sent, and why


def plan_uploads(attachments: Sequence[Attachment], *, limit: int, voice_messages: bool) -> Outgoing:
    """Decide how each attachment is sent: as a file, as a voice message, or as a notice.

    Images over ``limit`` are re-encoded as JPEG; anything still too big becomes a notice.
    """
    out = Outgoing()
    for index, attachment in enumerate(attachments):
        if attachment.kind == "voice" and voice_messages and len(attachment.data) <= limit:
            out.voice.append(attachment)
            continue
        name = filename_for(attachment, index)
        data = attachment.data
        if len(data) > limit and attachment.kind == "image":
            smaller = shrink_image(data, limit)
            if smaller is not None:
                data, name = smaller, name.rsplit(".", 1)[0] + ".jpg"
        if len(data) > limit:
            out.notices.append(
                f"The {attachment.kind} ({_megabytes(len(data))}) is bigger than the "
                f"{_megabytes(limit)} Discord lets the bot upload here, so it is not attached."
            )
            continue
        out.files.append(Upload(name, data))
    return out


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


def voice_message_payload(voice: Attachment, *, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """The payload_json of a voice message: the flag, and the one file's duration and waveform."""
    duration = voice.duration if voice.duration is not None else opus_duration(voice.data)
    payload: dict[str, Any] = {
        "flags": VOICE_MESSAGE_FLAG,
        "attachments": [
            {
                "id": 0,
                "filename": VOICE_FILENAME,
                "duration_secs": round(float(duration), 2),
                "waveform": base64.b64encode(waveform(voice.data)).decode("ascii"),
            }
        ],
    }
    if reference is not None:
        payload["message_reference"] = reference
    return payload


async def post_voice_message(
    http: discord.http.HTTPClient,
    channel_id: int,
    voice: Attachment,
    *,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send a Discord voice message (no text: Discord refuses content on one).

    discord.py 2.7.1 has no voice-message API (``discord.File`` carries no duration or waveform),
    so this posts the multipart form itself through discord.py's HTTP client, which keeps its
    rate limiting and retries.
    """
    payload = voice_message_payload(voice, reference=reference)
    file = discord.File(io.BytesIO(voice.data), filename=VOICE_FILENAME)
    form: list[dict[str, Any]] = [
        {"name": "payload_json", "value": json.dumps(payload)},
        {"name": "files[0]", "value": file.fp, "filename": VOICE_FILENAME, "content_type": "audio/ogg"},
    ]
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
    try:
        return await http.request(route, form=form, files=[file])  # type: ignore[no-any-return]
    finally:
        file.close()
