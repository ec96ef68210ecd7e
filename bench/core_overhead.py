"""How much time the core adds to a chat message, and how context assembly scales.

Prints, from one run:
1. per message through the core (memory load and save, context assembly, stream relay)
   against a fake Venice that answers at once, divided by a bare httpx call that sends the
   very same request bodies to the same endpoint: p50 and p99 at 1 and at 100 concurrent
   conversations (target: ratio <= 1.5 at concurrency 1);
2. context-assembly time for a conversation of 100, 10,000 and 100,000 stored messages
   (target: within 2x from 100 to 100,000).

The fake Venice runs in its own process (bench/fake_venice_server.py) on 127.0.0.1.
Timings are ratios from one run on a shared machine: read them as such.
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
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.storage.sqlite.conversations import ConversationStore  # noqa: E402
from adapters.storage.sqlite.database import Database  # noqa: E402
from adapters.storage.sqlite.migrations import migrate  # noqa: E402
from bots.bootstrap import build_service  # noqa: E402
from core.app import App  # noqa: E402
from core.chat.memory import Memory  # noqa: E402
from core.events import IncomingMessage, ReplyStream  # noqa: E402
from core.ports.records import ConversationKey  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.venice.types import ModelInfo  # noqa: E402

KEY = "bench-key-0000000000"


@asynccontextmanager
async def fake_venice() -> AsyncIterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_venice_server.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        if not line.startswith("VENICE_BASE_URL="):
            raise SystemExit(f"fake Venice did not start: {line!r}")
        yield line.strip().split("=", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Recorder:
    """Keep the body of every chat request the core sends, to replay it bare."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def hook(self, request: httpx.Request) -> None:
        # Answers only: a summary call (not streamed) is the core's own extra work.
        if request.url.path.endswith("/chat/completions") and b'"stream":true' in request.content:
            self.bodies.append(request.content)


async def through_core(service: App, chat: str, text: str) -> float:
    message = IncomingMessage(platform="bench", chat_id=chat, user_id="u", text=text)
    start = time.perf_counter()
    result = await service.handle_message(message)
    assert isinstance(result, ReplyStream)
    async for _ in result:
        pass
    reply = await result.reply()
    elapsed = time.perf_counter() - start
    assert reply.text, "empty answer"
    return elapsed


async def bare(http: httpx.AsyncClient, url: str, body: bytes) -> float:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    start = time.perf_counter()
    async with http.stream("POST", url, content=body, headers=headers) as response:
        response.raise_for_status()
        text = []
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or []:
                    text.append((choice.get("delta") or {}).get("content") or "")
    elapsed = time.perf_counter() - start
    assert "".join(text)
    return elapsed


async def overhead(base_url: str, concurrency: int, rounds: int, warmup: int) -> dict[str, float]:
    """Alternate rounds through the core and bare replays of the same bodies."""
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            venice_api_key=KEY,
            venice_base_url=base_url,
            database_url=f"sqlite:///{tmp}/bench.db",
            log_level="WARNING",
            rate_limit_per_minute=0,
        )
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        core_http = httpx.AsyncClient(timeout=30, limits=limits, event_hooks={"request": [recorder.hook]})
        async with (
            build_service(settings, http=core_http) as service,
            httpx.AsyncClient(timeout=30, limits=limits) as bare_http,
        ):
            url = base_url + "/chat/completions"
            core_times: list[float] = []
            bare_times: list[float] = []
            for round_number in range(warmup + rounds):
                recorder.bodies.clear()
                text = f"Message {round_number}: what do you make of this, briefly?"
                core = await asyncio.gather(
                    *(through_core(service, f"chat-{c}", text) for c in range(concurrency))
                )
                bodies = list(recorder.bodies)
                plain = await asyncio.gather(*(bare(bare_http, url, b) for b in bodies))
                if round_number >= warmup:
                    core_times += core
                    bare_times += plain
    result = {}
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        c, b = percentile(core_times, q), percentile(bare_times, q)
        result[f"core_{name}_ms"] = c * 1000
        result[f"bare_{name}_ms"] = b * 1000
        result[f"ratio_{name}"] = c / b
    result["messages"] = len(core_times)
    return result


