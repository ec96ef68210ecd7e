"""Privacy on Discord end to end: the real discord.py against the fake Discord (REST + gateway over real
sockets), the real core, and the fake Venice over HTTP. /forget with its button, /export's JSON file,
/ephemeral in a server channel, and logs at DEBUG that carry no tokens, keys or message content.

Deletions are proved on the raw database files (the db, its -wal and -shm), read as bytes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.logs import CONTENT_LOGGERS, setup_logging
from core.settings import Settings
from tests.conftest import TEST_KEY
from tests.fakes.discord import FakeDiscord, Perm
from tests.fakes.venice import ChatScript, FakeVenice

EPHEMERAL = 64
FORGET_BUTTON = "venice:cmd:/forget confirm"


def raw_bytes(settings: Settings) -> bytes:
    """The database file and its WAL and shared-memory files, as stored on disk."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    """What the bot posted in a channel that everyone there sees (no interaction responses)."""
    return [
        m
        for m in dc.messages(channel)
        if int(m["author"]["id"]) == dc.bot_id and m.get("interaction_metadata") is None
    ]


async def answer_to(dc: FakeDiscord, channel: int, count: int) -> dict[str, Any]:
    """Wait until the bot has posted ``count`` answers in ``channel``; return the last one."""
    await dc.wait_for(lambda: len(bot_messages(dc, channel)) >= count, timeout=10)
    return bot_messages(dc, channel)[count - 1]


async def answered(dc: FakeDiscord, interaction_id: int, *, files: int = 0) -> dict[str, Any]:
    """The interaction's response once the "thinking…" placeholder is replaced (and carries ``files`` files)."""
    record = dc.interaction(interaction_id)

    def ready() -> bool:
        original = record.original
        return original is not None and not record.deferred and len(original["attachments"]) >= files

    await dc.wait_for(ready, timeout=10)
    assert record.original is not None
    return record.original


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"]]


def last_request(venice: FakeVenice) -> str:
    """The messages of the newest chat request to the fake Venice, as JSON text."""
    return json.dumps(venice.calls_to("/chat/completions")[-1].body["messages"], ensure_ascii=False)


def server(dc: FakeDiscord, *members: str, admin: str | None = None) -> tuple[int, int, dict[str, int]]:
    """A server with #general, its members and one admin (Manage Server): (guild, channel, users by name)."""
    guild = dc.add_guild("Test")
    users = {}
    for name in members:
        users[name] = dc.add_user(name)
        dc.add_member(guild, users[name], permissions=Perm.MANAGE_GUILD if name == admin else None)
    return guild, dc.add_channel(guild, "general"), users


# ---- /forget


