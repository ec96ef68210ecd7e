"""Tests of the fake Telegram server itself, through the real python-telegram-bot over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import socket
import ssl
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from tests.fakes import media_samples
from tests.fakes.telegram import FakeTelegram

# The fake speaks plain HTTP, but every httpx client builds a TLS context (~50 ms) unless given one.
TLS = ssl.create_default_context()
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
Received = list[Update]
App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def fast_request() -> HTTPXRequest:
    """Return PTB's default request class, minus the ~50 ms SSL context each of its httpx clients builds."""
    return HTTPXRequest(httpx_kwargs={"verify": TLS})


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(
        tg.token,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        request=fast_request(),
        get_updates_request=fast_request(),
    ) as client:
        yield client


def build_app(tg: FakeTelegram) -> App:
    builder = ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)
    return builder.request(fast_request()).get_updates_request(fast_request()).build()


@asynccontextmanager
async def polling(tg: FakeTelegram, *handlers: BaseHandler[Any, Any, Any]) -> AsyncIterator[App]:
    """Run a real Application polling the fake, as the bot does in production; fail on any handler error."""
    app = build_app(tg)
    errors: list[object] = []

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    for handler in handlers:
        app.add_handler(handler)
    app.add_error_handler(collect)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
    assert errors == []


def recorder(received: Received) -> Any:
    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        received.append(update)

    return record


# ---- the bot, polling, handlers --------------------------------------------------------------


async def test_get_me_and_a_wrong_token(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot, me.can_join_groups) == (123456, "venice_test_bot", True, True)
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with Bot("123456:wrong", base_url=tg.base_url):
            pass  # initialize() calls getMe
    assert tg.calls_to("getme")[-1].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    async with httpx.AsyncClient(verify=TLS) as http:
        answer = await http.post(f"{tg.base_url}{tg.token}/noSuchMethod")
    assert (answer.status_code, answer.json()["description"]) == (404, "Not Found")


async def test_a_pushed_message_reaches_a_message_handler_and_the_reply_is_visible(tg: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text.upper(), do_quote=True)

    async with polling(tg, MessageHandler(filters.TEXT & ~filters.COMMAND, echo)):
        pushed = tg.push_message("hello there", chat_id=42, username="alice")
        [call] = await tg.wait_for_call("sendMessage", chat_id=42)
    assert call.params["text"] == "HELLO THERE"
    assert call.params["reply_parameters"]["message_id"] == pushed["message"]["message_id"]
    [shown] = tg.visible(42)
    assert shown["text"] == "HELLO THERE" and shown["from"]["id"] == tg.bot_id
    assert shown["reply_to_message"]["text"] == "hello there"
    assert shown["message_id"] == pushed["message"]["message_id"] + 1  # one counter per chat


async def test_commands_reach_a_command_handler_with_or_without_the_bot_name(tg: FakeTelegram) -> None:
    received: Received = []
    async with polling(tg, CommandHandler("start", recorder(received))):
        first = tg.push_message("/start", chat_id=7)
        tg.push_message("/start@venice_test_bot now", chat_id=-100500, chat_type="supergroup")
        tg.push_message("/start@some_other_bot", chat_id=-100500)  # PTB ignores commands for other bots
        await tg.wait_for(lambda: len(received) == 2)
        await asyncio.sleep(0.05)
    assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert [u.effective_chat.id for u in received if u.effective_chat] == [7, -100500]
    assert received[1].message is not None and received[1].message.from_user is not None
    assert received[1].message.from_user.id == 1001  # DEFAULT_USER_ID in groups


