"""Privacy: retention, /forget, /export, ephemeral chats, secure deletion, content-free logs,
model privacy. The database file itself is read as raw bytes to prove deletions."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bots.admin import admin
from bots.logs import setup_logging
from core.errors import InvalidInput
from core.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask, message

DAY = 86_400
DM = {"platform": "telegram", "chat_id": "7", "user_id": "7", "user_name": "Mo"}
GROUP = {"platform": "telegram", "chat_id": "-100", "is_direct": False}


def raw_bytes(settings: Settings) -> bytes:
    """The database file and its WAL and shared-memory files, as stored on disk."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


async def test_retention_deletes_old_messages_per_chat_setting_and_their_summaries(
    make_service: Any, venice: FakeVenice, clock: FakeClock
) -> None:
    async with make_service(message_retention_days=30) as service:
        await ask(service, "old-default-marker", chat_id="a")
        await ask(service, "old-forever-marker", chat_id="b")
        await ask(service, "/retention 0", chat_id="b")
        await ask(service, "/retention 1", chat_id="c")
        await service.wait_idle()
        clock.now += 2 * DAY
        await ask(service, "recent-short-marker", chat_id="c")
        assert await service.privacy.sweep() == 0  # nothing is old enough yet
        clock.now += 29 * DAY  # a's message is 31 days old, c's 29 days: past c's 1 day
        deleted = await service.privacy.sweep()
        assert deleted == 4  # a's question and answer, c's question and answer
        assert "Messages here are kept forever" in (await ask(service, "/retention", chat_id="b")).text
        await ask(service, "what did I say?", chat_id="a")
        settings = service.settings
    history = venice.calls_to("/chat/completions")[-1].body["messages"]
    assert "old-default-marker" not in json.dumps(history)  # the cache was dropped too
    data = raw_bytes(settings)
    assert b"old-default-marker" not in data and b"recent-short-marker" not in data
    assert b"old-forever-marker" in data


async def test_forget_asks_first_then_deletes_the_callers_content_and_keeps_the_ledger(
    make_service: Any, venice: FakeVenice
) -> None:
    # Fixed answers: the fake's default answers quote the conversation, and an answer to
    # someone else that quotes the forgotten user is that person's message, not theirs.
    venice.responder = lambda body: ChatScript(content="Noted.")
    async with make_service() as service:
        await ask(service, "my secret is forget-me-marker", **DM)
        await ask(service, "/voicemode on", **DM)
        await ask(service, "group-forget-marker from Mo", **GROUP, user_id="7", user_name="Mo")
        await ask(service, "others-keep-marker from Pat", **GROUP, user_id="8", user_name="Pat")
        await service.wait_idle()
        owner = await service.account_of(message("", **DM))
        spent = await service.store.ledger.balance(owner)
        asked = await ask(service, "/forget", **DM)
        assert "cannot be undone" in asked.text and asked.reply.choices[0].command == "/forget confirm"
        assert b"forget-me-marker" in raw_bytes(service.settings)  # nothing happens before confirming
        done = await ask(service, "/forget confirm", **DM)
        assert done.text.startswith("Done: deleted 4 messages in 2 conversations, and your settings")
        assert await service.store.ledger.balance(owner) == spent and await service.store.ledger.check() == []
        assert "Voice replies are off" in (await ask(service, "/voicemode", **DM)).text  # settings gone
        await ask(service, "what is my secret?", **DM)
        settings = service.settings
    last = json.dumps(venice.calls_to("/chat/completions")[-1].body["messages"])
    assert "forget-me-marker" not in last
    data = raw_bytes(settings)
    assert b"forget-me-marker" not in data and b"group-forget-marker" not in data
    assert b"others-keep-marker" in data


