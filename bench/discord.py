"""The Discord adapter's own cost, end to end through discord.py over real sockets.

Prints, from one run, against a fake REST API and gateway (in this process, on 127.0.0.1)
and a fake Venice that answers at once (another process):
1. the latency the adapter adds over the core alone, p50 and p99: a message that mentions
   the bot, dispatched on the gateway → the answer arriving at the fake REST API, minus the
   same message through the core alone;
2. messages handled per second end to end: a burst of mentions in many channels, until every
   answer has been posted.

The fakes share this process's event loop, so their work is counted in the adapter's
figures: an upper bound. Timings are from one run on a shared machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's name would hide the discord.py package: take bench/ off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from adapters.discord.bot import DiscordAdapter, DiscordOptions  # noqa: E402
from bench.core_overhead import KEY, fake_venice, percentile, through_core  # noqa: E402
from bench.fake_venice_server import ANSWER  # noqa: E402
from bots.bootstrap import build_service  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402

QUESTION = "what do you make of this, briefly?"


class Answers:
    """Counts the bot's posted messages per channel as they arrive (each call scanned once)."""

    def __init__(self, dc: FakeDiscord) -> None:
        self._dc = dc
        self._seen = 0
        self.times: dict[str, list[float]] = {}

    def count(self, channel: int) -> int:
        calls = self._dc.calls
        for call in calls[self._seen :]:
            if call.method == "POST" and call.path.endswith("/messages"):
                self.times.setdefault(call.path.split("/")[-2], []).append(call.time)
        self._seen = len(calls)
        return len(self.times.get(str(channel), []))

    async def wait(self, channel: int, count: int) -> float:
        while self.count(channel) < count:
            await asyncio.sleep(0.0005)
        return self.times[str(channel)][count - 1]


async def main() -> None:
    print("venice-bots Discord adapter (fake REST + gateway in-process, fake Venice in another process)")
    async with fake_venice() as venice_url, FakeDiscord() as dc:
        with dc.patch_discord(), tempfile.TemporaryDirectory() as tmp:
            guild = dc.add_guild("Bench")
            user = dc.add_user("alice")
            dc.add_member(guild, user)
            latency_channels = [dc.add_channel(guild, f"latency-{i}") for i in range(10)]
            burst_channels = [dc.add_channel(guild, f"burst-{i}") for i in range(50)]
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                venice_api_key=KEY,
                venice_base_url=venice_url,
                database_url=f"sqlite:///{tmp}/bench.db",
                log_level="WARNING",
                rate_limit_per_minute=0,
                discord_bot_token=dc.token,
                discord_api_base_url=dc.api_base,
                discord_gateway_url=dc.gateway_url,
            )
            options = DiscordOptions(ready_timeout=30, guild_ready_timeout=0.1)
            async with build_service(settings) as service, DiscordAdapter(service, settings, options=options):
                answers = Answers(dc)
                core_times, e2e_times = [], []
                rounds, warmup = 200, 20
                for i in range(warmup + rounds):
                    core = await through_core(service, f"core-{i % 10}", QUESTION)
                    channel = latency_channels[i % 10]
                    before = answers.count(channel)
                    start = time.monotonic()
                    dc.send_message(channel, user, f"<@{dc.bot_id}> {QUESTION}")
                    end = await answers.wait(channel, before + 1)
                    if i >= warmup:
                        core_times.append(core)
                        e2e_times.append(end - start)
                for q, name in ((0.5, "p50"), (0.99, "p99")):
                    c, e = percentile(core_times, q), percentile(e2e_times, q)
                    print(
                        f"latency {name}: core alone {c * 1000:.2f} ms, through Discord "
                        f"{e * 1000:.2f} ms, added by the adapter {(e - c) * 1000:.2f} ms"
                    )
                per_channel = 10
                start = time.monotonic()
                for n in range(per_channel):
                    for channel in burst_channels:
                        dc.send_message(channel, user, f"<@{dc.bot_id}> {QUESTION} #{n}")

                def complete() -> bool:  # every answer posted and in its final form
                    return all(
                        sum(
                            m["content"].strip() == ANSWER and bool(m.get("components"))
                            for m in dc.messages(c)
                            if int(m["author"]["id"]) == dc.bot_id
                        )
                        == per_channel
                        for c in burst_channels
                    )

                while not complete():
                    await asyncio.sleep(0.01)
                elapsed = time.monotonic() - start
                total = len(burst_channels) * per_channel
                print(
                    f"throughput: {total} messages in {len(burst_channels)} channels answered in "
                    f"{elapsed:.2f} s = {total / elapsed:.0f} messages/s end to end"
                )


if __name__ == "__main__":
    asyncio.run(main())
