"""Long-term recall's vector search: exact cosine in numpy (what the SQLite store uses) against
the sqlite-vec extension (a vec0 table partitioned by conversation), measured in one run.

For one conversation of 300, 1,000 and 5,000 chunks of 1,024-dimension vectors (BGE M3's size),
on a real SQLite file (WAL), it prints the time per search (top 3 among the chunks older than the
verbatim window) and per add (one turn: two chunks, committed), for each option, and their ratio.

- numpy: adapters/storage/sqlite/vectors.py (the search in adapters/storage/recall_index.py) as the bot runs it, through aiosqlite (its thread hop
  included): a warm search is one indexed count query plus a matrix-vector product; "first
  search" reads the conversation's vectors into the cache.
- sqlite-vec: a vec0 virtual table (``conversation_id`` partition key, ``message_id`` metadata
  column, cosine distance) beside the chunk table, queried with ``MATCH … AND k = 3``. The
  Python that runs this bot often cannot load SQLite extensions at all (python.org and pyenv
  builds without --enable-loadable-sqlite-extensions: this line says whether this one can), so
  it runs through apsw, synchronously, with no thread hop: a lower bound for what it would cost
  in the bot.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.storage.recall_index import encode  # noqa: E402
from adapters.storage.sqlite.store import SqliteStore  # noqa: E402
from core.money import AllowancePolicy  # noqa: E402
from core.ports.records import ConversationKey  # noqa: E402
from core.ports.vectors import MemoryChunk  # noqa: E402

DIMENSIONS = 1024
SIZES = (300, 1_000, 5_000)
SEARCHES = 100
ADDS = 50
MODEL = "text-embedding-bge-m3"
TEXT = "a remembered sentence of about the length a chunk has, with a few more words in it " * 3


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    raw = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def bench_numpy(size: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """(first search, warm search, add) in ms with the bot's own vector store."""
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStore(f"{tmp}/numpy.db", policy=AllowancePolicy(amount=0, period="none")) as store:
            key = ConversationKey("bench", "chat")
            conversation = await store.conversations.active(key)
            ids = await _turns(store.database.path, conversation.id, size // 2 + ADDS)
            vectors = unit_vectors(rng, size)
            chunks = [
                MemoryChunk(ids[i], "message", "user" if i % 2 == 0 else "assistant", TEXT, 40, vectors[i])
                for i in range(size)
            ]
            await store.vectors.add(conversation, MODEL, chunks)
            store.vectors.drop(conversation.id)  # cold: the first search reads the vectors
            queries = unit_vectors(rng, SEARCHES)
            window = ids[size - 10]  # the newest ten messages are verbatim
            start = time.perf_counter()
            await store.vectors.search(
                conversation, MODEL, queries[0], limit=3, floor=0.0, messages_before=window
            )
            first = time.perf_counter() - start
            searches = []
            for query in queries:
                start = time.perf_counter()
                found = await store.vectors.search(
                    conversation, MODEL, query, limit=3, floor=-1.0, messages_before=window
                )
                searches.append(time.perf_counter() - start)
                assert len(found) == 3
            adds = []
            extra = unit_vectors(rng, 2 * ADDS)
            for turn in range(ADDS):
                pair = [
                    MemoryChunk(ids[size + 2 * turn + j], "message", "user", TEXT, 40, extra[2 * turn + j])
                    for j in range(2)
                ]
                start = time.perf_counter()
                await store.vectors.add(conversation, MODEL, pair)
                adds.append(time.perf_counter() - start)
            return first * 1000, median_ms(searches), median_ms(adds)


async def _turns(path: str, conversation_id: int, messages: int) -> list[int]:
    """Insert ``messages`` messages straight away (the bench is about chunks); return their ids."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO messages (conversation_id, role, content, token_count, created_at) VALUES (?, ?, ?, 40, 0)",
            [(conversation_id, "user" if i % 2 == 0 else "assistant", TEXT) for i in range(2 * messages)],
        )
        return [r[0] for r in conn.execute("SELECT id FROM messages ORDER BY id")]


def bench_sqlite_vec(size: int, rng: np.random.Generator) -> tuple[float, float, float] | str:
    """(first search, warm search, add) in ms with a vec0 table, or why it cannot run here."""
    try:
        import apsw
        import sqlite_vec
    except ImportError as exc:
        return f"not measured: {exc.name} is not installed (pip install apsw sqlite-vec)"
    with tempfile.TemporaryDirectory() as tmp:
        conn = apsw.Connection(f"{tmp}/vec.db")
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, conversation_id INTEGER, message_id INTEGER, "
            "kind TEXT, role TEXT, text TEXT, tokens INTEGER, model TEXT, created_at REAL);"
            f"CREATE VIRTUAL TABLE vec USING vec0(conversation_id integer partition key, "
            f"message_id integer, embedding float[{DIMENSIONS}] distance_metric=cosine)"
        )
        vectors = unit_vectors(rng, size)
        with conn:
            for i in range(size):
                _vec_insert(conn, i + 1, i + 1, vectors[i])
        queries = unit_vectors(rng, SEARCHES)
        window = size - 10

        def search(query: np.ndarray) -> list[tuple[object, ...]]:
            hits = conn.execute(
                "SELECT rowid, distance FROM vec WHERE embedding MATCH ? AND k = 3 AND conversation_id = 1 "
                "AND message_id < ?",
                (encode(query.tolist()), window),
            ).fetchall()
            rows = {r[0]: r for r in conn.execute(
                f"SELECT id, message_id, kind, role, text, tokens, created_at FROM chunks WHERE id IN "
                f"({','.join('?' * len(hits))})", [h[0] for h in hits]
            ).fetchall()}  # fmt: skip
            return [rows[h[0]] for h in hits]

        conn.close()  # a fresh connection: its first search reads from the file
        conn = apsw.Connection(f"{tmp}/vec.db")
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        first = _timed(lambda: search(queries[0]))
        searches = [_timed(lambda q=q: _check(search(q))) for q in queries]  # type: ignore[misc]
        extra = unit_vectors(rng, 2 * ADDS)
        adds = []
        for turn in range(ADDS):

            def add(turn: int = turn) -> None:
                with conn:
                    for j in range(2):
                        n = size + 2 * turn + j + 1
                        _vec_insert(conn, n, n, extra[2 * turn + j])

            adds.append(_timed(add))
        conn.close()
    return first * 1000, median_ms(searches), median_ms(adds)


def _vec_insert(conn: object, rowid: int, message_id: int, vector: np.ndarray) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO chunks VALUES (?, 1, ?, 'message', 'user', ?, 40, ?, 0)",
        (rowid, message_id, TEXT, MODEL),
    )
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO vec (rowid, conversation_id, message_id, embedding) VALUES (?, 1, ?, ?)",
        (rowid, message_id, encode(vector.tolist())),
    )


def _check(found: list[tuple[object, ...]]) -> None:
    assert len(found) == 3


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


async def main() -> None:
    can_load = hasattr(sqlite3.Connection, "enable_load_extension")
    print(
        f"venice-bots recall: one conversation's chunks of {DIMENSIONS} dimensions, top 3 of the older ones "
        f"(median of {SEARCHES} searches, {ADDS} adds of one turn = two chunks)"
    )
    print(f"this Python's sqlite3 {sqlite3.sqlite_version} can load extensions (sqlite-vec): {can_load}")
    header = f"{'chunks':>7} | {'option':<10} | {'first search':>12} | {'search':>9} | {'add':>8}"
    print(header)
    print("-" * len(header))
    for size in SIZES:
        rng = np.random.default_rng(size)
        numpy_first, numpy_search, numpy_add = await bench_numpy(size, rng)
        print(
            f"{size:>7,} | {'numpy':<10} | {numpy_first:>9.2f} ms | {numpy_search:>6.3f} ms | {numpy_add:>5.3f} ms"
        )
        vec = bench_sqlite_vec(size, rng)
        if isinstance(vec, str):
            print(f"{size:>7,} | sqlite-vec | {vec}")
            continue
        vec_first, vec_search, vec_add = vec
        print(
            f"{size:>7,} | {'sqlite-vec':<10} | {vec_first:>9.2f} ms | {vec_search:>6.3f} ms | {vec_add:>5.3f} ms"
        )
        print(
            f"{'':>7} | {'ratio':<10} | sqlite-vec / numpy: first search {vec_first / numpy_first:.2f}x, "
            f"search {vec_search / numpy_search:.2f}x, add {vec_add / numpy_add:.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
