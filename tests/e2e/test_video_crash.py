"""/video survives a SIGKILL: a real ``python -m bots run`` killed mid-job and started again.

After the restart the user's request is answered (the video, or a message saying it could not be
made and was not charged), the user is charged once for a delivered video and nothing otherwise,
no reservation is left open, and ``venice-bots admin check`` passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.crash_support import BotProcess
from tests.e2e.telegram_support import ALICE, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

ALLOWANCE = 20_000_000  # micro-USD: more than any quote
SETTINGS = {"USER_ALLOWANCE_USD": "20", "VIDEO_POLL_SECONDS": "0.2"}
WAIT = 30.0  # a subprocess on a busy machine: generous, never asserted


async def ask_for_a_video(bot: BotProcess, tg: FakeTelegram) -> None:
    """Ask for a video and press its Make it button."""
    tg.push_message("/video a fox running through snow", chat_id=ALICE)
    await tg.wait_for(lambda: any("Make it?" in t for t in texts(tg, ALICE)), timeout=WAIT)
    quote = next(m for m in tg.visible(ALICE) if "reply_markup" in m)
    confirm = quote["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.push_callback(confirm, chat_id=ALICE, message_id=quote["message_id"])


def the_job(bot: BotProcess) -> dict[str, Any]:
    """The one job (a video, or a track) in the bot's database."""
    [row] = bot.query("SELECT status, quote, reservation, queue_id FROM video_jobs")
    return dict(zip(("status", "quote", "reservation", "queue_id"), row, strict=True))


def closings(bot: BotProcess, reservation: str) -> list[tuple[str, int]]:
    """How a reservation was closed: its settle and refund entries."""
    return bot.query(
        "SELECT kind, amount FROM ledger_entries WHERE request_id = ? AND kind IN ('settle', 'refund')",
        reservation,
    )


def balance(bot: BotProcess) -> int:
    """Alice's balance (the only account)."""
    [(value,)] = bot.query("SELECT balance FROM accounts")
    return int(value)


