"""What the web console costs and serves, with 1,000 users in the database.

Prints, from one run:
1. requests per second for ``/metrics`` and for ``/users`` (logged in, page 1 of 20) while the
   bot in the same process answers turns, from a load process with 4 clients asking as fast as
   answers come;
2. the time a turn takes through the core with no console (no metrics, no web server) and with
   the console beside it, counting every turn and Venice request and scraped once a second by
   Prometheus while an operator's browser reloads /users and the overview every 2 s: median and
   p90, in alternating blocks (goal: under 5 % more).

The fake Venice and the load run in processes of their own, on 127.0.0.1. Timings are ratios
from one run on a shared machine: read them as such.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.web.metrics import PrometheusMetrics  # noqa: E402
from adapters.web.rendering import ConsoleParts  # noqa: E402
from adapters.web.server import WebConsole  # noqa: E402
from bench.core_overhead import KEY, fake_venice, percentile, through_core  # noqa: E402
from bots.bootstrap import build_service  # noqa: E402
from core.app import App  # noqa: E402
from core.ports.metrics import NO_METRICS, Metrics  # noqa: E402
from core.settings import Settings  # noqa: E402

PASSWORD = "bench console password"
USERS = 1_000


def settings(base_url: str, folder: str, name: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        venice_api_key=KEY,
        venice_base_url=base_url,
        database_url=f"sqlite:///{folder}/{name}.db",
        log_level="WARNING",
        rate_limit_per_minute=0,
        recall_token_budget=0,  # the turn as most chats take it: no embedding per turn
        web_admin_password=PASSWORD,
    )


async def seed(service: App) -> None:
    """1,000 users with an account and a grant each, as `venice-bots admin` would leave them."""
    conversations, ledger = service.store.conversations, service.store.ledger
    for n in range(USERS):
        user_id = await conversations.user_id("telegram", str(10_000 + n), f"User {n:04d}")
        owner = await ledger.owner_of_user(user_id)
        await ledger.grant(owner, 1_000_000 + n, actor="bench")


@asynccontextmanager
async def load(
    url: str, path: str, seconds: float, concurrency: int, *, login: bool, interval: float = 0.0
) -> AsyncIterator[subprocess.Popen[str]]:
    args = [sys.executable, str(ROOT / "bench" / "web_load.py"), url, path, str(seconds), str(concurrency)]
    args += [PASSWORD if login else "", str(interval)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready = await asyncio.to_thread(process.stdout.readline)
    assert ready.strip() == "READY", ready
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


async def keep_answering(service: App, stop: asyncio.Event, counted: list[float]) -> None:
    turn = 0
    while not stop.is_set():
        turn += 1
        counted.append(await through_core(service, f"busy-{turn % 4}", f"Busy turn {turn}, briefly?"))


async def throughput(service: App, console_url: str, path: str, seconds: float) -> tuple[float, float]:
    """Requests per second for ``path`` while the bot answers turns (4 at a time)."""
    stop = asyncio.Event()
    turns: list[float] = []
    async with load(console_url, path, seconds, 4, login=path != "/metrics") as process:
        busy = [asyncio.create_task(keep_answering(service, stop, turns)) for _ in range(4)]
        line = await asyncio.to_thread(process.stdout.readline)  # type: ignore[union-attr]
        stop.set()
        await asyncio.gather(*busy)
    result = json.loads(line)
    assert result["errors"] == 0, result
    return result["requests"] / result["seconds"], len(turns) / result["seconds"]


async def turn_times(service: App, chat: str, count: int) -> list[float]:
    return [
        await through_core(service, f"{chat}-{n % 5}", f"Turn {n}: a short question?") for n in range(count)
    ]


async def main() -> None:
    async with fake_venice() as base_url:
        with tempfile.TemporaryDirectory() as tmp:
            async with AsyncExitStack() as stack:
                plain = await stack.enter_async_context(
                    build_service(settings(base_url, tmp, "plain"), metrics=NO_METRICS)
                )
                metrics = PrometheusMetrics()
                counted: Metrics = metrics
                served_settings = settings(base_url, tmp, "console")
                served = await stack.enter_async_context(build_service(served_settings, metrics=counted))
                parts = ConsoleParts(served_settings, served.store, served.venice, metrics, bot=served)
                console = await stack.enter_async_context(WebConsole(parts, host="127.0.0.1", port=0))
                for service in (plain, served):
                    await seed(service)
                    await turn_times(service, "warm", 20)

                print(
                    f"1. Console throughput with {USERS:,} users, while the bot answers turns (4 at a time):"
                )
                for path in ("/metrics", "/users"):
                    rate, turns = await throughput(served, console.url, path, 8.0)
                    print(
                        f"   {path:9s} {rate:7.1f} requests/s   (the bot answered {turns:.1f} turns/s meanwhile)"
                    )

                print("2. Time a turn takes through the core, alternating blocks of 40 turns:")
                without: list[float] = []
                with_console: list[float] = []
                for block in range(6):
                    without += await turn_times(plain, f"plain-{block}", 40)
                    async with (
                        load(console.url, "/metrics", 3600, 1, login=False, interval=1.0),
                        load(console.url, "/users", 3600, 1, login=True, interval=2.0),
                        load(console.url, "/", 3600, 1, login=True, interval=2.0),
                    ):
                        await asyncio.sleep(0.5)  # the clients have logged in and asked once
                        with_console += await turn_times(served, f"served-{block}", 40)
                for name, times in (("no console", without), ("with console", with_console)):
                    print(
                        f"   {name:13s} median {statistics.median(times) * 1000:6.2f} ms   "
                        f"p90 {percentile(times, 0.9) * 1000:6.2f} ms   ({len(times)} turns)"
                    )
                extra = statistics.median(with_console) / statistics.median(without) - 1
                print(f"   the console adds {extra * 100:+.1f} % to the median turn (goal: under 5 %)")


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main())
    print(f"({time.perf_counter() - started:.0f} s)")
