"""The Telegram adapter's own cost, end to end through python-telegram-bot.

Prints, from one run, against a fake Bot API server (in this process, on 127.0.0.1) and a
fake Venice that answers at once (another process):
1. the latency the adapter adds over the core alone, p50 and p99: a private message pushed
   to the fake → the answer's final sendMessage arriving there, minus the same message
   through the core alone (target: <= 10 ms at p50);
2. updates handled per second end to end: a burst of messages from many chats, until every
   answer has been sent.

The fake Bot API server shares this process's event loop, so its own work is counted in
the adapter's figures: they are an upper bound. Timings are from one run on a shared machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's name would hide the python-telegram-bot package: take bench/ off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from adapters.telegram.bot import TelegramAdapter, TelegramOptions  # noqa: E402
from bench.core_overhead import KEY, fake_venice, percentile, through_core  # noqa: E402
from bots.bootstrap import build_service  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

QUESTION = "What do you make of this, briefly?"


class Answers:
    """Counts the final sendMessage calls per chat as they arrive (scanning each call once)."""

    def __init__(self, tg: FakeTelegram) -> None:
        self._tg = tg
        self._seen = 0
        self.times: dict[int, list[float]] = {}

    def _scan(self) -> None:
        calls = self._tg.calls
        for call in calls[self._seen :]:
            if call.method == "sendMessage":
                self.times.setdefault(call.params.get("chat_id"), []).append(call.time)
        self._seen = len(calls)

    def count(self, chat_id: int) -> int:
        self._scan()
        return len(self.times.get(chat_id, []))

    async def wait(self, chat_id: int, count: int) -> float:
        """Wait until the chat has ``count`` answers; return when the last one arrived."""
        while self.count(chat_id) < count:
            await asyncio.sleep(0.0005)
        return self.times[chat_id][count - 1]


async def main() -> None:
    print("venice-bots Telegram adapter (fake Bot API in-process, fake Venice in another process)")
    async with fake_venice() as venice_url, FakeTelegram() as tg:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                venice_api_key=KEY,
                venice_base_url=venice_url,
                database_url=f"sqlite:///{tmp}/bench.db",
                log_level="WARNING",
                rate_limit_per_minute=0,
                telegram_bot_token=tg.token,
                telegram_base_url=tg.base_url,
                telegram_base_file_url=tg.base_file_url,
            )
            async with (
                build_service(settings) as service,
                TelegramAdapter(service, settings, options=TelegramOptions(poll_timeout=5)),
            ):
                # 1. latency: alternate the core alone and the whole path, one message at a time
                answers = Answers(tg)
                core_times, e2e_times = [], []
                rounds, warmup = 200, 20
                for i in range(warmup + rounds):
                    core = await through_core(service, f"core-{i % 10}", QUESTION)
                    chat = 10_000 + i % 10
                    before = answers.count(chat)
                    start = time.monotonic()
                    tg.push_message(QUESTION, chat_id=chat)
                    end = await answers.wait(chat, before + 1)
                    if i >= warmup:
                        core_times.append(core)
                        e2e_times.append(end - start)
                for q, name in ((0.5, "p50"), (0.99, "p99")):
                    c, e = percentile(core_times, q), percentile(e2e_times, q)
                    print(
                        f"latency {name}: core alone {c * 1000:.2f} ms, through Telegram "
                        f"{e * 1000:.2f} ms, added by the adapter {(e - c) * 1000:.2f} ms"
                        + ("  (target <= 10 ms)" if name == "p50" else "")
                    )
                # 2. throughput: a burst from many chats
                chats, per_chat = 50, 10
                baseline = {c: answers.count(c) for c in range(20_000, 20_000 + chats)}
                start = time.monotonic()
                for n in range(per_chat):
                    for c in range(20_000, 20_000 + chats):
                        tg.push_message(f"{QUESTION} #{n}", chat_id=c)
                ends = [await answers.wait(c, baseline[c] + per_chat) for c in baseline]
                elapsed = max(ends) - start
                total = chats * per_chat
                print(
                    f"throughput: {total} updates from {chats} chats answered in {elapsed:.2f} s "
                    f"= {total / elapsed:.0f} updates/s end to end"
                )
                print(
                    f"(median core-alone time in the latency run: {statistics.median(core_times) * 1000:.2f} ms)"
                )


if __name__ == "__main__":
    asyncio.run(main())