def test_entities_of_pushed_messages_count_utf16() -> None:
    tg = FakeTelegram()
    update = tg.push_message("/ask@venice_test_bot 👋 @bob, mail a@b.co", chat_id=5, queue=False)
    assert update["message"]["entities"] == [
        {"type": "bot_command", "offset": 0, "length": 20},  # the @bot part is no mention
        {"type": "mention", "offset": 24, "length": 4},  # the emoji counts 2
    ]
    update = tg.push_message("hi 😀 @venice_test_bot, try /help", chat_id=5, queue=False)
    assert update["message"]["entities"] == [
        {"type": "mention", "offset": 6, "length": 16},
        {"type": "bot_command", "offset": 28, "length": 5},
    ]


# ---- sending, editing, Telegram's validation -------------------------------------------------


async def test_send_edit_delete_round_trip(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    sent = await bot.send_message(42, "<b>Thinking</b>…", parse_mode=ParseMode.HTML)
    assert (sent.text, sent.entities[0].type, sent.chat.type) == ("Thinking…", "bold", "private")
    edited = await bot.edit_message_text("Done: <i>42</i>", 42, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, Message) and edited.text == "Done: 42" and edited.edit_date is not None
    assert [m["text"] for m in tg.visible(42)] == ["Done: 42"]
    assert tg.edits_of(42, sent.message_id) == ["Thinking…", "Done: 42"]
    assert await bot.delete_message(42, sent.message_id)
    assert tg.visible(42) == []
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(42, sent.message_id)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", 42, 999)
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(43, "nobody started the bot here")


async def test_html_is_parsed_like_telegram(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    for bad, reason in [
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("R&D", 'Character "&" at byte offset 1 must be escaped as "&amp;"'),
    ]:
        with pytest.raises(BadRequest, match="^Can't parse entities: "):
            await bot.send_message(42, bad, parse_mode=ParseMode.HTML)
        # PTB drops "Bad Request: " and lower-cases the rest (str.capitalize), so compare Telegram's own text.
        assert tg.calls[-1].response == {
            "ok": False,
            "error_code": 400,
            "description": f"Bad Request: can't parse entities: {reason}",
        }
    ok = await bot.send_message(
        42, 'R&amp;D <a href="https://venice.ai">site</a> <code>x &lt; y</code>', parse_mode=ParseMode.HTML
    )
    assert ok.text == "R&D site x < y"
    assert [(e.type, e.offset, e.length, e.url) for e in ok.entities] == [
        ("text_link", 4, 4, "https://venice.ai/"),
        ("code", 9, 5, None),
    ]
    assert tg.calls_to("sendMessage")[-1].params["parse_mode"] == "HTML"


async def test_text_length_is_counted_after_parsing(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    # Tags do not count; each character reference counts as the one character it stands for.
    html = "<b>" + "x" * 4090 + "</b>&amp;&lt;&gt;&quot;&#33;&#x21;"
    longest = await bot.send_message(42, html, parse_mode=ParseMode.HTML)
    assert longest.text is not None and len(longest.text) == 4096 and longest.text.endswith('&<>"!!')
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(42, html + "x", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(42, "x" * 4097)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(42, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(42, "<b> </b>\n", parse_mode=ParseMode.HTML)


async def test_an_unchanged_edit_is_not_modified(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]])
    sent = await bot.send_message(42, "same", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified: specified new message content"):
        await bot.edit_message_text(
            "same ", 42, sent.message_id, reply_markup=keyboard
        )  # trailing space trimmed
    edited = await bot.edit_message_text("same", 42, sent.message_id)  # dropping the keyboard is a change
    assert isinstance(edited, Message) and edited.reply_markup is None
    assert "reply_markup" not in tg.visible(42)[0]
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])  # 66 bytes
        await bot.edit_message_reply_markup(42, sent.message_id, reply_markup=too_long)


async def test_scripted_failures(tg: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    tg.add_chat(42)
    tg.add_chat(43)
    tg.fail("sendMessage", retry_after=1)
    # PTB 22 keeps a timedelta; unless PTB_TIMEDELTA is set, reading retry_after (which RetryAfter's own
    # constructor does) gives int seconds and warns.
    with pytest.raises(RetryAfter) as caught, pytest.warns(PTBDeprecationWarning):
        await bot.send_message(42, "flood")
    assert tg.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    with pytest.warns(PTBDeprecationWarning):
        assert caught.value.retry_after == 1
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    assert caught.value.retry_after == dt.timedelta(seconds=1)

    tg.fail("sendMessage", description="Bad Request: just this chat", chat_id=43, times=2)
    await bot.send_message(42, "another chat is fine")
    for _ in range(2):
        with pytest.raises(BadRequest, match="(?i)just this chat"):
            await bot.send_message(43, "x")
    await bot.send_message(43, "then it works again")

    tg.block(42)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "hello?")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(42, "typing")
    tg.unblock(42)
    assert await bot.send_chat_action(42, "typing")

    tg.delay = 0.2
    started = time.monotonic()
    await bot.send_message(42, "slow")
    assert time.monotonic() - started >= 0.2


async def test_message_drafts_in_private_chats_only(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    tg.add_chat(-100, "supergroup")
    assert await bot.send_message_draft(42, draft_id=7, text="Thinking")
    assert await bot.send_message_draft(42, draft_id=7, text="Thinking <b>hard</b>", parse_mode="HTML")
    assert await bot.send_message_draft(
        42, draft_id=7, text=""
    )  # Bot API 10.0: the "Thinking..." placeholder
    assert tg.drafts(42) == ["Thinking", "Thinking hard", ""]
    assert tg.visible(42) == []  # drafts are no messages
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message_draft(-100, draft_id=7, text="groups have no drafts")
    with pytest.raises(BadRequest, match="(?i)draft_id must be non-zero"):
        await bot.send_message_draft(42, draft_id=0, text="x")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message_draft(42, draft_id=7, text="x" * 4097)


async def test_set_my_commands_is_validated_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("/model", "  Pick a model ")])
    assert await bot.set_my_commands([BotCommand("hilfe", "Hilfe")], language_code="de")
    listed = [(c.command, c.description) for c in await bot.get_my_commands()]
    assert listed == [("start", "Start"), ("model", "Pick a model")]
    assert tg.my_commands(language_code="de") == [{"command": "hilfe", "description": "Hilfe"}]
    for commands, reason in [
        ([BotCommand("Start", "x")], "BOT_COMMAND_INVALID"),
        ([BotCommand("my-model", "x")], "BOT_COMMAND_INVALID"),
        ([BotCommand("x" * 33, "x")], "command length must not exceed 32"),
        ([BotCommand("ok", "")], "command description must be non-empty"),
        ([BotCommand("ok", "d" * 257)], "command description length must not exceed 256"),
        ([BotCommand(f"c{i}", "x") for i in range(101)], "BOT_COMMANDS_TOO_MUCH"),
    ]:
        with pytest.raises(BadRequest):
            await bot.set_my_commands(commands)
        assert tg.calls[-1].response == {
            "ok": False,
            "error_code": 400,
            "description": f"Bad Request: {reason}",
        }
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_chat_members_come_from_admins_and_creators(tg: FakeTelegram, bot: Bot) -> None:
    tg.push_message("hi", chat_id=-100, chat_type="supergroup", user_id=1, first_name="Owner", queue=False)
    tg.push_message("hi", chat_id=-100, user_id=2, first_name="Admin", queue=False)
    tg.push_message("hi", chat_id=-100, user_id=3, first_name="Member", queue=False)
    tg.creators[-100] = 1
    tg.admins.add((-100, 2))
    statuses = [(await bot.get_chat_member(-100, user)).status for user in (1, 2, 3)]
    assert statuses == ["creator", "administrator", "member"]
    assert [m.user.first_name for m in await bot.get_chat_administrators(-100)] == ["Owner", "Admin"]
    chat = await bot.get_chat(-100)
    assert (chat.type, chat.title) == ("supergroup", "Test supergroup 100")


async def test_reactions_are_limited_to_telegrams_list(tg: FakeTelegram, bot: Bot) -> None:
    pushed = tg.push_message("thanks!", chat_id=42, queue=False)["message"]
    assert await bot.set_message_reaction(42, pushed["message_id"], "👍")
    assert tg.reactions[(42, pushed["message_id"])] == [{"type": "emoji", "emoji": "👍"}]
    with pytest.raises(BadRequest, match="(?i)REACTION_INVALID"):
        await bot.set_message_reaction(42, pushed["message_id"], "✅")  # PTB sends it as a custom emoji id
    with pytest.raises(BadRequest, match="(?i)MESSAGE_ID_INVALID"):
        await bot.set_message_reaction(42, 999, "👍")


# ---- callbacks, files, forums ----------------------------------------------------------------


async def test_a_button_press_reaches_a_callback_query_handler(tg: FakeTelegram) -> None:
    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("Stopped")
        await query.edit_message_text(f"stopped by {query.from_user.first_name} ({query.data})")

    tg.add_chat(42)
    async with polling(tg, CallbackQueryHandler(pressed, pattern="^stop:")) as app:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop:1")]])
        sent = await app.bot.send_message(42, "streaming…", reply_markup=keyboard)
        assert tg.visible(42)[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "stop:1"
        tg.push_callback("stop:1", chat_id=42, message_id=sent.message_id)
        await tg.wait_for_call("editMessageText", chat_id=42)
    [answer] = tg.calls_to("answerCallbackQuery")
    assert answer.params["text"] == "Stopped" and answer.status == 200
    assert tg.visible(42)[0]["text"] == "stopped by Alice (stop:1)"


async def test_files_upload_get_file_and_download(tg: FakeTelegram) -> None:
    received: list[bytes] = []

    async def on_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.voice is not None
        voice_file = await update.message.voice.get_file()
        received.append(bytes(await voice_file.download_as_bytearray()))
        await update.message.reply_document(
            b"%PDF-1.4 fake", filename="answer.pdf", caption="<b>done</b>", parse_mode="HTML"
        )
        await update.message.reply_photo(PNG_1X1)

    async with polling(tg, MessageHandler(filters.VOICE, on_voice)):
        tg.push_message("", chat_id=42, voice=b"OggS fake opus", duration=3)
        await tg.wait_for_call("sendPhoto")
    assert received == [b"OggS fake opus"]
    document_call = tg.calls_to("sendDocument")[0]
    assert document_call.params["document"] == {
        "filename": "answer.pdf",
        "content_type": "application/pdf",
        "data": b"%PDF-1.4 fake",
    }
    document, photo = tg.visible(42)
    assert document["document"]["file_name"] == "answer.pdf" and document["caption"] == "done"
    assert tg.files[document["document"]["file_id"]] == b"%PDF-1.4 fake"
    assert (photo["photo"][0]["width"], photo["photo"][0]["height"]) == (1, 1)


async def test_photos_must_be_images_and_file_ids_can_be_reused(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(42, b"aGVsbG8=")  # base64 text, not the decoded image
    first = await bot.send_photo(42, PNG_1X1)
    again = await bot.send_photo(42, first.photo[0].file_id)
    assert again.photo[0].file_id == first.photo[0].file_id
    got = await bot.get_file(first.photo[0].file_id)
    assert got.file_path == f"{tg.base_file_url}{tg.token}/photos/file_1.jpg"  # PTB makes the path absolute
    assert bytes(await got.download_as_bytearray()) == PNG_1X1


# ---- media -----------------------------------------------------------------------------------


async def test_a_pushed_photo_comes_in_jpeg_sizes_that_get_file_serves(tg: FakeTelegram) -> None:
    received: Received = []
    async with polling(tg, MessageHandler(filters.PHOTO, recorder(received))) as app:
        tg.push_photo(media_samples.png(1000, 500), "/upscale 2", chat_id=42)
        await tg.wait_for(lambda: len(received) == 1)
        message = received[0].message
        assert message is not None and message.caption == "/upscale 2"
        assert [(size.width, size.height) for size in message.photo] == [
            (90, 45),
            (320, 160),
            (800, 400),
            (1000, 500),
        ]
        assert message.caption_entities[0].type == "bot_command" and message.caption_entities[0].length == 8
        largest = await (await app.bot.get_file(message.photo[-1].file_id)).download_as_bytearray()
    with Image.open(io.BytesIO(bytes(largest))) as image:  # Telegram keeps photos as JPEG
        assert (image.format, image.size) == ("JPEG", (1000, 500))
    assert message.photo[-1].file_size == len(largest)


async def test_voice_audio_video_note_video_and_document_arrive_with_telegrams_fields(
    tg: FakeTelegram,
) -> None:
    received: Received = []
    opus = media_samples.ogg_opus(2.0)
    async with polling(tg, MessageHandler(filters.ALL, recorder(received))) as app:
        tg.push_voice(opus, chat_id=42, duration=2)
        tg.push_audio(media_samples.mp3(3.0), chat_id=42, duration=3, file_name="song.mp3", caption="listen")
        tg.push_video_note(media_samples.mp4_video(4.0), chat_id=42, duration=4, length=240)
        tg.push_video(media_samples.mp4_video(5.0), chat_id=42, duration=5, width=320, height=240)
        tg.push_document(b"%PDF-1.4", chat_id=42, file_name="a.pdf", mime_type="application/pdf")
        await tg.wait_for(lambda: len(received) == 5)
        voice_bytes = await (
            await app.bot.get_file(received[0].message.voice.file_id)
        ).download_as_bytearray()  # type: ignore[union-attr]
    voice, audio, note, video, document = (u.message for u in received)
    assert voice is not None and voice.voice is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # duration becomes a timedelta in PTB 23
        assert int(voice.voice.duration) == 2  # type: ignore[arg-type]
    assert (voice.voice.mime_type, voice.voice.file_size) == ("audio/ogg", len(opus))
    assert bytes(voice_bytes) == opus
    assert audio is not None and audio.audio is not None and audio.caption == "listen"
    assert (audio.audio.file_name, audio.audio.mime_type) == ("song.mp3", "audio/mpeg")
    assert note is not None and note.video_note is not None and note.video_note.length == 240
    assert video is not None and video.video is not None
    assert (video.video.width, video.video.height, video.video.mime_type) == (320, 240, "video/mp4")
    assert document is not None and document.document is not None
    assert (document.document.file_name, document.document.mime_type) == ("a.pdf", "application/pdf")


async def test_a_reply_to_a_photo_carries_the_photo(tg: FakeTelegram) -> None:
    photo = tg.push_photo(media_samples.png(64, 64), chat_id=42, queue=False)["message"]
    update = tg.push_message("/upscale 4", chat_id=42, reply_to_message_id=photo["message_id"], queue=False)
    replied = update["message"]["reply_to_message"]
    assert [size["file_id"] for size in replied["photo"]] == [size["file_id"] for size in photo["photo"]]


async def test_get_file_refuses_files_over_20_mb_by_their_stated_size(tg: FakeTelegram, bot: Bot) -> None:
    update = tg.push_voice(media_samples.ogg_opus(1.0), chat_id=42, duration=1500, file_size=25 * 1024 * 1024)
    file_id = update["message"]["voice"]["file_id"]
    assert update["message"]["voice"]["file_size"] == 25 * 1024 * 1024
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file(file_id)


async def test_albums_are_two_to_ten_items_of_kinds_that_mix(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    images = [media_samples.png(64, 48, seed=i) for i in range(3)]
    sent = await bot.send_media_group(
        42,
        [InputMediaPhoto(data, filename=f"{i}.png") for i, data in enumerate(images)],
        caption="three foxes",
    )
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    assert [m.caption for m in sent] == ["three foxes", None, None]
    files = tg.sent_files(42)
    assert [(f.method, f.field, f.filename, f.data) for f in files] == [
        ("sendMediaGroup", "photo", f"{i}.png", data) for i, data in enumerate(images)
    ]
    assert [f.message_id for f in files] == [m.message_id for m in sent]
    with pytest.raises(BadRequest, match="(?i)too many messages to send as an album"):
        await bot.send_media_group(42, [InputMediaPhoto(images[0])] * 11)
    with pytest.raises(BadRequest, match="(?i)document can't be mixed with other media types"):
        await bot.send_media_group(
            42, [InputMediaPhoto(images[0]), InputMediaDocument(b"%PDF", filename="a.pdf")]
        )
    with pytest.raises(BadRequest, match="(?i)2-10 items"):
        await bot.send_media_group(42, [InputMediaPhoto(images[0])])
    assert len(tg.visible(42)) == 3  # refused albums send nothing


async def test_send_photo_refuses_what_telegram_refuses_and_documents_take_it(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.add_chat(42)
    too_big = media_samples.png(8, 8) + bytes(11 * 1024 * 1024)  # a valid header, 11 MB in all
    with pytest.raises(BadRequest, match="(?i)too big for a photo; the maximum size is 10485760 bytes"):
        await bot.send_photo(42, too_big)
    with pytest.raises(BadRequest, match="(?i)PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(42, media_samples.png(2100, 100))  # wider than 20:1
    document = await bot.send_document(42, too_big, filename="big.png")
    assert document.document is not None and tg.sent_files(42)[0].data == too_big


async def test_voice_forbidden_video_and_chat_actions(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(42)
    opus = media_samples.ogg_opus(1.0)
    voice = await bot.send_voice(42, opus, duration=1, filename="answer.ogg")
    assert voice.voice is not None and voice.voice.mime_type == "audio/ogg"
    tg.forbid_voice(42)
    with pytest.raises(BadRequest, match="(?i)voice_messages_forbidden"):
        await bot.send_voice(42, opus, duration=1)
    audio = await bot.send_audio(42, opus, duration=1, filename="answer.ogg")
    assert audio.audio is not None
    video = await bot.send_video(
        42,
        media_samples.mp4_video(2.0),
        duration=2,
        supports_streaming=True,
        filename="clip.mp4",
        caption="your clip",
    )
    assert video.video is not None and video.caption == "your clip"
    assert [(f.method, f.field) for f in tg.sent_files(42)] == [
        ("sendVoice", "voice"),
        ("sendAudio", "audio"),
        ("sendVideo", "video"),
    ]
    assert tg.sent_files(42)[2].params["supports_streaming"] is True
    for action in ("record_voice", "upload_photo", "upload_video", "upload_document"):
        await bot.send_chat_action(42, action)
    with pytest.raises(BadRequest, match="(?i)wrong parameter action"):
        await bot.send_chat_action(42, "dancing")
    assert tg.chat_actions(42) == ["record_voice", "upload_photo", "upload_video", "upload_document"]


async def test_forum_topics(tg: FakeTelegram) -> None:
    tg.add_chat(-100777, "supergroup", title="Forum", is_forum=True)

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("in the topic", do_quote=False)

    async with polling(tg, MessageHandler(filters.TEXT, answer)):
        pushed = tg.push_message("question", chat_id=-100777, message_thread_id=50)
        await tg.wait_for_call("sendMessage")
    message = pushed["message"]
    assert (message["message_thread_id"], message["is_topic_message"]) == (50, True)
    assert message["reply_to_message"]["forum_topic_created"]["name"] == "Topic 50"
    [shown] = tg.visible(-100777, thread_id=50)
    assert shown["text"] == "in the topic" and shown["is_topic_message"] is True
    assert tg.visible(-100777, thread_id=51) == []


# ---- update delivery -------------------------------------------------------------------------


async def test_the_same_update_pushed_twice_is_delivered_twice(tg: FakeTelegram) -> None:
    received: Received = []
    async with polling(tg, MessageHandler(filters.TEXT, recorder(received))):
        update = tg.push_message("once", chat_id=42)
        await tg.wait_for(lambda: len(received) == 1)
        await tg.wait_for_call("getUpdates", offset=update["update_id"] + 1)  # confirmed
        tg.push_update(update)
        await tg.wait_for(lambda: len(received) == 2)
        tg.push_message("next", chat_id=42)
        await tg.wait_for(lambda: len(received) == 3)
        await asyncio.sleep(0.05)
    assert [u.update_id for u in received] == [update["update_id"]] * 2 + [update["update_id"] + 1]
    assert len(received) == 3  # the replay was not served again


async def test_get_updates_long_polls_confirms_and_filters(tg: FakeTelegram) -> None:
    async with httpx.AsyncClient(base_url=f"{tg.base_url}{tg.token}", verify=TLS, timeout=5) as http:
        started = time.monotonic()
        waiting = asyncio.create_task(http.post("/getUpdates", data={"timeout": "5"}))
        await asyncio.sleep(0.05)
        pushed = tg.push_message("wake up", chat_id=42)
        first = (await waiting).json()["result"]
        assert [u["update_id"] for u in first] == [pushed["update_id"]]
        assert time.monotonic() - started < 1  # answered on the push, not at the timeout
        again = (await http.post("/getUpdates", data={"offset": "0"})).json()["result"]
        assert again == first  # not confirmed yet
        tg.push_update({"message_reaction": {}})  # needs allowed_updates: dropped by default
        confirmed = (await http.post("/getUpdates", data={"offset": str(pushed["update_id"] + 1)})).json()
        assert confirmed == {"ok": True, "result": []}
        started = time.monotonic()
        assert (await http.post("/getUpdates", data={"timeout": "0.2"})).json()["result"] == []
        assert time.monotonic() - started >= 0.2

        older = asyncio.create_task(http.post("/getUpdates", data={"timeout": "5"}))
        await asyncio.sleep(0.05)
        newer = asyncio.create_task(http.post("/getUpdates", data={"timeout": "0"}))
        assert (await older).json()["error_code"] == 409
        assert (await newer).json() == {"ok": True, "result": []}
    assert tg.calls_to("getUpdates")[0].params == {"timeout": 5}


async def test_webhook_delivery_checks_the_secret(tg: FakeTelegram) -> None:
    received: Received = []
    app = build_app(tg)
    app.add_handler(MessageHandler(filters.TEXT, recorder(received)))
    port = free_port()
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="tg",
            webhook_url=f"http://127.0.0.1:{port}/tg",
            secret_token="s3cret",
        )
        try:
            assert (tg.webhook_url, tg.webhook_secret) == (f"http://127.0.0.1:{port}/tg", "s3cret")
            assert (await app.bot.get_webhook_info()).url == tg.webhook_url
            update = tg.push_message("via webhook", chat_id=42, queue=False)
            assert await tg.deliver_webhook(update) == 200
            await tg.wait_for(lambda: len(received) == 1)
            assert (
                await tg.deliver_webhook(tg.push_message("x", chat_id=42, queue=False), secret="wrong") == 403
            )
            assert await tg.deliver_webhook(tg.push_message("y", chat_id=42, queue=False), secret=None) == 403
            async with Bot(tg.token, base_url=tg.base_url) as other:
                with pytest.raises(Conflict, match="webhook is active"):
                    await other.get_updates()
            await asyncio.sleep(0.05)
        finally:
            await app.updater.stop()
            await app.stop()
    assert [u.message.text for u in received if u.message] == ["via webhook"]
    info = tg.calls_to("setWebhook")[0].params
    assert (info["url"], info["secret_token"]) == (f"http://127.0.0.1:{port}/tg", "s3cret")


def free_port() -> int:
    """Return a port that was free a moment ago (PTB's webhook server needs a port number, not a socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
