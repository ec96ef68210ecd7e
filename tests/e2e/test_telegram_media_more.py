"""Cut-outs, combinations, animated pictures and YouTube transcripts on Telegram end to end: the real
python-telegram-bot Application against the fake Bot API, the real core, and the fake Venice's
background removal, multi-edit, image-to-video and video transcription endpoints."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.e2e.telegram_support import ALICE, texts
from tests.e2e.test_telegram_media import balance, opened
from tests.fakes import media_samples
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_media_more import MULTI_EDIT_MODEL

VIDEO = "https://youtu.be/dQw4w9WgXcQ"


def album(tg: FakeTelegram, count: int, caption: str, group: str) -> None:
    """Alice sends ``count`` photos at once, the first captioned."""
    for number in range(count):
        picture = media_samples.png(320, 240, seed=number)
        tg.push_photo(picture, caption if number == 0 else "", chat_id=ALICE, media_group_id=group)


async def test_a_photo_captioned_cutout_comes_back_as_a_transparent_png_file_and_is_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_photo(media_samples.png(320, 240), "/cutout", chat_id=ALICE)
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
        after = await balance(tg, ALICE)
    [sent] = tg.sent_files(ALICE)
    assert sent.method == "sendDocument"  # a file: a photo would lose the transparency
    picture = opened(sent.data)
    assert picture.format == "PNG" and picture.mode == "RGBA"
    assert picture.getpixel((0, 0))[3] == 0 and picture.getpixel((160, 120))[3] == 255
    assert tg.visible(ALICE)[0]["caption"].startswith("✂️ Background removed")
    assert venice.cutouts_made == 1
    assert after.startswith("Balance: $0.97\n") and after.endswith("Spent this period: cutout $0.03")


async def test_a_reply_with_cutout_uses_the_replied_photo_and_a_failure_is_refunded(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    photo = tg.push_photo(media_samples.png(320, 240), chat_id=ALICE, queue=False)["message"]
    venice.fail("/image/background-remove", 500)
    async with start_bot():
        tg.push_message("/cutout", chat_id=ALICE, reply_to_message_id=photo["message_id"])
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        after = await balance(tg, ALICE)
    assert texts(tg, ALICE)[0].startswith("⚠️ ") and "You were not charged." in texts(tg, ALICE)[0]
    assert tg.sent_files(ALICE) == [] and venice.cutouts_made == 0
    [tried] = venice.calls_to("/image/background-remove")  # the replied photo went to Venice
    assert opened(tried.files["image"].data).size == (320, 240)
    assert after.startswith("Balance: $1.00\n") and "cutout" not in after


async def test_cutout_without_a_picture_is_refused_before_anything_is_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_message("/cutout", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert texts(tg, ALICE)[0] == "⚠️ Attach an image to /cutout, or reply to an image with /cutout."
    assert venice.calls_to("/image/background-remove") == []


async def test_an_album_captioned_edit_is_combined_by_multi_edit_and_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        album(tg, 3, "/edit put the three together", "trio")
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
        after = await balance(tg, ALICE)
    [sent] = tg.sent_files(ALICE)
    assert sent.method == "sendPhoto" and opened(sent.data).size == (320, 240)
    assert tg.visible(ALICE)[0]["caption"].startswith("🖌️ put the three together (3 pictures combined)")
    [call] = venice.calls_to("/image/multi-edit")
    assert call.body["modelId"] == MULTI_EDIT_MODEL  # IMAGE_EDIT_MODEL takes one: the one that combines
    assert len(call.body["images"]) == 3 and all(
        i.startswith("data:image/jpeg;base64,") for i in call.body["images"]
    )
    assert venice.calls_to("/image/edit") == []
    assert after.endswith("Spent this period: edit $0.05")


async def test_more_pictures_than_any_model_combines_are_refused_and_a_failed_edit_refunded(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        album(tg, 4, "/edit all four", "four")
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        venice.fail("/image/multi-edit", 500)
        album(tg, 2, "/edit the two", "two")
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        after = await balance(tg, ALICE)
    too_many, failed = texts(tg, ALICE)[:2]
    assert (
        too_many.startswith("⚠️ Venice offers no edit model that combines 4 pictures")
        and "(at most 3)" in too_many
    )
    assert failed.startswith("⚠️ ") and "You were not charged." in failed
    assert len(venice.calls_to("/image/multi-edit")) == 1  # the album of four never reached Venice
    assert after.startswith("Balance: $1.00\n") and "edit" not in after


async def test_video_captioning_a_photo_animates_it_after_the_quote_is_confirmed(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(video_poll_seconds=1):
        photo = tg.push_photo(media_samples.png(320, 240), "/video the waves start to move", chat_id=ALICE)
        await tg.wait_for(lambda: any("Make it?" in t for t in texts(tg, ALICE)))
        quote = tg.visible(ALICE)[-1]
        assert quote["text"].startswith(
            "🎬 Animating your picture: a 5s video with wan-2-7-image-to-video costs $0.40."
        )
        assert venice.video_jobs == {}  # nothing queued (or paid) before the user agrees
        tg.push_callback(
            quote["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            chat_id=ALICE,
            message_id=quote["message_id"],
        )
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1, timeout=10)
        after = await balance(tg, ALICE)
    [queued] = venice.calls_to("/video/queue")
    assert (
        queued.body["model"] == "wan-2-7-image-to-video"
        and queued.body["prompt"] == "the waves start to move"
    )
    sent_photo = tg.files[photo["message"]["photo"][-1]["file_id"]]
    assert queued.body["image_url"] == "data:image/jpeg;base64," + base64.b64encode(sent_photo).decode()
    assert tg.sent_files(ALICE)[0].method == "sendVideo"
    assert after.endswith("Spent this period: video $0.40")


async def test_a_youtube_transcript_is_answered_kept_for_follow_ups_and_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    filler = " ".join(f"Minute {n}: the presenter talks about kitchen tools." for n in range(40))
    venice.video_transcript = f"{filler} The dough rests for exactly twelve hours. {filler}"
    venice.script.append(ChatScript(content="A baking video.", cost_usd=0.002))
    async with start_bot():
        tg.push_message(f"/transcript {VIDEO}", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        tg.push_message("How long does the dough rest?", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        after = await balance(tg, ALICE)
    answer = texts(tg, ALICE)[0]
    assert answer.startswith(f"📄 the transcript of {VIDEO} · ") and answer.endswith("A baking video.")
    [transcribed] = venice.calls_to("/video/transcriptions")
    assert transcribed.body == {"url": VIDEO, "response_format": "json"}
    first, follow_up = (c.body["messages"] for c in venice.calls_to("/chat/completions"))
    assert "twelve hours" in first[-1]["content"] and first[-1]["content"].endswith(
        "Summarise this video briefly."
    )
    recalled = [str(m["content"]) for m in follow_up if m["role"] == "system" and VIDEO in str(m["content"])]
    assert recalled and "twelve hours" in recalled[0]  # memory recalls the transcript's passage
    assert "Minute 39" not in follow_up[-1]["content"]  # the transcript itself is not sent again
    assert re.search(r"Spent this period: transcript \$0\.05, chat \$0\.002", after), after


async def test_a_link_that_is_not_youtube_is_refused_free_and_a_failed_transcript_refunded(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_message("/transcript https://example.com/talk.mp4", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        venice.fail("/video/transcriptions", 400, {"error": "url must be a valid YouTube video URL"})
        tg.push_message(f"/transcript {VIDEO}", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        after = await balance(tg, ALICE)
    refused, failed = texts(tg, ALICE)[:2]
    assert refused.startswith("⚠️ Venice transcribes YouTube videos only")
    assert failed == (
        "⚠️ Venice could not transcribe that video: it may be private, removed, or not a video. "
        "You were not charged."
    )
    assert len(venice.calls_to("/video/transcriptions")) == 1  # the other link never reached Venice
    assert venice.calls_to("/chat/completions") == []
    assert after.startswith("Balance: $1.00\n") and "transcript" not in after
