"""The strategy called "ours" in bench/cost.py: the bot itself, not a model of it.

Each scripted turn goes through the real core (bots.bootstrap.build_service: the chat path,
core/chat/memory.py's history budget, block folds and summaries on SUMMARY_MODEL, long-term
recall through /embeddings, prompt caching) with a fresh SQLite database, against the same fake
Venice as the reference strategies. What it cost is read from the usage the fake reported for
every request it answered (answers, summaries, embeddings), priced at each request's model.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bots.bootstrap import build_service
from core.chat.memory import SUMMARY_PROMPT
from core.events import IncomingMessage, ReplyStream
from core.settings import Settings
from tests.fakes.venice import ChatScript, FakeVenice

if TYPE_CHECKING:
    from bench.cost import Tally, Turn

LARGEST_AFTER_TURN = 50


def _message(text: str, number: int) -> IncomingMessage:
    return IncomingMessage(
        platform="console",
        chat_id="chat-1",
        user_id="user-1",
        user_name="Bench",
        text=text,
        message_id=str(number),
        is_direct=True,
    )


async def measure_ours(
    script: list[Turn],
    fake: FakeVenice,
    prices: dict[str, dict[str, Decimal]],
    tally: Tally,
    model: str,
    summary: Callable[[], str],
    **settings: Any,
) -> Tally:
    """Play the script through the bot; return what it cost and what it recalled."""
    fake.prompt_cache.clear()
    start = Decimal(str(fake.balance["balances"]["usd"]))
    answer = [""]

    def respond(body: dict[str, Any]) -> ChatScript:
        first = body["messages"][0]
        if first.get("content") == SUMMARY_PROMPT:
            return ChatScript(content=summary())
        return ChatScript(content=answer[0])

    fake.responder = respond
    fake.rate_limits = {
        "data": {"accessPermitted": True, "rateLimits": []}
    }  # a benchmark, not a key's minute
    with tempfile.TemporaryDirectory() as folder:
        config = Settings(
            _env_file=None,  # type: ignore[call-arg]
            venice_api_key="bench",  # type: ignore[arg-type]
            venice_base_url=fake.base_url,
            database_url=f"sqlite:///{folder}/bench.db",
            default_chat_model=model,
            user_allowance_usd=1_000.0,
            rate_limit_per_minute=0,
            **settings,
        )
        async with build_service(config) as service:
            for turn in script:
                answer[0] = turn.answer
                seen = len(fake.usage_log)
                calls = len(fake.calls)
                started = time.perf_counter()
                result = await service.handle_message(_message(turn.user, turn.number))
                assert isinstance(result, ReplyStream), result
                async for _ in result:
                    pass
                await result.afterword()
                await service.wait_idle()  # the summary and the embeddings after the answer
                tally.turn_ms.append((time.perf_counter() - started) * 1000)
                asked = [
                    c.body
                    for c in fake.calls[calls:]
                    if c.path == "/chat/completions" and c.body.get("stream")
                ]
                if not asked:
                    raise SystemExit(f"turn {turn.number} was not answered: {await result.reply()}")
                if turn.asks is not None:
                    tally.asked += 1
                    found = any(turn.asks in str(m["content"]) for m in asked[0]["messages"])
                    tally.recalled += found
                    if not found:
                        tally.missed.append(turn.asks)
                answered = False
                for path, model_id, usage in fake.usage_log[seen:]:
                    before = tally.dollars
                    _count(tally, prices[model_id], path, usage)
                    kind = "embeddings" if path == "/embeddings" else "summaries" if answered else "answers"
                    tally.parts[kind] = tally.parts.get(kind, Decimal(0)) + tally.dollars - before
                    if path == "/chat/completions" and not answered:  # the answer comes first
                        answered = True
                        if turn.number > LARGEST_AFTER_TURN:
                            tally.largest_after_50 = max(tally.largest_after_50, int(usage["prompt_tokens"]))
    tally.venice_usd = start - Decimal(str(fake.balance["balances"]["usd"]))
    return tally


def _count(tally: Tally, price: dict[str, Decimal], path: str, usage: dict[str, Any]) -> None:
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    tally.requests += 1
    if path == "/embeddings":
        tally.embedding_tokens += prompt
        tally.dollars += prompt * price["input"] / 1_000_000
        return
    tally.prompt_tokens += prompt
    tally.cached_tokens += cached
    tally.completion_tokens += completion
    tally.dollars += (
        (prompt - cached) * price["input"] + cached * price["cache_input"] + completion * price["output"]
    ) / 1_000_000
