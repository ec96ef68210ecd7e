"""The Telegram adapter's media end to end: the real python-telegram-bot Application over HTTP
against the fake Bot API, the real core, and the fake Venice's media endpoints."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

from mutagen.oggopus import OggOpus
from PIL import Image

from adapters.telegram.bot import TelegramOptions
from adapters.telegram.uploads import VOICE_BLOCKED
from adapters.telegram.writer import Pace
from core.events import Attachment, Destination, Reply
from tests.e2e.telegram_support import ALICE, BOB, GROUP, texts
from tests.fakes import media_samples
from tests.fakes.media_samples import parse_ogg
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_media import DEFAULT_TRANSCRIPT

EDITS = TelegramOptions(poll_timeout=1, pace=Pace(0, 0, 0), use_drafts=False)  # every change shown


def opened(data: bytes) -> Image.Image:
    """The image Pillow reads from the bytes (it raises if they are not one)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def balance(tg: FakeTelegram, chat_id: int) -> str:
    """What /balance tells the user now."""
    before = len(texts(tg, chat_id))
    tg.push_message("/balance", chat_id=chat_id)
    await tg.wait_for(lambda: len(texts(tg, chat_id)) == before + 1)
    return texts(tg, chat_id)[-1]


async def test_a_voice_note_is_transcribed_quoted_and_answered(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    note = media_samples.ogg_opus(2.0)
    async with start_bot():
        tg.push_voice(note, chat_id=ALICE, duration=2)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    [answer] = tg.visible(ALICE)
    assert answer["text"].startswith(f"🎤 {DEFAULT_TRANSCRIPT}\n")
    quote = answer["entities"][0]
    assert quote["type"] == "blockquote" and quote["offset"] == 0  # the transcript is shown as a quote
    assert DEFAULT_TRANSCRIPT in answer["text"].split("\n", 1)[1]  # ...and answered below it
    [heard] = venice.calls_to("/audio/transcriptions")
    assert heard.files["file"].data == note
    assert (
        venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"].endswith(DEFAULT_TRANSCRIPT)
    )


async def test_voice_mode_answers_with_a_valid_ogg_opus_voice_note(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(content="Foxes are small wild canids.", chunk_delay=0.05))
    async with start_bot():
        tg.push_message("/voicemode on", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        tg.push_message("Tell me about foxes", chat_id=ALICE)
        await tg.wait_for(lambda: len(venice.calls_to("/chat/completions")) == 1)
        venice.delay = 0.3  # speech takes a moment, as it does at Venice: long enough to show it
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
    assert texts(tg, ALICE)[-1] == "Foxes are small wild canids."  # the text as always, then the voice
    [voice] = tg.sent_files(ALICE)
    assert (voice.method, voice.field) == ("sendVoice", "voice")
    pages = parse_ogg(voice.data)  # a valid Ogg stream: capture patterns, CRCs, sequence
    assert pages[0].body.startswith(b"OpusHead")
    length = OggOpus(io.BytesIO(voice.data)).info.length
    assert length > 0 and voice.params["duration"] == max(1, round(length))
    assert tg.visible(ALICE)[-1]["voice"]["mime_type"] == "audio/ogg"
    assert "record_voice" in tg.chat_actions(ALICE)


async def test_a_user_who_forbids_voice_messages_gets_an_audio_file_and_a_notice(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    tg.forbid_voice(ALICE)
    async with start_bot():
        tg.push_message("/voicemode mirror", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        tg.push_voice(media_samples.ogg_opus(1.5), chat_id=ALICE, duration=2)
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
    [refused] = tg.calls_to("sendVoice")
    assert refused.status == 400 and "VOICE_MESSAGES_FORBIDDEN" in refused.response["description"]  # type: ignore[index]
    [audio] = tg.sent_files(ALICE)
    assert (audio.method, audio.field) == ("sendAudio", "audio")
    assert audio.data == refused.params["voice"]["data"]  # the same Ogg/Opus bytes
    shown = tg.visible(ALICE)[-1]
    assert "privacy settings block voice messages" in shown["caption"]
    assert shown["caption"] == VOICE_BLOCKED


async def test_imagine_with_two_variants_sends_an_album(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_message("/imagine a red fox --variants 2", chat_id=ALICE)
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 2)
    first, second = tg.sent_files(ALICE)
    assert first.method == second.method == "sendMediaGroup"
    assert [opened(f.data).size for f in (first, second)] == [(1024, 1024), (1024, 1024)]
    assert first.data != second.data  # two variants, not one twice
    album = tg.visible(ALICE)
    assert len(album) == 2 and album[0]["media_group_id"] == album[1]["media_group_id"]
    assert album[0]["caption"].startswith("🎨 a red fox") and "caption" not in album[1]
    assert venice.calls_to("/image/generate")[0].body["variants"] == 2
    assert tg.chat_actions(ALICE)[0] == "upload_photo"  # shown while Venice drew, not "typing"


async def test_a_photo_with_a_question_goes_to_a_vision_model_as_a_data_url(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(content="A steel-blue square with shapes."))
    async with start_bot() as adapter:
        bot = f"@{adapter.app.bot.username}"
        tg.push_photo(
            media_samples.png(640, 480), "nobody asked the bot", chat_id=GROUP, chat_type="supergroup"
        )
        update = tg.push_photo(
            media_samples.png(640, 480), f"{bot} what is this?", chat_id=GROUP, user_id=BOB
        )
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 1)
    [answer] = texts(tg, GROUP)
    assert answer.startswith("A steel-blue square with shapes.") and "answered this one" in answer
    [asked] = venice.calls_to("/chat/completions")  # the unaddressed photo was left alone
    assert asked.body["model"] == "qwen3-vl-235b-a22b"  # the chat's model sees no images: a vision model did
    parts = asked.body["messages"][-1]["content"]
    question = next(p for p in parts if p["type"] == "text")
    assert "what is this?" in question["text"] and bot not in question["text"]
    url = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    largest = update["message"]["photo"][-1]["file_id"]
    assert base64.b64decode(url.split(",", 1)[1]) == tg.files[largest]
    assert tg.visible(GROUP)[0]["reply_to_message"]["message_id"] == update["message"]["message_id"]


async def test_a_photo_replied_to_with_upscale_comes_back_upscaled(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    photo = tg.push_photo(media_samples.png(320, 240), chat_id=ALICE, queue=False)["message"]
    async with start_bot():
        tg.push_message("/upscale 2", chat_id=ALICE, reply_to_message_id=photo["message_id"])
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
    [sent] = tg.sent_files(ALICE)
    assert sent.method == "sendPhoto" and opened(sent.data).size == (640, 480)
    assert tg.visible(ALICE)[0]["caption"].startswith("🔍 Upscaled 2×")
    assert venice.last_upscale_size == len(tg.files[photo["photo"][-1]["file_id"]])


async def test_a_voice_note_over_the_limit_is_refused_unheard_and_free(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(max_voice_seconds=60):
        before = await balance(tg, ALICE)
        tg.push_voice(media_samples.ogg_opus(1.0), chat_id=ALICE, duration=600)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        refusal = texts(tg, ALICE)[-1]
        after = await balance(tg, ALICE)
    assert refusal.startswith("⚠️ That recording is 10 min 00 s long") and "up to 1 min" in refusal
    assert venice.calls_to("/audio/transcriptions") == [] and tg.calls_to("getFile") == []
    assert after == before


async def test_a_file_telegram_will_not_hand_over_is_refused_clearly(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_document(
            media_samples.png(64, 64),
            chat_id=ALICE,
            file_name="scan.png",
            mime_type="image/png",
            caption="what is this?",
            file_size=22 * 1024 * 1024,
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert "Telegram lets bots download files up to 20 MB" in texts(tg, ALICE)[0]
    assert tg.calls_to("getFile") == [] and venice.calls_to("/chat/completions") == []


async def test_corrupt_audio_gets_a_clear_message_and_no_charge(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        before = await balance(tg, ALICE)
        tg.push_voice(b"OggS" + bytes(range(256)) * 8, chat_id=ALICE, duration=3)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        refusal = texts(tg, ALICE)[-1]
        after = await balance(tg, ALICE)
    assert refusal.startswith("⚠️ ") and "Sorry, something went wrong" not in refusal
    assert venice.calls_to("/audio/transcriptions") == []
    assert after == before


async def test_video_quote_confirm_progress_then_an_mp4(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.video_polls_until_done = 3
    async with start_bot(options=EDITS, video_poll_seconds=1):
        tg.push_message("/video a fox running through snow", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        quote = tg.visible(ALICE)[0]
        buttons = [b for row in quote["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons[0]["text"].startswith("✅ Make it ($") and buttons[1]["text"] == "✖ Cancel"
        assert buttons[0]["callback_data"].startswith("c:/videoconfirm ")
        assert venice.video_jobs == {}  # nothing is made (or paid) before the user agrees
        tg.push_callback(buttons[0]["callback_data"], chat_id=ALICE, message_id=quote["message_id"])
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1, timeout=10)
    [video] = tg.sent_files(ALICE)
    assert (video.method, video.field) == ("sendVideo", "video")
    assert video.params["supports_streaming"] is True
    assert media_samples.mp4_duration(video.data) > 0
    progress = [m for m in tg.calls_to("sendMessage") if m.params["text"].startswith("⏳")]
    assert progress, "the progress line was shown"
    shown = tg.edits_of(ALICE, progress[0].response["result"]["message_id"])  # type: ignore[index]
    assert shown[0] == "⏳ Video queued at Venice…" and len(shown) >= 2  # it moved on by editing
    assert (
        tg.message(ALICE, progress[0].response["result"]["message_id"]) is None
    )  # gone: the video replaced it  # type: ignore[index]
    assert "upload_video" in tg.chat_actions(ALICE)


async def test_a_video_telegram_refuses_is_not_charged_and_the_user_is_told(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(video_poll_seconds=1):
        before = await balance(tg, ALICE)
        tg.push_message("/video a fox running through snow", chat_id=ALICE)
        await tg.wait_for(lambda: any("Make it?" in t for t in texts(tg, ALICE)))
        quote = tg.visible(ALICE)[-1]
        tg.fail("sendVideo", 400, "Bad Request: wrong file identifier/HTTP URL specified")
        tg.push_callback(
            quote["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            chat_id=ALICE,
            message_id=quote["message_id"],
        )
        await tg.wait_for(lambda: any("could not be sent here" in t for t in texts(tg, ALICE)), timeout=10)
        after = await balance(tg, ALICE)
    assert tg.sent_files(ALICE) == []
    assert "not charged" in next(t for t in texts(tg, ALICE) if "could not be sent here" in t)
    assert after == before


async def test_a_video_for_a_user_who_blocked_the_bot_meanwhile_is_not_charged(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(video_poll_seconds=1) as adapter:
        before = await balance(tg, ALICE)
        tg.push_message("/video a fox running through snow", chat_id=ALICE)
        await tg.wait_for(lambda: any("Make it?" in t for t in texts(tg, ALICE)))
        quote = tg.visible(ALICE)[-1]
        tg.block(ALICE)  # right after pressing "Make it": nothing more reaches her
        tg.push_callback(
            quote["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            chat_id=ALICE,
            message_id=quote["message_id"],
        )
        await tg.wait_for(lambda: bool(venice.calls_to("/video/retrieve")), timeout=10)
        jobs = adapter._service.store.video_jobs
        while await jobs.queued():  # until the job has ended, one way or the other
            await asyncio.sleep(0.05)
        tg.unblock(ALICE)
        after = await balance(tg, ALICE)
    assert tg.sent_files(ALICE) == []
    assert after == before  # made, but it never reached her: not charged


async def test_late_results_are_delivered_to_their_chat_and_topic(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    forum = -100333
    tg.add_chat(forum, "supergroup", is_forum=True)
    tg.add_topic(forum, 7)
    tg.add_chat(ALICE)
    clip = Attachment("video", "video/mp4", media_samples.mp4_video(2.0), filename="fox.mp4", duration=2.0)
    wide = Attachment("image", "image/png", media_samples.png(2100, 100), filename="banner.png")
    async with start_bot() as adapter:
        deliver = adapter._service.deliverers["telegram"]
        await deliver(Destination("telegram", str(forum), str(ALICE), "7"), Reply("🎬 Your video", (clip,)))
        await deliver(Destination("telegram", str(ALICE), str(ALICE)), Reply("x" * 2000, (wide,)))
    assert "telegram" not in adapter._service.deliverers
    [shown] = tg.visible(forum, thread_id=7)
    assert shown["caption"] == "🎬 Your video" and shown["video"]["duration"] == 2
    text, document = tg.visible(ALICE)  # too long for a caption: the text first, then the file
    assert text["text"] == "x" * 2000 and "caption" not in document
    assert document["document"]["file_name"] == "banner.png"  # too wide for sendPhoto: sent as a file


async def test_hidden_commands_are_left_out_of_the_menus(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        pass
    menus = [c.params["commands"] for c in tg.calls_to("setMyCommands")]
    names = {command["command"] for menu in menus for command in menu}
    assert {"imagine", "video", "voicemode"} <= names
    assert not names & {"videoconfirm", "videocancel"}


async def test_group_voice_notes_are_heard_only_when_addressed(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        tg.push_message("/help", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 1)
        tg.push_voice(media_samples.ogg_opus(1.0), chat_id=GROUP, duration=1, user_id=BOB)
        tg.push_voice(
            media_samples.ogg_opus(1.0),
            chat_id=GROUP,
            duration=1,
            user_id=BOB,
            reply_to_message_id=tg.visible(GROUP)[0]["message_id"],
        )
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 2)
        await asyncio.sleep(0.1)
    assert len(venice.calls_to("/audio/transcriptions")) == 1
    assert texts(tg, GROUP)[1].startswith(f"🎤 {DEFAULT_TRANSCRIPT}")
