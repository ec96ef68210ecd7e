"""Telegram's files in and out, without sockets: which file a message carries, how replies' files go."""

from __future__ import annotations

from typing import Any

from telegram import Message

from adapters.telegram.media import (
    MAX_CAPTION,
    caption,
    filename,
    incoming_file,
    photo_fits,
    plan,
    replied_image,
)
from adapters.telegram.uploads import takes_markup
from adapters.telegram.writer import _with_status
from core.events import Attachment
from tests.fakes import media_samples
from tests.fakes.telegram_state import TelegramState


def user_message(kind: str, data: bytes, **fields: Any) -> Message:
    """A user's message with a file, as the fake Telegram makes it, parsed by PTB."""
    state = TelegramState(bot_id=1, bot_username="b_bot", bot_first_name="B")
    update = state.push_media(kind, data, chat_id=42, queue=False, **fields)
    return Message.de_json(update["message"], None)


def image(width: int = 64, height: int = 48, seed: int = 0) -> Attachment:
    return Attachment(
        "image", "image/png", media_samples.png(width, height, seed=seed), filename=f"{seed}.png"
    )


def test_a_photo_is_its_largest_size_as_a_jpeg_image() -> None:
    message = user_message("photo", media_samples.png(1000, 400), caption="what is this?")
    found = incoming_file(message)
    assert found is not None
    assert (found.kind, found.mime_type, found.file_id) == ("image", "image/jpeg", message.photo[-1].file_id)
    assert found.size == message.photo[-1].file_size and found.duration is None
    assert replied_image(message) == found


def test_recordings_keep_the_duration_telegram_states() -> None:
    voice = incoming_file(user_message("voice", media_samples.ogg_opus(1.0), duration=7))
    assert voice is not None and (voice.kind, voice.mime_type, voice.duration) == ("voice", "audio/ogg", 7.0)
    audio = incoming_file(
        user_message(
            "audio", media_samples.mp3(1.0), duration=3, file_name="song.mp3", mime_type="audio/mpeg"
        )
    )
    assert audio is not None and (audio.kind, audio.filename, audio.duration) == ("audio", "song.mp3", 3.0)
    note = incoming_file(user_message("video_note", media_samples.mp4_video(2.0), duration=2, length=240))
    assert note is not None and (note.kind, note.mime_type, note.duration) == ("video", "video/mp4", 2.0)
    video = incoming_file(
        user_message(
            "video", media_samples.mp4_video(4.0), duration=4, width=320, height=240, mime_type="video/mp4"
        )
    )
    assert video is not None and (video.kind, video.duration) == ("video", 4.0)
    assert replied_image(user_message("voice", media_samples.ogg_opus(1.0), duration=1)) is None


def test_documents_are_named_by_their_type() -> None:
    cases = [
        ("image/png", "image"),
        ("audio/mpeg", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
        ("text/csv", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("application/zip", "file"),
        ("application/x-msdownload", "file"),
    ]
    for mime, kind in cases:
        found = incoming_file(user_message("document", b"bytes", file_name="x", mime_type=mime))
        assert found is not None and (found.kind, found.mime_type) == (kind, mime)
    # Without a telling type, the name says it: a slide deck, a script.
    for name in ("deck.PPTX", "tool.py"):
        found = incoming_file(
            user_message("document", b"bytes", file_name=name, mime_type="application/octet-stream")
        )
        assert found is not None and (found.kind, found.filename) == ("document", name)


def test_stated_sizes_reach_the_limits_check() -> None:
    found = incoming_file(user_message("voice", b"OggS", duration=1, file_size=30 * 1024 * 1024))
    assert found is not None and found.size == 30 * 1024 * 1024


def test_what_send_photo_takes() -> None:
    assert photo_fits(media_samples.png(64, 48))
    assert not photo_fits(media_samples.png(8, 8) + bytes(11 * 1024 * 1024))  # over 10 MB
    assert not photo_fits(media_samples.png(2100, 100))  # wider than 20:1
    assert not photo_fits(b"not an image")


def test_images_go_as_one_photo_albums_of_ten_or_documents() -> None:
    assert [c.method for c in plan((image(),))] == ["photo"]
    assert [(c.method, len(c.files)) for c in plan(tuple(image(seed=i) for i in range(11)))] == [
        ("album", 10),
        ("photo", 1),
    ]
    wide = Attachment("image", "image/png", media_samples.png(2100, 100))
    voice = Attachment("voice", "audio/ogg", b"OggS", duration=1.5)
    video = Attachment("video", "video/mp4", b"mp4")
    other = Attachment("file", "application/pdf", b"%PDF")
    audio = Attachment("audio", "audio/mpeg", b"ID3")
    calls = plan((image(seed=1), wide, image(seed=2), voice, video, other, audio))
    assert [(c.method, len(c.files)) for c in calls] == [
        ("album", 2),
        ("document", 1),
        ("voice", 1),
        ("video", 1),
        ("document", 1),
        ("audio", 1),
    ]
    assert calls[1].files[0] is wide
    assert takes_markup((image(),)) and not takes_markup((image(seed=1), image(seed=2)))


def test_captions_fit_1024_characters_or_the_text_goes_as_a_message() -> None:
    part = caption("**A red fox** in the snow")
    assert part is not None and part.html == "<b>A red fox</b> in the snow"
    assert caption("x" * MAX_CAPTION) is not None
    assert caption("x" * (MAX_CAPTION + 1)) is None
    assert caption("&" * 300) is None  # 300 characters, but 1,500 of HTML
    assert caption("🦊" * 600) is None  # Telegram counts UTF-16 units: 1,200
    assert caption("") is None


def test_upload_names() -> None:
    assert filename(Attachment("voice", "audio/ogg", b"", filename="voice.ogg")) == "voice.ogg"
    assert filename(Attachment("image", "image/jpeg", b"")) == "image.jpg"
    assert filename(Attachment("video", "video/mp4", b"")) == "video.mp4"


def test_a_streaming_answer_shows_its_status_under_the_text() -> None:
    assert _with_status("", "⏳ Video queued…") == "⏳ Video queued…"
    assert _with_status("Some text", "⏳ Rendering… 40%") == "Some text\n\n⏳ Rendering… 40%"
    assert _with_status("Some text", "") == "Some text"
