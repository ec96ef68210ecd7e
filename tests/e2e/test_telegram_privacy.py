"""Privacy on Telegram end to end: /forget, /export and /ephemeral through the real python-telegram-bot
Application, the fake Bot API and the fake Venice. What is deleted or never stored is checked in the
raw bytes of the database files (the database, its WAL and its shared memory), as they are on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.settings import Settings
from tests.e2e.telegram_support import ALICE, BOB, GROUP, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice

CONFIRM = "🗑 Yes, delete my data"


def raw_bytes(settings: Settings) -> bytes:
    """The database file and its -wal and -shm files, byte for byte as stored on disk."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def asked(venice: FakeVenice) -> list[str]:
    """Every chat request's messages, as JSON text (what Venice was shown)."""
    return [json.dumps(c.body["messages"], ensure_ascii=False) for c in venice.calls_to("/chat/completions")]


async def say(tg: FakeTelegram, text: str, *, chat_id: int, **fields: Any) -> str:
    """A user writes in a chat; wait for the bot's next text message there and return it."""
    before = len(texts(tg, chat_id))
    tg.push_message(text, chat_id=chat_id, **fields)
    await tg.wait_for(lambda: len(texts(tg, chat_id)) > before)
    return texts(tg, chat_id)[before]


async def test_forget_asks_with_a_button_then_leaves_no_trace_in_the_database_file_or_the_next_request(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, make_settings: Callable[..., Settings]
) -> None:
    marker, kept = "forget-tg-marker-4d1c", "bob-keeps-tg-marker-81aa"
    settings = make_settings()
    async with start_bot():
        assert marker in await say(tg, f"my secret is {marker}", chat_id=ALICE)  # the answer quotes it too
        assert kept in await say(tg, f"Bob's own {kept}", chat_id=BOB)
        asking = await say(tg, "/forget", chat_id=ALICE)
        assert "cannot be undone" in asking
        question = tg.visible(ALICE)[-1]
        assert [b["text"] for b in tg.buttons(ALICE, question["message_id"])] == [CONFIRM]
        # Nothing is deleted before the button is pressed (and the raw bytes do show stored words).
        await tg.wait_for(lambda: marker.encode() in raw_bytes(settings))
        tg.press(CONFIRM, chat_id=ALICE, message_id=question["message_id"], user_id=ALICE)
        await tg.wait_for(lambda: any("Done: deleted " in t for t in texts(tg, ALICE)))
        assert marker.encode() not in raw_bytes(settings)  # gone while the bot runs, WAL included
        await say(tg, "what is my secret?", chat_id=ALICE)
    assert marker not in asked(venice)[-1]  # the next question does not remember it
    assert marker in asked(venice)[0]  # (it was sent to Venice before /forget)
    data = raw_bytes(settings)
    assert marker.encode() not in data
    assert kept.encode() in data  # another user's words stay


async def test_forget_in_a_group_clears_the_users_private_chat_settings_too(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    """The adapter tells the core where the user's private chat is (on Telegram it has the user's id)."""
    async with start_bot():
        assert "on" in await say(tg, "/voicemode on", chat_id=ALICE)
        done = await say(tg, "/forget confirm", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        assert "Done: deleted " in done
        assert "Voice replies are off" in await say(tg, "/voicemode", chat_id=ALICE)


async def test_export_sends_a_json_document_of_the_callers_messages_in_a_dm_and_refuses_in_a_group(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    # Fixed answers: the fake's default answers quote the conversation's first message, and an
    # answer to Alice quoting Bob would put Bob's words in her export through the bot's mouth.
    venice.responder = lambda body: ChatScript(content="Noted.")
    mine_dm, mine_group, bobs = (
        "alice-dm-tg-marker-17c3",
        "alice-group-tg-marker-5b90",
        "bob-group-tg-marker-e24f",
    )
    async with start_bot() as adapter:
        bot = f"@{adapter.app.bot.username}"
        await say(tg, f"remember {mine_dm}", chat_id=ALICE)
        await say(tg, f"{bot} {mine_group}", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        await say(tg, f"{bot} {bobs}", chat_id=GROUP, chat_type="supergroup", user_id=BOB)
        refusal = await say(tg, "/export", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        assert "send /export in a private chat" in refusal
        assert tg.sent_files(GROUP) == []
        tg.push_message("/export", chat_id=ALICE)
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1)
    [sent] = tg.sent_files(ALICE)
    assert (sent.method, sent.field, sent.filename) == ("sendDocument", "document", "venice-bots-export.json")
    assert sent.content_type == "application/json"
    document = tg.message(ALICE, sent.message_id)
    assert document is not None and "Here is everything the bot stored of you" in document["caption"]
    data = json.loads(sent.data)
    assert data["user"]["platform"] == "telegram" and data["user"]["id"] == str(ALICE)
    said = [m["text"] for c in data["conversations"] for m in c["messages"] if m["role"] == "you"]
    assert f"remember {mine_dm}" in said
    assert any(mine_group in text for text in said)  # her words in the group are hers too
    assert bobs not in sent.data.decode()  # Bob's are not


async def test_an_ephemeral_dm_keeps_its_conversation_in_memory_and_nothing_of_it_on_disk(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, make_settings: Callable[..., Settings]
) -> None:
    kept, marker = "stored-tg-marker-0a5d", "ephemeral-tg-marker-c8e1"
    settings = make_settings()
    async with start_bot():
        await say(tg, f"before: {kept}", chat_id=ALICE)
        said = await say(tg, "/ephemeral on", chat_id=ALICE)
        assert "memory only" in said and "nothing written here is stored on disk" in said
        assert "lost when the bot restarts" in said
        assert marker in await say(tg, f"in memory: {marker}", chat_id=ALICE)
        await say(tg, "what did I tell you?", chat_id=ALICE)
        assert marker in asked(venice)[-1]  # the conversation remembers it
        await tg.wait_for(lambda: kept.encode() in raw_bytes(settings))  # what came before is stored
        assert marker.encode() not in raw_bytes(settings)
    data = raw_bytes(settings)
    assert marker.encode() not in data  # not even after the bot finished and closed the database
    assert kept.encode() in data
    async with start_bot():
        await say(tg, "anything left?", chat_id=ALICE)
    assert marker not in asked(venice)[-1]  # memory only: gone after a restart
