"""Albums on Telegram end to end: several photos (or files) sent at once arrive as one update each,
sharing a media_group_id; the bot answers them as one message. The real python-telegram-bot
Application over HTTP against the fake Bot API, the real core, the fake Venice."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

from PIL import Image

from adapters.telegram.bot import TelegramOptions
from tests.e2e.telegram_support import ALICE, BOB, FAST, GROUP, texts
from tests.fakes import media_samples
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

# A short window: the fake delivers an album's updates together, well within it.
ALBUMS = TelegramOptions(poll_timeout=1, pace=FAST, album_quiet=0.3, album_longest=2.0)
AFTER_WINDOW = 0.6  # long enough for a wrongly split album to be answered a second time


def photo(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A distinct picture per seed, so the order of an album's images can be checked."""
    return media_samples.png(width, height, seed=seed)


def largest(update: dict[str, Any]) -> str:
    """The file_id of a photo update's largest size (the one the bot should download)."""
    return str(update["message"]["photo"][-1]["file_id"])


def images_sent(call: Any) -> list[tuple[str, bytes]]:
    """The (media type, bytes) of each image_url part of a chat request's last message."""
    parts = call.body["messages"][-1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    return [
        (url.split(";", 1)[0].removeprefix("data:"), base64.b64decode(url.split(",", 1)[1])) for url in urls
    ]


def question(call: Any) -> str:
    """The text of a chat request's last message (plain, or the text part beside images)."""
    content = call.body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


async def test_an_album_with_a_caption_is_answered_once_with_all_its_photos_in_order(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(options=ALBUMS):
        album = [
            tg.push_photo(
                photo(i),
                "what do these have in common?" if i == 0 else "",
                chat_id=ALICE,
                media_group_id="album-1",
            )
            for i in range(3)
        ]
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        await asyncio.sleep(AFTER_WINDOW)
    [answer] = texts(tg, ALICE)
    assert "what do these have in common?" in answer
    [asked] = venice.calls_to("/chat/completions")
    assert question(asked) == "what do these have in common?"
    assert images_sent(asked) == [("image/jpeg", tg.files[largest(u)]) for u in album]
    assert len(tg.calls_to("getFile")) == 3


async def test_a_text_sent_right_after_an_album_is_answered_after_it(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(options=ALBUMS):
        for i in range(2):
            tg.push_photo(
                photo(i), "first the album" if i == 0 else "", chat_id=ALICE, media_group_id="album-2"
            )
        tg.push_message("then the text", chat_id=ALICE)  # arrives while the album's window is open
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
    assert [question(c) for c in venice.calls_to("/chat/completions")] == ["first the album", "then the text"]
    album_answer, text_answer = texts(tg, ALICE)
    assert "“first the album”" in album_answer and "“then the text”" in text_answer


async def test_group_albums_are_answered_only_when_an_item_addresses_the_bot(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(options=ALBUMS) as adapter:
        bot = f"@{adapter.app.bot.username}"
        for i in range(2):  # among humans: left alone, and nothing downloaded
            tg.push_photo(
                photo(i),
                "holiday pics" if i == 0 else "",
                chat_id=GROUP,
                chat_type="supergroup",
                user_id=BOB,
                media_group_id="g-1",
            )
        # The mention is in the second item's caption: the album is still for the bot.
        asked_by_name = [
            tg.push_photo(
                photo(10 + i),
                f"{bot} which one is sharper?" if i == 1 else "",
                chat_id=GROUP,
                user_id=BOB,
                media_group_id="g-2",
            )
            for i in range(2)
        ]
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 1)
        answer = tg.visible(GROUP)[0]
        # An album replying to the bot is for it too, caption or not.
        replying = [
            tg.push_photo(
                photo(20 + i),
                chat_id=GROUP,
                user_id=ALICE,
                media_group_id="g-3",
                reply_to_message_id=answer["message_id"],
            )
            for i in range(2)
        ]
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 2)
        await asyncio.sleep(AFTER_WINDOW)
    assert len(texts(tg, GROUP)) == 2
    first, second = venice.calls_to("/chat/completions")
    assert "which one is sharper?" in question(first) and bot not in question(first)
    assert [data for _, data in images_sent(first)] == [tg.files[largest(u)] for u in asked_by_name]
    assert answer["reply_to_message"]["message_id"] == asked_by_name[1]["message"]["message_id"]
    assert [data for _, data in images_sent(second)] == [tg.files[largest(u)] for u in replying]
    assert len(tg.calls_to("getFile")) == 4  # the unaddressed album was never downloaded


async def test_upscale_on_an_album_upscales_its_first_image(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(options=ALBUMS):
        first = tg.push_photo(photo(0, 320, 240), "/upscale 2", chat_id=ALICE, media_group_id="up")
        tg.push_photo(photo(1, 400, 300), chat_id=ALICE, media_group_id="up")
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
        await asyncio.sleep(AFTER_WINDOW)
    [sent] = tg.sent_files(ALICE)
    assert Image.open(io.BytesIO(sent.data)).size == (640, 480)
    assert len(venice.calls_to("/image/upscale")) == 1
    assert venice.last_upscale_size == len(tg.files[largest(first)])
    assert venice.calls_to("/chat/completions") == []  # the second photo was part of the command


async def test_an_album_of_image_files_keeps_their_bytes_and_types(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    scans = [photo(i, 64, 64) for i in range(2)]
    async with start_bot(options=ALBUMS):
        for i, scan in enumerate(scans):
            tg.push_document(
                scan,
                chat_id=ALICE,
                file_name=f"scan{i}.png",
                mime_type="image/png",
                caption="compare these" if i == 0 else "",
                media_group_id="docs",
            )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    [asked] = venice.calls_to("/chat/completions")
    assert question(asked) == "compare these"
    assert images_sent(asked) == [("image/png", scan) for scan in scans]


async def test_an_album_with_a_file_too_big_is_refused_before_any_download(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(options=ALBUMS):
        tg.push_photo(photo(0), "what are these?", chat_id=ALICE, media_group_id="big")
        tg.push_photo(photo(1), chat_id=ALICE, media_group_id="big", file_size=22 * 1024 * 1024)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert "Telegram lets bots download files up to 20 MB" in texts(tg, ALICE)[0]
    assert tg.calls_to("getFile") == [] and venice.calls_to("/chat/completions") == []


async def test_single_photos_and_texts_never_wait_for_an_album_window(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    slow_albums = TelegramOptions(poll_timeout=1, pace=FAST, album_quiet=1.5, album_longest=1.5)
    async with start_bot(options=slow_albums):
        for i in range(2):
            tg.push_photo(photo(i), "describe them" if i == 0 else "", chat_id=ALICE, media_group_id="slow")
        single = tg.push_photo(photo(5), "what is this?", chat_id=BOB)
        tg.push_message("and hello", chat_id=BOB)
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 2, timeout=1.2)
        assert texts(tg, ALICE) == []  # Alice's album is still being gathered
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1, timeout=5)
    photo_call, text_call, album_call = venice.calls_to("/chat/completions")
    assert question(photo_call) == "what is this?"
    assert images_sent(photo_call) == [("image/jpeg", tg.files[largest(single)])]
    assert question(text_call) == "and hello"
    assert len(images_sent(album_call)) == 2
