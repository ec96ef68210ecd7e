"""A real bot process killed with SIGKILL and started again on the same database: every message is
answered, none is paid twice, no hold stays open."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.crash_support import BotProcess
from tests.e2e.telegram_support import ALICE, BOB, texts
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice

# Every answer costs the same: Venice reports the same usage for each.
USAGE = {"prompt_tokens": 60, "completion_tokens": 30, "total_tokens": 90}
FILLER = " ".join(["word"] * 30)


def answering(delay: float) -> Callable[[dict[str, Any]], ChatScript]:
    """Answer "Answer to [QUESTION]" and some words, streamed ``delay`` seconds a piece."""

    def respond(body: dict[str, Any]) -> ChatScript:
        last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        question = last["content"] if isinstance(last["content"], str) else ""
        return ChatScript(content=f"Answer to [{question}] {FILLER}.", chunk_delay=delay, usage=dict(USAGE))

    return respond


def answers(tg: FakeTelegram, chat: int) -> list[str]:
    """The questions a chat's complete answers answer, in the order they were sent."""
    return [m.group(1) for t in texts(tg, chat) if (m := re.search(r"Answer to \[(.+?)\] .*word\.", t))]


def spent(bot: BotProcess, platform_user_id: int) -> int:
    """What a Telegram user paid in all (micro-USD): their holds less what came back."""
    rows = bot.query(
        "SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e "
        "JOIN accounts a ON a.id = e.account_id JOIN users u ON a.owner = 'user:' || u.id "
        "WHERE u.platform = 'telegram' AND u.platform_user_id = ? "
        "AND e.kind IN ('reserve', 'settle', 'refund', 'adjustment')",
        str(platform_user_id),
    )
    return -int(rows[0][0])


@pytest.fixture
async def bot(tmp_path: Path, tg: FakeTelegram, venice: FakeVenice) -> AsyncIterator[BotProcess]:
    # No per-model request limits: a hundred messages at once are the point here.
    venice.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}
    process = BotProcess.for_telegram(tmp_path, tg, venice, USER_ALLOWANCE_USD="1", RATE_LIMIT_PER_MINUTE="0")
    try:
        yield process
    finally:
        await process.aclose()


async def test_a_bot_killed_mid_answer_answers_again_after_restart_and_charges_once(
    bot: BotProcess, tg: FakeTelegram, venice: FakeVenice
) -> None:
    venice.responder = answering(delay=0.3)  # about ten seconds of streaming
    await bot.start()
    tg.push_message("q1", chat_id=ALICE)
    await tg.wait_for(lambda: any("Answer to [q1]" in d for d in tg.drafts(ALICE)), timeout=30)
    await bot.kill()  # while the answer streams
    assert answers(tg, ALICE) == []
    code, out = await bot.admin_check()
    assert code == 1 and "1 orphaned" in out and "the bot is not running" in out  # what the crash left

    venice.responder = answering(delay=0)
    await bot.start()
    await tg.wait_for(lambda: answers(tg, ALICE) == ["q1"], timeout=30)
    tg.push_message("q1", chat_id=BOB)  # the same question, asked once, for the price of one answer
    await tg.wait_for(lambda: answers(tg, BOB) == ["q1"], timeout=30)
    await bot.stop()

    assert len(venice.calls_to("/chat/completions")) == 3  # the cut one, its repeat, Bob's
    assert spent(bot, ALICE) == spent(bot, BOB) > 0  # the cut answer was refunded
    code, out = await bot.admin_check()
    assert code == 0, out
    assert "0 open holds" in out and "0 orphaned" in out
    assert "Refunded 1 payments left open" in bot.log()


async def test_a_bot_killed_while_it_sends_the_final_answer_sends_it_again_and_charges_once(
    bot: BotProcess, tg: FakeTelegram, venice: FakeVenice
) -> None:
    venice.responder = answering(delay=0)
    await bot.start()
    held = tg.hold("sendMessage")  # the answer's final message, on its way to Telegram
    tg.push_message("q1", chat_id=ALICE)
    await asyncio.wait_for(held.arrived.wait(), timeout=30)
    await bot.kill()  # the answer was being delivered: it may be repeated, never lost
    held.release()
    await bot.start()
    await tg.wait_for(lambda: "q1" in answers(tg, ALICE), timeout=30)
    tg.push_message("q1", chat_id=BOB)
    await tg.wait_for(lambda: answers(tg, BOB) == ["q1"], timeout=30)
    await bot.stop()

    assert answers(tg, ALICE) == ["q1"]  # the held send never reached Telegram: one answer shows
    assert spent(bot, ALICE) == spent(bot, BOB) > 0
    code, out = await bot.admin_check()
    assert code == 0, out