@pytest.mark.parametrize("where", ["dm", "server"])
async def test_forget_asks_privately_and_its_button_deletes_what_the_user_sent(
    where: str,
    dc: FakeDiscord,
    venice: FakeVenice,
    start_discord: Any,
    make_settings: Callable[..., Settings],
) -> None:
    _guild, channel, users = server(dc, "alice")
    alice = users["alice"]
    dm = dc.add_dm(alice)
    settings = make_settings()  # the database_url the bot uses
    async with start_discord():
        dc.send_message(dm, alice, "my secret is dc-forget-dm-marker")
        await answer_to(dc, dm, 1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> and dc-forget-server-marker")
        await answer_to(dc, channel, 1)
        assert b"dc-forget-dm-marker" in raw_bytes(settings)  # stored, as a normal chat is

        here = dm if where == "dm" else channel
        asked = dc.send_slash(here, alice, "forget")
        confirmation = await answered(dc, asked.id)
        assert confirmation["flags"] & EPHEMERAL  # only alice sees the question…
        assert "cannot be undone" in confirmation["content"]
        assert buttons(confirmation) == [FORGET_BUTTON]  # …and its button
        assert b"dc-forget-dm-marker" in raw_bytes(settings)  # nothing happens before the button

        pressed = dc.send_component(here, alice, int(confirmation["id"]), FORGET_BUTTON)
        await dc.wait_for(lambda: "Done: deleted " in (asked.original or {}).get("content", ""), timeout=10)
        done = asked.original
        assert done is not None and done["flags"] & EPHEMERAL and done["components"] == []
        assert not pressed.followups  # the answer replaced the private question, nothing else was posted
        assert not [m for m in bot_messages(dc, here) if "deleted" in m["content"]]
        data = raw_bytes(settings)
        assert b"dc-forget-dm-marker" not in data and b"dc-forget-server-marker" not in data

        dc.send_message(dm, alice, "what is my secret?")
        await answer_to(dc, dm, 2)
        assert "what is my secret?" in last_request(venice)
        assert "dc-forget" not in last_request(venice)  # the in-memory conversation went too
    data = raw_bytes(settings)
    assert b"dc-forget-dm-marker" not in data and b"dc-forget-server-marker" not in data


async def test_forget_given_its_confirmation_answers_only_the_asker_even_a_server_admin(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any, make_settings: Callable[..., Settings]
) -> None:
    # An admin's command with arguments is a change to the channel, shown to everyone; not this one.
    _guild, channel, users = server(dc, "mod", admin="mod")
    settings = make_settings()
    async with start_discord():
        dc.send_message(channel, users["mod"], f"<@{dc.bot_id}> dc-confirmed-marker")
        await answer_to(dc, channel, 1)
        done = dc.send_slash(channel, users["mod"], "forget", {"confirm": "confirm"})
        response = await answered(dc, done.id)
        assert response["flags"] & EPHEMERAL and "Done: deleted " in response["content"]
    assert b"dc-confirmed-marker" not in raw_bytes(settings)


# ---- /export


async def test_export_in_a_dm_sends_the_users_data_as_a_json_file_without_other_peoples_words(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    # Fixed answers: the fake's default ones quote the conversation, which bob speaks in too.
    venice.responder = lambda body: ChatScript(content="Noted.")
    _guild, channel, users = server(dc, "alice", "bob")
    alice, bob = users["alice"], users["bob"]
    dm = dc.add_dm(alice)
    async with start_discord():
        dc.send_message(dm, alice, "dc-export-dm-marker")
        await answer_to(dc, dm, 1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> dc-export-server-marker")
        await answer_to(dc, channel, 1)
        dc.send_message(channel, bob, f"<@{dc.bot_id}> dc-bobs-own-marker")
        await answer_to(dc, channel, 2)
        export = dc.send_slash(dm, alice, "export")
        response = await answered(dc, export.id, files=1)
    assert response["flags"] & EPHEMERAL  # for alice's eyes, and gone from the DM once she dismisses it
    assert "everything the bot stored of you" in response["content"]
    (attachment,) = response["attachments"]
    assert attachment["filename"] == "venice-bots-export.json"
    assert attachment["content_type"].startswith("application/json")
    data = json.loads(dc.attachment_data(attachment))
    assert data["user"]["platform"] == "discord" and data["user"]["id"] == str(alice)
    texts = json.dumps(data["conversations"], ensure_ascii=False)
    assert "dc-export-dm-marker" in texts and "dc-export-server-marker" in texts
    assert "dc-bobs-own-marker" not in texts  # bob's words are bob's


async def test_export_in_a_server_channel_is_refused_to_the_asker_alone(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, users = server(dc, "alice")
    async with start_discord():
        dc.send_message(channel, users["alice"], f"<@{dc.bot_id}> dc-not-exported-marker")
        await answer_to(dc, channel, 1)
        export = dc.send_slash(channel, users["alice"], "export")
        refused = await answered(dc, export.id)
        retention = await answered(dc, dc.send_slash(channel, users["alice"], "retention").id)
    assert refused["flags"] & EPHEMERAL and refused["attachments"] == []
    assert "⚠️" in refused["content"] and "private chat" in refused["content"]
    assert len(bot_messages(dc, channel)) == 1  # nothing else in the channel
    assert retention["flags"] & EPHEMERAL and "kept" in retention["content"]  # the view is private too


async def test_a_private_answer_longer_than_one_message_stays_private_in_every_part(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, users = server(dc, "alice")
    async with start_discord():
        shown = dc.send_slash(channel, users["alice"], "help")  # over 2000 characters: two messages
        first = await answered(dc, shown.id)
        await dc.wait_for(lambda: bool(shown.followups))
    assert first["flags"] & EPHEMERAL
    assert [f["flags"] & EPHEMERAL for f in shown.followups] == [EPHEMERAL]  # the rest too, not the channel's
    assert not [
        m for m in dc.messages(channel) if int(m["author"]["id"]) == dc.bot_id and not m["flags"] & EPHEMERAL
    ]  # the channel saw nothing


# ---- /ephemeral


async def test_an_ephemeral_server_channel_keeps_a_marker_in_memory_and_never_on_disk(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any, make_settings: Callable[..., Settings]
) -> None:
    _guild, channel, users = server(dc, "alice", "mod", admin="mod")
    settings = make_settings()
    async with start_discord():
        refused = await answered(dc, dc.send_slash(channel, users["alice"], "ephemeral", {"mode": "on"}).id)
        assert refused["flags"] & EPHEMERAL and "⚠️" in refused["content"]  # not an admin: only she sees it
        switched = dc.send_slash(channel, users["mod"], "ephemeral", {"mode": "on"})
        said = await answered(dc, switched.id)
        assert not said["flags"] & EPHEMERAL  # the channel is told
        assert "nothing written here is stored on disk" in said["content"]
        assert "memory only" in said["content"] and "lost when the bot restarts" in said["content"]

        dc.send_message(channel, users["alice"], f"<@{dc.bot_id}> remember dc-ephemeral-marker")
        await answer_to(dc, channel, 1)
        assert "dc-ephemeral-marker" in last_request(venice)
        dc.send_message(channel, users["alice"], f"<@{dc.bot_id}> what did I ask you to remember?")
        await answer_to(dc, channel, 2)
        assert "dc-ephemeral-marker" in last_request(venice)  # the next request still carries it, from memory
        assert b"dc-ephemeral-marker" not in raw_bytes(settings)
    assert b"dc-ephemeral-marker" not in raw_bytes(settings)


# ---- logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger and some library loggers: put them back after the test."""
    root = logging.getLogger()
    names = ("httpx", "httpcore", "aiosqlite", "asyncio", "discord.http", "discord.webhook", *CONTENT_LOGGERS)
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names}
    yield
    root.handlers[:], level, levels = saved
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.parametrize("log_content", [False, True])
async def test_debug_logs_carry_neither_the_token_the_key_nor_what_users_wrote(
    log_content: bool,
    dc: FakeDiscord,
    venice: FakeVenice,
    start_discord: Any,
    make_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    _guild, channel, users = server(dc, "alice")
    alice = users["alice"]
    dm = dc.add_dm(alice)
    secrets = make_settings(discord_bot_token=dc.token).secret_values()
    assert dc.token in secrets and TEST_KEY in secrets
    capsys.readouterr()
    setup_logging("DEBUG", secrets, log_content=log_content)  # to sys.stderr, which capsys holds now
    async with start_discord(log_content=log_content):
        dc.send_message(dm, alice, "my password is dc-log-marker")
        await answer_to(dc, dm, 1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> dc-log-marker in public")
        await answer_to(dc, channel, 1)
        await answered(dc, dc.send_slash(dm, alice, "settings").id)
    logged = capsys.readouterr().err
    assert "dc-log-marker" in last_request(venice)  # the bot got it and answered
    assert (
        "Discord bot venice-test is running" in logged
    )  # it did log (at DEBUG: only content logs below INFO)
    assert (" DEBUG discord.gateway: " in logged) is log_content  # discord.py's event dumps carry content
    assert dc.token not in logged and TEST_KEY not in logged  # redacted even with LOG_CONTENT=true
    assert ("dc-log-marker" in logged) is log_content  # content only when asked for, for debugging
