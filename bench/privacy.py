"""Retention sweeps and /forget on a big database, and what a sweep does to answers meanwhile.

Prints, from one run: messages deleted per second by a retention sweep of 200,000 old messages
(in batches of 200), the p50/p99 latency of the database work of an answer (load the context
window, store the turn) while the sweep runs versus with no sweep (the target: answers are not
blocked: p99 within a few milliseconds), and how long /forget takes for a user with 20,000
messages. SQLite file on disk, secure_delete on, as the bot runs it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.storage.sqlite.chat_settings import ChatSettingsStore  # noqa: E402
from adapters.storage.sqlite.conversations import ConversationStore  # noqa: E402
from adapters.storage.sqlite.database import Database  # noqa: E402
from adapters.storage.sqlite.ledger import Ledger  # noqa: E402
from adapters.storage.sqlite.migrations import migrate  # noqa: E402
from adapters.storage.sqlite.privacy import PrivacyStore  # noqa: E402
from core.money import AllowancePolicy  # noqa: E402
from core.ports.records import ConversationKey  # noqa: E402
from core.privacy.policy import Privacy  # noqa: E402
from core.settings import Settings  # noqa: E402

OLD = 200_000
FORGET = 20_000
DAY = 86_400


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] * 1000


async def fill(db: Database, now: float) -> None:
    """200,000 old messages in 2,000 conversations, and 20,000 recent ones of one user."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO users (id, platform, platform_user_id, created_at) VALUES (1, 'telegram', '1', ?)",
            (now,),
        )
        await conn.executemany(
            "INSERT INTO conversations (id, platform, chat_id, created_at, updated_at) "
            "VALUES (?, 'telegram', ?, ?, ?)",
            [(c, str(c), now, now) for c in range(1, 2_101)],
        )
        old = now - 90 * DAY
        await conn.executemany(
            "INSERT INTO messages (conversation_id, user_id, role, content, token_count, created_at) "
            "VALUES (?, NULL, ?, ?, 20, ?)",
            [
                (1 + i % 2_000, "user" if i % 2 == 0 else "assistant", f"old message {i} " * 8, old)
                for i in range(OLD)
            ],
        )
        await conn.executemany(
            "INSERT INTO messages (conversation_id, user_id, role, content, token_count, created_at) "
            "VALUES (?, ?, ?, ?, 20, ?)",
            [
                (
                    2_001 + (i // 2) % 100,
                    1 if i % 2 == 0 else None,
                    "user" if i % 2 == 0 else "assistant",
                    f"recent message {i} " * 8,
                    now,
                )
                for i in range(FORGET)
            ],
        )


async def answers(store: ConversationStore, stop: asyncio.Event, latencies: list[float]) -> None:
    """What an answer asks of the database: the context window, then the stored turn."""
    number = 0
    while not stop.is_set():
        number += 1
        start = time.perf_counter()
        conversation = await store.active(ConversationKey("console", f"live-{number % 20}"))
        await store.newest(conversation, 8_000)
        await store.save_turn(
            conversation,
            user_id=None,
            question="q " * 50,
            question_tokens=50,
            answer="a " * 200,
            answer_tokens=200,
        )
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.002)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Database.open(f"{tmp}/bench.db") as db:
            await migrate(db)
            now = time.time()
            await fill(db, now)
            settings = Settings(
                venice_api_key="bench",
                database_url=f"sqlite:///{tmp}/bench.db",
                message_retention_days=30,
                _env_file=None,
            )  # type: ignore[call-arg]
            store = ConversationStore(db)
            privacy = Privacy(
                PrivacyStore(db),
                settings,
                conversations=store,
                chat_settings=ChatSettingsStore(db),
                ledger=Ledger(db, policy=AllowancePolicy(amount=0, period="none")),
            )

            idle: list[float] = []
            stop = asyncio.Event()
            runner = asyncio.create_task(answers(store, stop, idle))
            await asyncio.sleep(2.0)
            stop.set()
            await runner

            during: list[float] = []
            stop = asyncio.Event()
            runner = asyncio.create_task(answers(store, stop, during))
            start = time.perf_counter()
            deleted = await privacy.sweep()
            swept = time.perf_counter() - start
            stop.set()
            await runner

            start = time.perf_counter()
            forgotten = await privacy.forget("telegram", "1")
            forget_time = time.perf_counter() - start
    print(
        f"retention sweep: {deleted:,} messages in {swept:.2f} s = {deleted / swept:,.0f} messages/s "
        f"(batches of 200, 5 ms apart)"
    )
    print(
        f"an answer's database work, no sweep:     p50 {pct(idle, 0.5):.2f} ms  p99 {pct(idle, 0.99):.2f} ms  "
        f"max {max(idle) * 1000:.1f} ms ({len(idle)} answers)"
    )
    print(
        f"an answer's database work, during sweep: p50 {pct(during, 0.5):.2f} ms  p99 {pct(during, 0.99):.2f} ms  "
        f"max {max(during) * 1000:.1f} ms ({len(during)} answers; one DELETE of them all would hold "
        f"the database for the whole sweep)"
    )
    print(
        f"/forget of a user with {FORGET // 2:,} messages and the answers to them: {forgotten.messages:,} deleted "
        f"in {forget_time * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
