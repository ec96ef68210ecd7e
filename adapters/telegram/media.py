"""Telegram's files, translated: which file a message carries, and how a reply's files go out.

Pure functions, no network: they are tested on their own. The Bot API's limits live here.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from PIL import Image, UnidentifiedImageError
from telegram import Document, Message

from adapters.splitting import utf16_len
from adapters.telegram.render import Part, to_html, with_heading
from core.chat.documents import is_document
from core.events import Attachment, AttachmentKind

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files (the cloud Bot API's limit)
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto's limit; bigger images go as documents
MAX_PHOTO_SIDES = 10_000  # sendPhoto: width + height at most this
MAX_PHOTO_RATIO = 20  # sendPhoto: the longer side at most 20 times the shorter
MAX_CAPTION = 1024
MAX_ALBUM = 10

Method = Literal["photo", "album", "document", "voice", "audio", "video"]


@dataclass(frozen=True)
class IncomingFile:
    """The file a user's message carries, described as the core names it, before download."""

    kind: AttachmentKind
    file_id: str
    mime_type: str
    size: int | None  # what Telegram states
    duration: float | None
    filename: str


@dataclass(frozen=True)
class Outgoing:
    """One Bot API call of a reply's files: a photo, an album, a document, a voice note…"""

    method: Method
    files: tuple[Attachment, ...]


def seconds(value: int | timedelta | None) -> float | None:
    """A PTB duration as seconds (PTB 22 gives ints and warns that they become timedeltas)."""
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def incoming_file(message: Message) -> IncomingFile | None:
    """The file a message carries; None for text, stickers, locations and the like."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading .duration warns about PTB 23's timedelta
        if message.photo:
            largest = message.photo[-1]  # Telegram lists a photo's sizes smallest first
            return IncomingFile("image", largest.file_id, "image/jpeg", largest.file_size, None, "photo.jpg")
        if message.voice:
            voice = message.voice
            return IncomingFile(
                "voice",
                voice.file_id,
                voice.mime_type or "audio/ogg",
                voice.file_size,
                seconds(voice.duration),
                "voice.ogg",
            )
        if message.audio:
            audio = message.audio
            return IncomingFile(
                "audio",
                audio.file_id,
                audio.mime_type or "audio/mpeg",
                audio.file_size,
                seconds(audio.duration),
                audio.file_name or "audio.mp3",
            )
        if message.video_note:
            note = message.video_note
            return IncomingFile(
                "video", note.file_id, "video/mp4", note.file_size, seconds(note.duration), "video_note.mp4"
            )
        if message.video:
            video = message.video
            return IncomingFile(
                "video",
                video.file_id,
                video.mime_type or "video/mp4",
                video.file_size,
                seconds(video.duration),
                video.file_name or "video.mp4",
            )
    if message.document and not message.animation:  # a GIF comes as a document too: nothing to read
        return _document(message.document)
    return None


def _document(document: Document) -> IncomingFile:
    """A file sent "as a file": an image, a recording or a video by its type, a document the bot
    reads (PDF, DOCX, text…), else a plain file."""
    mime = document.mime_type or "application/octet-stream"
    family = mime.split("/", 1)[0]
    kinds: dict[str, AttachmentKind] = {"image": "image", "audio": "audio", "video": "video"}
    kind = kinds.get(family) or ("document" if is_document(mime, document.file_name) else "file")
    return IncomingFile(kind, document.file_id, mime, document.file_size, None, document.file_name or "file")


def replied_image(message: Message) -> IncomingFile | None:
    """The image of a replied-to message (a photo, or an image sent as a file), else None."""
    found = incoming_file(message)
    return found if found is not None and found.kind == "image" else None


def photo_fits(data: bytes) -> bool:
    """Whether sendPhoto takes these bytes: an image of at most 10 MB whose sides it can show."""
    if len(data) > MAX_PHOTO_BYTES:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
    except (UnidentifiedImageError, OSError):
        return False
    if not width or not height:
        return False
    return width + height <= MAX_PHOTO_SIDES and max(width, height) <= MAX_PHOTO_RATIO * min(width, height)


def plan(attachments: tuple[Attachment, ...]) -> list[Outgoing]:
    """The Bot API calls that send a reply's files, in order.

    Images that sendPhoto takes go as one photo, or as albums of up to ten; the others as
    documents. Voice notes, audio, videos and other files go one a call.
    """
    photos = [a for a in attachments if a.kind == "image" and photo_fits(a.data)]
    calls: list[Outgoing] = []
    for start in range(0, len(photos), MAX_ALBUM):
        chunk = tuple(photos[start : start + MAX_ALBUM])
        calls.append(Outgoing("album" if len(chunk) > 1 else "photo", chunk))
    methods: dict[AttachmentKind, Method] = {"voice": "voice", "audio": "audio", "video": "video"}
    as_photos = {id(a) for a in photos}
    for attachment in attachments:
        if id(attachment) in as_photos:
            continue
        calls.append(Outgoing(methods.get(attachment.kind, "document"), (attachment,)))
    return calls


def caption(markdown: str, head: Part | None = None) -> Part | None:
    """The text as a caption, or None when it does not fit one (it then goes as a message).

    ``head``: a speaker's name above the text (see ``render.heading``).
    """
    if not markdown:
        return None
    part = with_heading(head, Part(markdown, to_html(markdown)))
    # Telegram counts UTF-16 units after parsing; the HTML is longer than that, so checking it
    # (and the plain text, the fallback) is the safe side.
    fits = all(utf16_len(text) <= MAX_CAPTION for text in (part.html, part.markdown))
    return part if fits else None


def filename(attachment: Attachment) -> str:
    """A name for the upload: the core's, or one made from the kind and type."""
    if attachment.filename:
        return attachment.filename
    extension = attachment.mime_type.split("/", 1)[-1].split(";", 1)[0]
    extension = {"jpeg": "jpg", "mpeg": "mp3", "ogg": "ogg", "octet-stream": "bin"}.get(extension, extension)
    return f"{attachment.kind}.{extension}"