async def test_admins_forget_a_user_from_the_command_line(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        await ask(service, "cli-forget-marker", **DM)
        settings = service.settings
    out = io.StringIO()
    assert await admin(settings, _args(action="forget", user="telegram:7"), out) == 0
    assert "deleted 2 messages in 1 conversation" in out.getvalue()
    assert b"cli-forget-marker" not in raw_bytes(settings)


async def test_export_sends_the_callers_own_data_as_json_only_in_a_private_chat(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await ask(service, "export-me-marker", **DM)
        await ask(service, "mine in the group", **GROUP, user_id="7", user_name="Mo")
        await ask(service, "not-mine-marker", **GROUP, user_id="8", user_name="Pat")
        with pytest.raises(InvalidInput, match="private chat"):
            await ask(service, "/export", **GROUP, user_id="7")
        reply = (await ask(service, "/export", **DM)).reply
    (file,) = reply.attachments
    assert file.mime_type == "application/json" and file.filename == "venice-bots-export.json"
    data = json.loads(file.data)
    texts = json.dumps(data["conversations"])
    assert "export-me-marker" in texts and "mine in the group" in texts
    assert "not-mine-marker" not in texts  # other people's words are theirs
    assert data["user"] == {
        "platform": "telegram",
        "id": "7",
        "display_name": "Mo",
        "first_seen": data["user"]["first_seen"],
    }
    assert data["account"]["entries"] and "balance_usd" in data["account"]


async def test_export_and_forget_count_the_same_messages_in_the_same_words(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.responder = lambda body: ChatScript(content="Noted.")
    async with make_service() as service:
        db = service.store.conversations._db
        await ask(service, "/character set alan-watts", **DM)  # a greeting opens the scene
        await ask(service, "first question", **DM)
        await ask(service, "/retry", **DM)  # the regenerated answer replaces the first one
        venice.script.append(ChatScript(content="alpha beta gamma delta", cut_after=2))
        cut = await ask(service, "second question", **DM)
        assert any("incomplete" in n.text for n in cut.reply.notices)  # an interrupted answer
        await ask(service, "/character clear", **DM)
        await ask(service, "a plain question", **DM)
        await ask(service, "Mo in the group", **GROUP, user_id="7", user_name="Mo")
        await ask(service, "Pat in the group", **GROUP, user_id="8", user_name="Pat")
        await ask(service, "Mo again", **GROUP, user_id="7", user_name="Mo")
        await service.wait_idle()
        # 3 in the scene (greeting, 2 turns), 1 plain turn, and Mo's 2 turns in the group.
        expected = "11 messages in 3 conversations"
        exported = await ask(service, "/export", **DM)
        assert f"stored of you: {expected}, your settings" in exported.text
        data = json.loads(exported.reply.attachments[0].data)
        assert sum(len(c["messages"]) for c in data["conversations"]) == 11
        assert "Pat in the group" not in exported.reply.attachments[0].data.decode()
        asked = await ask(service, "/forget", **DM)
        assert f"stored of you: {expected} (your messages" in asked.text
        before = (await db.fetchone("SELECT COUNT(*) FROM messages"))[0]
        done = await ask(service, "/forget confirm", **DM)
        after = (await db.fetchone("SELECT COUNT(*) FROM messages"))[0]
        assert done.text.startswith(f"Done: deleted {expected}, and your settings")
        assert before - after == 11 and after == 2  # Pat's turn stays
        assert "0 messages in 0 conversations" in (await ask(service, "/forget", **DM)).text


async def test_an_ephemeral_chat_leaves_no_trace_on_disk_and_is_gone_after_a_restart(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        said = await ask(service, "/ephemeral on", **DM)
        assert (
            "nothing written here is stored on disk" in said.text
            and "lost when the bot restarts" in said.text
        )
        await ask(service, "ephemeral-marker-one", **DM)
        await ask(service, "and ephemeral-marker-two?", **DM)
        await ask(service, "/video ephemeral-video-marker", **DM)
        await service.wait_idle()
        settings = service.settings
        assert "ephemeral-marker-one" in json.dumps(venice.calls_to("/chat/completions")[1].body["messages"])
        data = raw_bytes(settings)
    assert b"ephemeral-marker" not in data and b"ephemeral-video-marker" not in data
    async with make_service() as service:
        await ask(service, "anything left?", **DM)
    assert "ephemeral-marker" not in json.dumps(venice.calls_to("/chat/completions")[-1].body["messages"])


async def test_settings_show_ephemeral_mode_and_retention_and_never_say_stored_while_ephemeral(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(message_retention_days=30) as service:
        await ask(service, "one stored turn", **DM)
        stored = (await ask(service, "/settings", **DM)).text
        assert "Ephemeral mode: off" in stored
        assert "Messages are kept for 30 days (the bot's default)" in stored
        assert "This conversation: 2 messages stored" in stored
        await ask(service, "/ephemeral on", **DM)
        await ask(service, "/retention 1", **DM)
        await ask(service, "in memory", **DM)
        ephemeral = (await ask(service, "/settings", **DM)).text
        assert "Ephemeral mode: on (this chat's conversation is kept in memory only)" in ephemeral
        assert "Messages are kept for 1 day\n" in ephemeral
        assert "This conversation: 2 messages in memory only" in ephemeral
        assert "stored" not in ephemeral
        await ask(service, "/retention 0", **DM)
        assert "Messages are kept forever\n" in (await ask(service, "/settings", **DM)).text


async def test_logs_carry_no_content_unless_log_content_is_set(
    make_service: Any, venice: FakeVenice, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        for log_content in (False, True):
            setup_logging("DEBUG", log_content=log_content)  # logs to the (captured) stderr
            async with make_service() as service:
                await ask(service, f"log-marker-{log_content}", **DM)
            logged = capsys.readouterr().err
            assert log_content or "Applied migration" in logged  # it did log…
            assert (f"log-marker-{log_content}" in logged) is log_content  # …content only when asked
    finally:
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)


async def test_model_shows_privacy_and_private_only_hides_anonymized_models(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        listing = (await ask(service, "/model")).text
        assert "qwen3-vl-235b-a22b (131k context, anonymized" in listing and "private" in listing
    async with make_service(private_models_only=True) as service:
        listing = (await ask(service, "/model")).text
        assert "qwen3-vl" not in listing and "Only private models" in listing
        with pytest.raises(InvalidInput, match="no text model named"):
            await ask(service, "/model qwen3-vl-235b-a22b")


def _args(**values: Any) -> Any:
    import argparse

    return argparse.Namespace(**values)


async def test_forget_from_a_server_channel_clears_the_users_discord_dm_too(
    make_service: Any, venice: FakeVenice
) -> None:
    dm = {"platform": "discord", "chat_id": "dm-55", "user_id": "55", "user_name": "Ro"}
    channel = {"platform": "discord", "chat_id": "chan-1", "user_id": "55", "is_direct": False}
    async with make_service() as service:
        await ask(service, "dm-marker", **dm)
        await ask(service, "/voicemode on", **dm)
        await ask(service, "/voicemode on", **{**channel, "user_id": "99", "is_chat_admin": True})
        await ask(service, "channel words", **channel)
        await ask(service, "other words", **{**channel, "user_id": "99"})
        await ask(service, "/forget confirm", **channel)
        assert "Voice replies are off" in (await ask(service, "/voicemode", **dm)).text
        assert "Voice replies are on" in (await ask(service, "/voicemode", **channel)).text  # not theirs
        settings = service.settings
    assert b"dm-marker" not in raw_bytes(settings)
