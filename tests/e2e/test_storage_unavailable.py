"""A database that cannot save, through the real Telegram (and Discord) adapter: the user is told, the admins
hear of it once an hour, nobody is charged, nothing is half-written, and the bot recovers alone.

The failures are SQLite's own, on the bot's own connection: ``PRAGMA max_page_count`` makes the
disk "full" (SQLITE_FULL), ``PRAGMA query_only`` makes the database read-only (SQLITE_READONLY).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import simcord

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from adapters.storage.sqlite.database import Database
from adapters.storage.sqlite.store import SqliteStore
from adapters.telegram.bot import TelegramAdapter, TelegramOptions
from adapters.telegram.sender import TelegramSender
from core.app import App
from tests.conftest import FakeClock
from tests.e2e.telegram_support import ALICE, BOB, FAST, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

CANT_SAVE = "can't save right now"
HOUR = 3600.0


@pytest.fixture
def run_bot(tg: FakeTelegram, make_service: Callable[..., Any], clock: FakeClock) -> Callable[..., Any]:
    """``async with run_bot() as service`` runs the Telegram bot; the test reaches its database."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[App]:
        async with make_service(
            telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url,
            telegram_base_file_url=tg.base_file_url,
            admin_user_ids=f"telegram:{BOB}",
            **overrides,
        ) as service:
            sender = TelegramSender(sleep=clock.sleep, clock=clock.monotonic)
            options = TelegramOptions(poll_timeout=1, pace=FAST)
            async with TelegramAdapter(service, service.settings, sender=sender, options=options):
                yield service
                await service.wait_idle()

    return run


def database(service: App) -> Database:
    assert isinstance(service.store, SqliteStore)
    return service.store.database


async def fill_disk(service: App) -> None:
    """The database may grow no more: a write that needs a new page fails as on a full disk."""
    db = database(service)
    await db.executescript("VACUUM")  # no free pages left inside the file either (a dropped table's)
    await db.fetchall(f"PRAGMA max_page_count = {int(await db.pragma('page_count'))}")


async def free_disk(service: App) -> None:
    await database(service).fetchall("PRAGMA max_page_count = 1073741823")


async def balance(service: App, user: int) -> int:
    """What the user's account holds, read without writing."""
    user_id = await service.users.find("telegram", str(user))
    assert user_id is not None
    return (await service.store.ledger.peek(await service.store.ledger.owner_of_user(user_id))).balance


async def messages_of(service: App) -> list[tuple[str, str]]:
    """Every stored message, (role, first words), oldest first."""
    rows = await database(service).fetchall("SELECT role, content FROM messages ORDER BY id")
    return [(str(role), str(content)[:20]) for role, content in rows]


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_full_disk_tells_the_user_alerts_the_admins_once_an_hour_and_charges_nobody(
    tg: FakeTelegram,
    venice: FakeVenice,
    run_bot: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    tg.add_chat(BOB, "private")  # the admin has started the bot before (else Telegram refuses)
    long = "Tell me about the sea, at length. " * 150  # the turn needs pages of its own
    async with run_bot(max_message_chars=20_000) as service:
        tg.push_message("hello", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        await service.wait_idle()
        stored, before = await messages_of(service), await balance(service, ALICE)
        assert len(stored) == 2

        await fill_disk(service)

        def cant_save() -> int:
            return sum(CANT_SAVE in t for t in texts(tg, ALICE))

        for i in range(3):
            tg.push_message(f"{i} {long}", chat_id=ALICE)
            await tg.wait_for(lambda n=i: cant_save() == 1 + n)
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)
        tg.push_message("/help", chat_id=ALICE)  # what needs no saving still works
        await tg.wait_for(lambda: "/balance" in texts(tg, ALICE)[-1])
        await service.wait_idle()
        # Each is told: either before Venice is asked (nothing could be held), or, when the
        # answer came but could not be kept, right after it ("it will not remember this").
        assert len(texts(tg, BOB)) == 1  # three failures within the hour: one alert
        assert "disk is full" in texts(tg, BOB)[0] and "Free some space" in texts(tg, BOB)[0]
        assert await balance(service, ALICE) == before  # nobody is charged
        assert await service.store.ledger.check() == []
        assert await service.store.ledger.open_reservations() == []
        assert await messages_of(service) == stored  # no question without its answer

        clock.now += HOUR + 1  # still full an hour later: the admins are told again
        tg.push_message(f"again {long}", chat_id=ALICE)
        await tg.wait_for(lambda: cant_save() == 4)
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 2)

        await free_disk(service)  # space is back: the next message is answered, no restart
        tg.push_message("are you back?", chat_id=ALICE)
        await tg.wait_for(lambda: "are you back?" in texts(tg, ALICE)[-1])
        await service.wait_idle()
        assert cant_save() == 4
        assert len(await messages_of(service)) == 4
        assert await service.store.ledger.check() == []
        assert await balance(service, ALICE) < before  # this answer is charged
    assert len(texts(tg, BOB)) == 2
    assert problems(caplog) == []
    warnings = [r for r in caplog.records if "cannot save" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING and not r.exc_info for r in warnings)


async def test_a_read_only_database_refuses_chat_but_serves_reads_and_recovers(
    tg: FakeTelegram, venice: FakeVenice, run_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tg.add_chat(BOB, "private")
    async with run_bot() as service:
        tg.push_message("hello", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        await service.wait_idle()
        stored, before = await messages_of(service), await balance(service, ALICE)

        await database(service).fetchall("PRAGMA query_only = ON")
        tg.push_message("second question", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        tg.push_message("/balance", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 3)
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)
        assert CANT_SAVE in texts(tg, ALICE)[1]
        assert CANT_SAVE not in texts(tg, ALICE)[2] and "$" in texts(tg, ALICE)[2]
        assert "read-only" in texts(tg, BOB)[0]
        assert len(venice.calls_to("/chat/completions")) == 1  # refused before Venice was paid

        await database(service).fetchall("PRAGMA query_only = OFF")
        tg.push_message("third question", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 4)
        await service.wait_idle()
        assert "third question" in texts(tg, ALICE)[3]
        after = await messages_of(service)
        assert after[:2] == stored and after[2] == ("user", "third question")
        assert [role for role, _ in after] == ["user", "assistant"] * 2
        assert await service.store.ledger.check() == []
        assert await balance(service, ALICE) < before
    assert len(texts(tg, BOB)) == 1
    assert problems(caplog) == []


async def test_discord_users_are_told_too_without_a_traceback(
    make_service: Callable[..., Any], venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with make_service(discord_bot_token="simulated") as service:
        adapter = DiscordAdapter(service, service.settings, options=DiscordOptions(edit_interval=0.05))
        async with simcord.run(adapter.client, settle_timeout=15) as env:
            guild = env.create_guild()
            channel = guild.create_text_channel("general")
            alice = guild.add_member(env.create_user("alice"))
            await database(service).fetchall("PRAGMA query_only = ON")
            await alice.send(channel, f"{adapter.client.user.mention} tell me things")
            assert CANT_SAVE in channel.last_message.content
            await database(service).fetchall("PRAGMA query_only = OFF")
            await alice.send(channel, f"{adapter.client.user.mention} and now?")
            assert "and now?" in channel.last_message.content
            await service.wait_idle()
        assert await service.store.ledger.check() == []
    assert problems(caplog) == []
