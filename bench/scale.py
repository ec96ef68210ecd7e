"""Answers per second with 1, 2 and 4 workers on one PostgreSQL: the same load each time.

Each round: a fresh database on a throwaway PostgreSQL (tests/postgres.py), N ``python -m bots run``
processes with the same DATABASE_URL and Telegram token (one elected poller, every worker claims
from the shared inbox), the fake Telegram and the fake Venice in this process on 127.0.0.1. The load:
``--users`` users (default 60) each send ``--messages`` messages (default 4), all pushed at once.
Venice answers in about ``--latency`` seconds (default 0.5), streamed; each answer is ~2,500
characters of Markdown (headings, lists, bold, links, a code block), so the workers' rendering to
Telegram HTML for every streamed edit costs CPU.

Prints per worker count: answers per second (first push to last answer), the ratio to one worker,
the CPU seconds the workers used (from /proc) and this harness's own (the fakes run here): where
CPU time is close to the wall time times the machine's cores, that is the bottleneck. Timings are
from one run on a shared machine: read the ratios.

Usage: python bench/scale.py [--workers 1,2,4] [--users 60] [--messages 4] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds telegram.py and discord.py, which would hide the real packages: take it off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.e2e.crash_support import BotProcess  # noqa: E402
from tests.e2e.test_crash import answers  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.fakes.venice import ChatScript, FakeVenice  # noqa: E402
from tests.postgres import PostgresCluster, start_cluster  # noqa: E402

USAGE = {"prompt_tokens": 60, "completion_tokens": 600, "total_tokens": 660}
WORDS_PER_PIECE = 3  # the fake streams a few words a piece (tests/fakes/venice_chat.py)

MARKDOWN = (
    "## What to do\n\nHere is a **plan** with a [link](https://example.com/a) and `inline code`:\n\n"
    "1. First, *read* the notes and check the **budget** twice.\n"
    "2. Then write the ~~old~~ new list, with [sources](https://example.com/b).\n"
    "3. Finally send it.\n\n- a point\n- another **point**\n- a third, with `code`\n\n"
    "```python\ndef total(items):\n    return sum(item.price for item in items if item.price > 0)\n```\n\n"
)


def answer_text(question: str) -> str:
    """About 2,500 characters of Markdown, ending with the line test_crash's ``answers`` recognises."""
    return MARKDOWN * 6 + f"Answer to [{question}] " + " ".join(["word"] * 10) + " word."


def responder(latency: float) -> Any:
    pieces = len(answer_text("x").split()) / WORDS_PER_PIECE

    def respond(body: dict[str, Any]) -> ChatScript:
        last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        question = last["content"] if isinstance(last["content"], str) else ""
        return ChatScript(content=answer_text(question), chunk_delay=latency / pieces, usage=dict(USAGE))

    return respond


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU a process has used so far (Linux /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(cluster: PostgresCluster, workers: int, args: argparse.Namespace) -> dict[str, float]:
    users = [9001 + n for n in range(args.users)]
    questions = {u: [f"u{u} q{n}" for n in range(args.messages)] for u in users}
    total = args.users * args.messages
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTelegram() as tg, FakeVenice() as venice:
            venice.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}
            venice.responder = responder(args.latency)
            first = BotProcess.for_telegram(
                Path(folder),
                tg,
                venice,
                DATABASE_URL=cluster.new_database(),
                USER_ALLOWANCE_USD="100",
                RATE_LIMIT_PER_MINUTE="0",
                LOG_LEVEL="WARNING",
            )
            bots = [first, *(first.another(f"worker-{n + 2}") for n in range(workers - 1))]
            try:
                for bot in bots:
                    await bot.start()
                harness = time.process_time()
                before = {id(bot): cpu_seconds(bot.pid) for bot in bots}
                started = time.monotonic()
                for n in range(args.messages):
                    for user in users:
                        tg.push_message(questions[user][n], chat_id=user)
                await tg.wait_for(
                    lambda: sum(len(answers(tg, u)) for u in users) >= total, timeout=args.timeout
                )
                wall = time.monotonic() - started
                used = sum(cpu_seconds(bot.pid) - before[id(bot)] for bot in bots)
                harness = time.process_time() - harness
            finally:
                for bot in bots:
                    await bot.stop()
    return {"answers": total, "wall": wall, "rate": total / wall, "workers_cpu": used, "harness_cpu": harness}


async def main(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    print(
        f"venice-bots with several workers on one PostgreSQL: {args.users} users x {args.messages} messages "
        f"pushed at once, Venice ~{args.latency} s an answer, ~2,500-character Markdown answers; "
        f"{cores} cores"
    )
    cluster = start_cluster()
    try:
        results = {n: await one_round(cluster, n, args) for n in counts}
    finally:
        cluster.stop()
    base = results[counts[0]]["rate"]
    print(
        f"{'workers':>7}  {'answers/s':>9}  {'vs ' + str(counts[0]):>6}  {'wall s':>6}  {'workers CPU s':>13}  {'harness CPU s':>13}"
    )
    for n, r in results.items():
        print(
            f"{n:>7}  {r['rate']:>9.1f}  {r['rate'] / base:>5.2f}x  {r['wall']:>6.1f}  "
            f"{r['workers_cpu']:>13.1f}  {r['harness_cpu']:>13.1f}"
        )
    busiest = max(results.values(), key=lambda r: r["rate"])
    share = (busiest["workers_cpu"] + busiest["harness_cpu"]) / (busiest["wall"] * cores)
    print(f"at the best count the processes used {share:.0%} of the machine's CPU over the run")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