async def poll_until(predicate: Any, what: str, bot: BotProcess) -> None:
    """Wait for a condition the bot's process brings about."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not predicate():
        assert loop.time() < deadline, f"{what} did not happen:\n{bot.log()}"
        await asyncio.sleep(0.02)


async def restart_until_done(bot: BotProcess, completed: Callable[[], bool], what: str) -> None:
    """Start the bot again, wait until Venice was told the file is ours (``completed``) and the
    job is done, then stop it cleanly."""
    await bot.start()
    await poll_until(completed, what, bot)
    await poll_until(lambda: the_job(bot)["status"] == "done", "the job's end", bot)
    await bot.stop()


async def assert_delivered_once(
    bot: BotProcess, tg: FakeTelegram, venice: FakeVenice, *, method: str, queue: str
) -> None:
    """The file was sent once (with Telegram's ``method``), made at Venice once (``queue``),
    the quote charged once, and ``venice-bots admin check`` passes."""
    [sent] = tg.sent_files(ALICE)
    assert sent.method == method
    job = the_job(bot)
    assert closings(bot, job["reservation"]) == [("settle", 0)]  # charged the quote, once
    assert balance(bot) == ALLOWANCE - job["quote"]
    assert len(venice.calls_to(queue)) == 1  # made (and paid at Venice) once
    code, output = await bot.admin_check()
    assert code == 0, output


async def test_a_video_killed_while_it_renders_is_delivered_once_after_the_restart(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    venice.video_polls_until_done = 1_000_000  # it renders until the test lets it finish
    bot = BotProcess.for_telegram(tmp_path, tg, venice, **SETTINGS)
    try:
        await bot.start()
        await ask_for_a_video(bot, tg)
        await poll_until(lambda: any(job.polls >= 2 for job in venice.video_jobs.values()), "polling", bot)
        await bot.kill()

        job = the_job(bot)
        assert job["status"] == "queued" and job["queue_id"] in venice.video_jobs  # stored before polling
        rendering = venice.video_jobs[job["queue_id"]]
        venice.video_polls_until_done = rendering.polls + 1  # done while the bot was away
        await restart_until_done(bot, lambda: rendering.completed, "/video/complete")
    finally:
        await bot.aclose()
    await assert_delivered_once(bot, tg, venice, method="sendVideo", queue="/video/queue")


async def test_a_video_killed_before_its_queue_id_is_stored_is_refunded_and_the_user_told(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    # Venice queues the video (and charges for it), but its answer is held back until the bot
    # is dead: the kill lands, deterministically, between Venice's answer and the bot's write.
    held = venice.hold_answer("/video/queue")
    bot = BotProcess.for_telegram(tmp_path, tg, venice, **SETTINGS)
    try:
        await bot.start()
        await ask_for_a_video(bot, tg)
        await asyncio.wait_for(held.arrived.wait(), WAIT)
        await bot.kill()

        job = the_job(bot)
        assert job["status"] == "queued" and job["queue_id"] is None  # the pending row, no id
        assert len(venice.video_jobs) == 1  # Venice has it: the bot cannot follow it
        await bot.start()
        await poll_until(
            lambda: any("could not be started" in t for t in texts(tg, ALICE)), "the notice", bot
        )
        await poll_until(lambda: the_job(bot)["status"] == "failed", "the job's end", bot)
        await bot.stop()
    finally:
        await bot.aclose()

    notice = next(t for t in texts(tg, ALICE) if "could not be started" in t)
    assert "not charged" in notice
    assert tg.sent_files(ALICE) == []
    job = the_job(bot)
    assert closings(bot, job["reservation"]) == [("refund", job["quote"])]  # nothing left held
    assert balance(bot) == ALLOWANCE  # not charged
    code, output = await bot.admin_check()
    assert code == 0, output


async def test_a_video_killed_while_it_is_sent_is_sent_again_after_the_restart_and_charged_once(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    venice.video_polls_until_done = 1
    sending = tg.hold("sendVideo")  # Telegram has not got the video when the bot dies
    bot = BotProcess.for_telegram(tmp_path, tg, venice, **SETTINGS)
    try:
        await bot.start()
        await ask_for_a_video(bot, tg)
        await asyncio.wait_for(sending.arrived.wait(), WAIT)
        await bot.kill()

        job = the_job(bot)
        assert job["status"] == "queued"  # not done, not paid: it was not delivered
        assert closings(bot, job["reservation"]) == []
        await bot.start()
        await poll_until(lambda: len(tg.sent_files(ALICE)) == 1, "the video", bot)
        await poll_until(lambda: the_job(bot)["status"] == "done", "the job's end", bot)
        await bot.stop()
    finally:
        await bot.aclose()

    assert len(tg.sent_files(ALICE)) == 1
    job = the_job(bot)
    assert venice.video_jobs[job["queue_id"]].completed
    assert closings(bot, job["reservation"]) == [("settle", 0)]
    assert balance(bot) == ALLOWANCE - job["quote"]
    code, output = await bot.admin_check()
    assert code == 0, output


async def test_a_kill_as_venice_answers_the_queue_call_ends_in_one_of_the_two_right_outcomes(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    # Venice's answer is let go and the bot killed at once: the kill lands before or after the
    # bot stores the queue id, and the test cannot choose which. Only two outcomes are right:
    # the id was stored (the video is delivered, charged once) or it was not (the user is told,
    # nothing is charged). Anything else (no answer, a charge without a video) fails.
    held = venice.hold_answer("/video/queue")
    bot = BotProcess.for_telegram(tmp_path, tg, venice, **SETTINGS)
    try:
        await bot.start()
        await ask_for_a_video(bot, tg)
        await asyncio.wait_for(held.arrived.wait(), WAIT)
        held.release()
        await bot.kill()

        stored = the_job(bot)["queue_id"] is not None
        await bot.start()
        if stored:
            await poll_until(lambda: len(tg.sent_files(ALICE)) == 1, "the video", bot)
        else:
            await poll_until(
                lambda: any("could not be started" in t for t in texts(tg, ALICE)), "the notice", bot
            )
        await poll_until(lambda: the_job(bot)["status"] in ("done", "failed"), "the job's end", bot)
        await bot.stop()
    finally:
        await bot.aclose()

    job = the_job(bot)
    if stored:
        assert job["status"] == "done" and len(tg.sent_files(ALICE)) == 1
        assert closings(bot, job["reservation"]) == [("settle", 0)]
        assert balance(bot) == ALLOWANCE - job["quote"]
    else:
        assert job["status"] == "failed" and tg.sent_files(ALICE) == []
        assert closings(bot, job["reservation"]) == [("refund", job["quote"])]
        assert balance(bot) == ALLOWANCE
    code, output = await bot.admin_check()
    assert code == 0, output