async def test_a_backlog_killed_a_third_of_the_way_is_answered_in_order_and_paid_once(
    bot: BotProcess, tg: FakeTelegram, venice: FakeVenice
) -> None:
    users = [3001 + n for n in range(20)]
    questions = {user: [f"u{user} q{n}" for n in range(5)] for user in users}
    venice.responder = answering(delay=0.02)
    await bot.start()
    for n in range(5):
        for user in users:
            tg.push_message(questions[user][n], chat_id=user)
    await tg.wait_for(lambda: sum(len(answers(tg, u)) for u in users) >= 33, timeout=60)
    await bot.kill()
    answered_before = sum(len(answers(tg, u)) for u in users)
    # Turns begun and not finished (paid) at the kill: those may be answered twice.
    settled = bot.query("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'settle' AND feature = 'chat'")
    in_flight = len(venice.calls_to("/chat/completions")) - int(settled[0][0])
    assert answered_before < 100

    await bot.start()
    await tg.wait_for(lambda: all(set(answers(tg, u)) == set(questions[u]) for u in users), timeout=120)
    await asyncio.sleep(0.5)  # anything repeated late would show now
    await bot.stop()

    repeated = sum(len(answers(tg, u)) - len(questions[u]) for u in users)
    assert 0 <= repeated <= in_flight
    for user in users:  # oldest first per chat, across the restart too
        seen = answers(tg, user)
        assert sorted(set(seen), key=seen.index) == questions[user]
    code, out = await bot.admin_check()
    assert code == 0, out
    assert "0 open holds" in out and "0 orphaned" in out
    # Balances exact: five answers each, every one at the same price, whoever was cut.
    one = spent(bot, users[0]) // 5
    assert one > 0 and all(spent(bot, u) == 5 * one for u in users)


async def test_a_bot_killed_while_venice_draws_a_picture_draws_it_after_restart_and_charges_once(
    bot: BotProcess, tg: FakeTelegram, venice: FakeVenice
) -> None:
    await bot.start()
    held = venice.hold_answer("/image/generate")  # Venice draws; the bot is killed as it waits
    tg.push_message("/imagine a lighthouse", chat_id=ALICE)
    await asyncio.wait_for(held.arrived.wait(), timeout=30)
    await bot.kill()
    held.release()
    await bot.start()
    await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1, timeout=30)
    tg.push_message("/imagine a lighthouse", chat_id=BOB)
    await tg.wait_for(lambda: len(tg.sent_files(BOB)) == 1, timeout=30)
    await bot.stop()

    assert len(tg.sent_files(ALICE)) == 1
    assert spent(bot, ALICE) == spent(bot, BOB) > 0  # the first hold was refunded
    code, out = await bot.admin_check()
    assert code == 0, out


async def test_a_discord_bot_killed_mid_answer_answers_after_restart_and_charges_once(
    tmp_path: Path, dc: FakeDiscord, venice: FakeVenice
) -> None:
    venice.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}
    guild = dc.add_guild("Test")
    alice = dc.add_user("alice")
    dc.add_member(guild, alice)
    channel = dc.add_channel(guild, "general")
    bot = BotProcess.for_discord(tmp_path, dc, venice)

    def complete() -> list[str]:
        return [m["content"] for m in dc.messages(channel) if m["content"].endswith("word.")]

    try:
        venice.responder = answering(delay=0.3)
        await bot.start()
        dc.send_message(channel, alice, f"<@{dc.bot_id}> q1", mentions_bot=True)
        await dc.wait_for(
            lambda: any("Answer to [" in m["content"] for m in dc.messages(channel)), timeout=30
        )
        await bot.kill()  # while the answer streams (edited into its message)
        assert complete() == []

        venice.responder = answering(delay=0)
        await bot.start()
        await dc.wait_for(lambda: len(complete()) == 1, timeout=30)
        await bot.stop()
    finally:
        await bot.aclose()
    assert "q1" in complete()[0]
    assert len(venice.calls_to("/chat/completions")) == 2  # the cut answer and its repeat
    code, out = await bot.admin_check()
    assert code == 0, out
    assert "0 open holds" in out
    charged = bot.query("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'settle' AND feature = 'chat'")
    refunded = bot.query("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'refund' AND feature = 'chat'")
    assert (charged[0][0], refunded[0][0]) == (1, 1)  # one answer paid, the cut one refunded
