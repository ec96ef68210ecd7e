"""/music survives a SIGKILL: a real ``python -m bots run`` killed while Venice composes the
track, started again, delivers it once and charges the quoted price once."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.crash_support import BotProcess
from tests.e2e.telegram_support import ALICE, texts
from tests.e2e.test_video_crash import WAIT, assert_delivered_once, poll_until, restart_until_done, the_job
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice

SETTINGS = {"USER_ALLOWANCE_USD": "20", "MUSIC_POLL_SECONDS": "0.2"}


async def test_a_track_killed_while_it_is_composed_is_delivered_once_after_the_restart(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Path
) -> None:
    venice.music_polls_until_done = None  # it is composed until the test lets it finish
    bot = BotProcess.for_telegram(tmp_path, tg, venice, **SETTINGS)
    try:
        await bot.start()
        tg.push_message("/music a sea shanty about a lost cat", chat_id=ALICE)
        await tg.wait_for(lambda: any("Make it?" in t for t in texts(tg, ALICE)), timeout=WAIT)
        quote = next(m for m in tg.visible(ALICE) if "reply_markup" in m)
        confirm = quote["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        tg.push_callback(confirm, chat_id=ALICE, message_id=quote["message_id"])
        await poll_until(lambda: any(job.polls >= 2 for job in venice.music_jobs.values()), "polling", bot)
        await bot.kill()

        job = the_job(bot)
        assert bot.query("SELECT kind FROM video_jobs") == [("music",)]
        assert job["status"] == "queued" and job["queue_id"] in venice.music_jobs  # stored before polling
        composing = venice.music_jobs[job["queue_id"]]
        venice.music_polls_until_done = composing.polls  # done while the bot was away
        await restart_until_done(bot, lambda: composing.completed, "/audio/complete")
    finally:
        await bot.aclose()
    await assert_delivered_once(bot, tg, venice, method="sendAudio", queue="/audio/queue")
