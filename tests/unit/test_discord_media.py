"""The Discord adapter's pure translations of files: kinds in, uploads, voice messages and limits out."""

from __future__ import annotations

import base64
import io
import os
from types import SimpleNamespace

import pytest
from PIL import Image

from adapters.discord.media import (
    VOICE_MESSAGE_FLAG,
    attachment_kind,
    channel_nsfw,
    filename_for,
    media_type,
    plan_uploads,
    shrink_image,
    voice_message_payload,
)
from adapters.discord.writer import final_text, streaming_text
from core.events import Attachment, Notice, Reply
from tests.fakes.media_samples import ogg_opus, png


@pytest.mark.parametrize(
    ("content_type", "filename", "voice", "kind"),
    [
        ("image/png", "cat.png", False, "image"),
        ("image/webp; charset=binary", "x", False, "image"),
        (None, "photo.JPG", False, "image"),
        ("audio/ogg", "voice-message.ogg", True, "voice"),
        ("audio/ogg", "song.ogg", False, "audio"),
        ("audio/mpeg", "song.mp3", False, "audio"),
        ("video/mp4", "clip.mp4", False, "video"),
        ("video/mp4", "clip.mp4", True, "video"),  # the voice flag is about audio only
        ("application/pdf", "paper.pdf", False, "document"),
        ("text/plain; charset=utf-8", "notes.txt", False, "document"),
        (None, "report.docx", False, "document"),
        ("application/octet-stream", "sheet.xlsx", False, "document"),
        ("application/zip", "photos.zip", False, "file"),
        (None, "noextension", False, "file"),
    ],
)
def test_attachment_kinds(content_type: str | None, filename: str, voice: bool, kind: str) -> None:
    assert attachment_kind(content_type, filename, voice_message=voice) == kind


def test_media_type_drops_parameters_and_guesses_from_the_name() -> None:
    assert media_type("Audio/OGG; codecs=opus", "v.ogg") == "audio/ogg"
    assert media_type(None, "clip.mp4") == "video/mp4"
    assert media_type(None, "mystery") == "application/octet-stream"


def test_channel_nsfw_follows_the_flag_and_is_none_outside_servers() -> None:
    assert channel_nsfw(SimpleNamespace(guild=None)) is None
    assert channel_nsfw(SimpleNamespace(guild=object(), is_nsfw=lambda: True)) is True
    assert channel_nsfw(SimpleNamespace(guild=object(), is_nsfw=lambda: False)) is False


def test_file_names_carry_the_right_extension() -> None:
    assert filename_for(Attachment("image", "image/png", b"")) == "image.png"
    assert filename_for(Attachment("image", "image/jpeg", b""), 2) == "image-3.jpg"
    assert filename_for(Attachment("video", "video/mp4", b"")) == "video.mp4"
    assert filename_for(Attachment("voice", "audio/ogg", b"")) == "voice.ogg"
    assert filename_for(Attachment("audio", "audio/mpeg", b"")) == "audio.mp3"
    assert filename_for(Attachment("file", "text/plain", b"", filename="notes.txt")) == "notes.txt"


def noisy_png(side: int) -> bytes:
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def test_an_image_over_the_limit_is_sent_as_a_smaller_jpeg() -> None:
    big = noisy_png(400)  # noise does not compress: ~480 KB of PNG
    shrunk = shrink_image(big, 200_000)
    assert shrunk is not None and len(shrunk) <= 200_000
    with Image.open(io.BytesIO(shrunk)) as image:
        assert image.format == "JPEG"
    assert shrink_image(big, 100) is None  # no JPEG is that small
    assert shrink_image(b"not an image", 10_000) is None


def test_plan_uploads_in_a_channel_and_in_an_interaction() -> None:
    voice = Attachment("voice", "audio/ogg", ogg_opus(1.0), duration=1.0)
    picture = Attachment("image", "image/png", png(64, 64))
    video = Attachment("video", "video/mp4", b"\0" * 20_000)
    channel = plan_uploads([picture, picture, voice, video], limit=10_000, voice_messages=True)
    assert [u.filename for u in channel.files] == ["image.png", "image-2.png"]
    assert channel.voice == [voice]
    assert len(channel.notices) == 1 and "video" in channel.notices[0]
    interaction = plan_uploads([voice], limit=10_000, voice_messages=False)
    assert [u.filename for u in interaction.files] == ["voice.ogg"] and interaction.voice == []
    big = plan_uploads([Attachment("image", "image/png", noisy_png(300))], limit=150_000, voice_messages=True)
    assert [u.filename for u in big.files] == ["image.jpg"] and not big.notices


def test_voice_message_payload_has_the_flag_duration_and_waveform() -> None:
    audio = ogg_opus(2.5)
    payload = voice_message_payload(Attachment("voice", "audio/ogg", audio))  # duration read from the stream
    assert payload["flags"] == VOICE_MESSAGE_FLAG == 8192
    meta = payload["attachments"][0]
    assert meta["id"] == 0 and meta["filename"] == "voice-message.ogg"
    assert meta["duration_secs"] == pytest.approx(2.5, abs=0.02)
    levels = base64.b64decode(meta["waveform"])
    assert 0 < len(levels) <= 256 and max(levels) == 255
    given = voice_message_payload(
        Attachment("voice", "audio/ogg", audio, duration=7.0), reference={"message_id": 1}
    )
    assert given["attachments"][0]["duration_secs"] == 7.0 and given["message_reference"] == {"message_id": 1}
    assert "content" not in given  # Discord refuses text on a voice message


def test_final_and_streaming_text() -> None:
    assert final_text(Reply()) == "Done."
    assert final_text(Reply(), with_files=True) == ""
    text = final_text(Reply("Here", notices=(Notice("blurred", "warning"),)), warnings=("too big",))
    assert text == "Here\n\n-# ⚠️ blurred\n\n-# ⚠️ too big"
    assert streaming_text("", "⏳ Rendering… 40%") == "⏳ Rendering… 40%"
    assert streaming_text("Partial answer ", "⏳ Speaking…") == "Partial answer\n\n-# ⏳ Speaking…"
    assert streaming_text("All of it", "") == "All of it"
