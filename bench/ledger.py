"""Reserve + settle pairs per second through the ledger, on a real SQLite file.

Prints, from one run: pairs per second and p99 latency of one pair, at 1 and at 50
concurrent users (target: >= 2,000 pairs per second on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.storage.sqlite.database import Database  # noqa: E402
from adapters.storage.sqlite.ledger import Ledger  # noqa: E402
from adapters.storage.sqlite.migrations import migrate  # noqa: E402
from core.money import AllowancePolicy  # noqa: E402


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]


async def run(users: int, pairs_per_user: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with Database.open(f"{tmp}/ledger.db") as db:
            await migrate(db)
            ledger = Ledger(db, policy=AllowancePolicy(amount=10**9, period="daily"))
            for user in range(users):
                await ledger.balance(f"user:{user}")  # open the account and its allowance
            latencies: list[float] = []

            async def user_loop(user: int) -> None:
                for i in range(pairs_per_user):
                    start = time.perf_counter()
                    reservation = await ledger.reserve(f"user:{user}", 5_000, feature="chat")
                    await ledger.settle(reservation, 3_000 + i % 1_000)
                    latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            await asyncio.gather(*(user_loop(u) for u in range(users)))
            elapsed = time.perf_counter() - start
            assert await ledger.check() == []
    return len(latencies) / elapsed, p99(latencies)


async def main() -> None:
    print("venice-bots ledger: reserve + settle pairs on SQLite (WAL, one connection)")
    for users, pairs in ((1, 3000), (50, 100)):
        rate, latency = await run(users, pairs)
        print(
            f"{users:>2} concurrent users: {rate:,.0f} pairs/s, p99 {latency * 1000:.2f} ms per pair"
            "  (target >= 2,000 pairs/s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