async def context_assembly(sizes: tuple[int, ...], repeats: int) -> dict[int, tuple[float, float]]:
    """Median time to assemble a context for conversations of each size.

    Each conversation is in the state the bot keeps it in: older turns folded into a summary,
    the newest 80 messages not. "cold" loads the conversation from the database first (a bot
    that just restarted, or a conversation out of the cache); "warm" is the usual case.
    """
    model = ModelInfo(id="bench-8k", type="text", name="bench", context_length=8192)
    line = "A stored message of about one hundred tokens, " * 9  # ~400 characters
    unsummarized = 80
    out: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with Database.open(f"{tmp}/assembly.db") as db:
            await migrate(db)
            for size in sizes:
                key = ConversationKey("bench", f"size-{size}")
                conversation = await ConversationStore(db).active(key)
                async with db.transaction() as conn:
                    await conn.executemany(
                        "INSERT INTO messages (conversation_id, role, content, token_count, "
                        "created_at) VALUES (?, ?, ?, ?, 0)",
                        (
                            (conversation.id, "user" if i % 2 == 0 else "assistant", f"{i} {line}", 100)
                            for i in range(size)
                        ),
                    )
                    await conn.execute(
                        "UPDATE conversations SET summary = 'Earlier: many facts.', summary_tokens = 8,"
                        " summarized_upto = (SELECT MAX(id) FROM messages WHERE conversation_id = ?) - ?"
                        " WHERE id = ?",
                        (conversation.id, unsummarized, conversation.id),
                    )
                cold, warm = [], []
                for _ in range(repeats):
                    store = ConversationStore(db)
                    memory = Memory(
                        store,
                        None,  # type: ignore[arg-type]  # building a prompt calls no one
                        None,  # type: ignore[arg-type]  # recall is off: nothing embedded, no search
                        None,  # type: ignore[arg-type]
                        reply_max_tokens=2048,
                        history_budget=1000,
                        history_budget_max=1000,
                    )
                    start = time.perf_counter()
                    conversation = await store.active(key)
                    context = await memory.build(
                        conversation, model, "You are a bench.", "Hi?", 2, budget=1000, recall=False
                    )
                    cold.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    context = await memory.build(
                        conversation, model, "You are a bench.", "Hi?", 2, budget=1000, recall=False
                    )
                    warm.append(time.perf_counter() - start)
                out[size] = (statistics.median(cold), statistics.median(warm))
                print(
                    f"  {size:>7,} stored: cold median {out[size][0] * 1e6:6.0f} µs, "
                    f"warm median {out[size][1] * 1e6:6.0f} µs "
                    f"(window {len(context.window)} messages, {repeats} runs)"
                )
    return out


async def main() -> None:
    print("venice-bots core overhead (fake Venice in another process on 127.0.0.1)")
    async with fake_venice() as base_url:
        for concurrency, rounds, warmup in ((1, 300, 20), (100, 12, 2)):
            r = await overhead(base_url, concurrency, rounds, warmup)
            print(
                f"concurrency {concurrency:>3}: {int(r['messages'])} messages | "
                f"core p50 {r['core_p50_ms']:.2f} ms p99 {r['core_p99_ms']:.2f} ms | "
                f"bare httpx p50 {r['bare_p50_ms']:.2f} ms p99 {r['bare_p99_ms']:.2f} ms | "
                f"ratio p50 {r['ratio_p50']:.2f} p99 {r['ratio_p99']:.2f}"
                + ("  (target p50 <= 1.5)" if concurrency == 1 else "")
            )
    print("context assembly (load + Memory.build, 8k-context model):")
    times = await context_assembly((100, 10_000, 100_000), repeats=300)
    cold = times[100_000][0] / times[100][0]
    warm = times[100_000][1] / times[100][1]
    print(f"100,000 vs 100 stored messages: cold {cold:.2f}x, warm {warm:.2f}x (target <= 2x)")


if __name__ == "__main__":
    asyncio.run(main())
