"""What a long chat costs under each history strategy, and whether it still knows what it was told.

Prints, for each strategy, on a scripted conversation of 120 and of 300 turns: total prompt tokens
(answers and summaries), cached share (cached tokens / prompt tokens), dollars, the largest answer
prompt after turn 50, and the planted facts recalled (a fact counts when its exact text is in the
prompt of the turn that asks about it). Then the goal of issue 17 for the strategy called "ours".

Everything is counted from the usage the fake Venice reports (tests/fakes/venice.py, in-process on
127.0.0.1): its prefix cache reports ``usage.prompt_tokens_details.cached_tokens`` (the longest run of
whole leading messages shared with a recent request of the same model and ``prompt_cache_key``, nothing
under 1,024 tokens). Dollars use that model's /models pricing with Decimal: prompt tokens not cached at
``input``, cached ones at ``cache_input``, completion tokens at ``output``. The model is
qwen3-vl-235b-a22b, the fake catalogue's one text model with a ``cache_input`` price; the whole-window
strategy treats it as a 32k-token model, as the issue's measurement did.

The script (deterministic for a ``--seed``): user messages of varied length (mostly a sentence or a
short paragraph, now and then a long paste), answers of 150-450 tokens (the fake is told to return the
script's answer, so completion tokens are realistic), eight facts planted in the first 20 turns and
asked about late (from 80 % of a 120-turn chat, from half of a 300-turn one). Summaries are written by
the chat model with core.chat.memory's summary prompt; the fake returns a ~260-token summary of filler
that keeps no fact verbatim, so a fact counts as recalled only if its message is still in the prompt.

The reference strategies:
- whole window (today): core/chat/memory.py on a 32k model. Every unsummarised message is sent after
  the system prompt and the running summary; after a turn, once the unsummarised messages exceed 75 %
  of the window budget (context - 2,048 reply tokens - margin - system - summary) the oldest are folded
  down to 50 % in one summary request (previous summary + those messages), ending on an answer. The
  store's token estimates are approximated by four characters a token; calibration is left out.
- last 25 messages (llmcord): the system prompt and the newest 25 messages, the new one included.
- summarise every 7 turns (chatgpt-telegram-bot's approach as the issue measures it): the system
  prompt, the summary, the turns since it; after every 7th turn a summary request (previous summary +
  those 7 turns) replaces them.
None sends a ``prompt_cache_key``; the fake's cache is cleared between runs, so runs never share it.

"ours" is the bot itself (bench/cost_ours.py): every turn goes through the real core with a fresh
SQLite database, and every request it makes (answers, summaries on SUMMARY_MODEL, embeddings for
recall) is counted at its own model's price. The fake's embeddings are a hashed bag of words, far
cruder than a real model's, so recall is measured against a pessimistic stand-in. Its knobs
(--budget, --recall-budget, --fold-to, --summary-after, --top-k, --chunk, --floor) default to the
bot's own values: they are how the defaults were chosen.

Usage: python bench/cost.py [--turns 120,300] [--seed 17] [ours' knobs]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cost_ours import measure_ours  # noqa: E402
from core.chat import recall  # noqa: E402
from core.chat.memory import SUMMARY_PROMPT, Memory  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.text import estimate_tokens  # noqa: E402
from tests.fakes.venice import ChatScript, FakeVenice  # noqa: E402

MODEL = "qwen3-vl-235b-a22b"  # has cache_input in the fake's /models
CONTEXT_TOKENS = 32_768  # the whole-window strategy's model window, as in the issue
REPLY_MAX_TOKENS = 2_048  # Settings.reply_max_tokens' default
SYSTEM_PROMPT = "You are a helpful assistant in a chat app. Answer concisely; use Markdown sparingly."
SUMMARY_TOKENS = 260  # about the 200 words the summary prompt allows
LARGEST_AFTER_TURN = 50

Message = dict[str, str]

# (the fact as the user tells it, the question asked late)
FACTS: tuple[tuple[str, str], ...] = (
    ("My sister's name is Ilse", "What was my sister's name again?"),
    ("I'm allergic to hazelnuts", "Remind me, which nut am I allergic to?"),
    ("My flat is on the 4th floor at Kastanienallee 12", "What's my address again, with the floor?"),
    ("My cat is called Pfeffer", "What did I say my cat is called?"),
    ("I work night shifts at the hospital on Tuesdays and Thursdays", "Which nights do I work?"),
    ("My bike lock code is 4471", "I forgot my bike lock code, did I tell you?"),
    ("My mother's birthday is on the 14th of March", "When is my mother's birthday?"),
    ("We are moving to Porto next spring, so I'm learning Portuguese", "Where are we moving, and when?"),
)
PLANT_TURNS = (2, 4, 6, 9, 11, 14, 17, 19)

_VOCABULARY = (
    "the a and of to in that it is was for on with as I you we they this be have not but at from or "
    "one all would there their what so up out if about who get which go me when make can like time no "
    "just him know take people into year your good some could them see other than then now look only "
    "come its over think also back after use two how our work first well way even new want because any "
    "these give day most us plan weekend recipe budget train weather garden project deadline meeting "
    "email landlord kitchen bread coffee running knee doctor appointment invoice spreadsheet python "
    "function error holiday flight ticket museum book chapter song guitar lesson neighbour parcel heating "
    "window paint shelf drill screw cable router password backup photo camera lens battery charger"
)
WORDS = _VOCABULARY.split()


@dataclass(frozen=True)
class Turn:
    """One scripted exchange: the user's message, the answer the fake returns, and what it asks."""

    number: int  # 1-based
    user: str
    answer: str
    asks: str | None = None  # the fact whose text should be in this turn's prompt


def _words(rng: random.Random, tokens: int) -> str:
    """Return sentences of filler about ``tokens`` long (four characters a token)."""
    out: list[str] = []
    length = 0
    while length < tokens * 4:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice("...?!")
        out.append(sentence)
        length += len(sentence) + 1
    return " ".join(out)


def user_length(rng: random.Random) -> int:
    """Return a user message's length in tokens: mostly short, sometimes a paragraph or a paste."""
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(8, 50)
    if roll < 0.92:
        return rng.randint(50, 160)
    return rng.randint(250, 600)


def conversation(turns: int, seed: int) -> list[Turn]:
    """Script a conversation of ``turns`` turns: facts planted early, asked about late."""
    rng = random.Random(seed * 1_000 + turns)
    start = 0.8 if turns <= 150 else 0.5
    first = min(round(turns * start), turns - len(FACTS) + 1)
    last = round(turns * 0.99)  # at least len(FACTS) - 1 after first, so one question a turn
    ask_turns = {first + round((last - first) * i / (len(FACTS) - 1)): i for i in range(len(FACTS))}
    planted = dict(zip(PLANT_TURNS, range(len(FACTS)), strict=True))
    script: list[Turn] = []
    for number in range(1, turns + 1):
        user = _words(rng, user_length(rng))
        asks = None
        if number in planted:
            user = f"{_words(rng, 10)} {FACTS[planted[number]][0]}. {user}"
        elif number in ask_turns:
            asks = FACTS[ask_turns[number]][0]
            user = FACTS[ask_turns[number]][1]
        script.append(Turn(number, user, _words(rng, rng.randint(150, 450)), asks))
    return script


@dataclass
class Tally:
    """What one strategy spent on one conversation, from the usage Venice reported."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    dollars: Decimal = Decimal(0)
    largest_after_50: int = 0
    recalled: int = 0
    asked: int = 0
    requests: int = 0
    venice_usd: Decimal = Decimal(0)  # what the fake itself charged: a check on ``dollars``
    embedding_tokens: int = 0  # ours: tokens embedded for long-term recall
    parts: dict[str, Decimal] = field(default_factory=dict)  # ours: dollars by kind of request
    missed: list[str] = field(default_factory=list)  # ours: the facts not in the prompt that asked
    turn_ms: list[float] = field(default_factory=list)  # ours: each turn through the core, upkeep included


@dataclass
class Venice:
    """Send chat requests to the fake, with the answer it should give, and tally what they cost."""

    http: httpx.AsyncClient
    fake: FakeVenice
    prices: dict[str, dict[str, Decimal]]  # model -> input, cache_input, output: dollars per 1M tokens
    tally: Tally = field(default_factory=Tally)
    rng: random.Random = field(default_factory=random.Random)

    async def chat(
        self, messages: list[Message], answer: str, cache_key: str | None = None, model: str = MODEL
    ) -> int:
        """Send one request answered with ``answer``; return its prompt tokens as Venice counted them."""
        self.fake.script.append(ChatScript(content=answer))
        body: dict[str, Any] = {"model": model, "messages": messages}
        if cache_key is not None:
            body["prompt_cache_key"] = cache_key
        response = await self.http.post("/chat/completions", json=body)
        response.raise_for_status()
        answer_body = response.json()
        usage = answer_body["usage"]
        prompt = int(usage["prompt_tokens"])
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        completion = int(usage["completion_tokens"])
        t = self.tally
        t.requests += 1
        t.prompt_tokens += prompt
        t.cached_tokens += cached
        t.completion_tokens += completion
        price = self.prices[model]
        t.dollars += (
            (prompt - cached) * price["input"] + cached * price["cache_input"] + completion * price["output"]
        ) / 1_000_000
        t.venice_usd += Decimal(str(answer_body["cost"]["usd"]))
        return prompt

    async def summarise(self, previous: str, messages: list[Message]) -> str:
        """Ask the chat model for a new running summary (core.chat.memory's request); return it."""
        transcript = "\n\n".join(
            f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in messages
        )
        request = [
            {"role": "system", "content": SUMMARY_PROMPT},
            {
                "role": "user",
                "content": f"Summary so far:\n{previous or '(none yet)'}\n\nNew messages:\n{transcript}",
            },
        ]
        summary = _words(self.rng, SUMMARY_TOKENS)
        await self.chat(request, summary)
        return summary


class Strategy(Protocol):
    """A way to build each turn's prompt: ``prompt`` before the answer, ``after`` once it is in."""

    def prompt(self, user: str) -> list[Message]:
        """Return the messages to send for this user message."""
        ...

    async def after(self, venice: Venice, user: str, answer: str) -> None:
        """Keep the exchange, and summarise if the strategy does (through ``venice``, so it is paid)."""
        ...


def _system(summary: str) -> list[Message]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    if summary:
        messages.append(
            {"role": "system", "content": "Summary of the earlier part of this conversation:\n" + summary}
        )
    return messages


class WholeWindow:
    """Today's bot (core/chat/memory.py) on a 32k model: everything unsummarised, folded at 75 %."""

    FOLD_AT = 0.75
    FOLD_TO = 0.5

    def __init__(self) -> None:
        self.summary = ""
        self.summary_tokens = 0
        self.unsummarised: list[Message] = []

    def budget(self) -> int:
        reply = max(64, min(REPLY_MAX_TOKENS, CONTEXT_TOKENS // 4))
        margin = 32 + CONTEXT_TOKENS // 50
        fixed = estimate_tokens(SYSTEM_PROMPT) + self.summary_tokens
        return max(0, CONTEXT_TOKENS - reply - fixed - margin)

    def prompt(self, user: str) -> list[Message]:
        # The newest turns that fit the budget: all unsummarised ones, as folding keeps them under 75 %.
        window: list[Message] = []
        room = self.budget() - estimate_tokens(user)
        for message in reversed(self.unsummarised):
            room -= estimate_tokens(message["content"])
            if room < 0:
                break
            window.insert(0, message)
        return [*_system(self.summary), *window, {"role": "user", "content": user}]

    async def after(self, venice: Venice, user: str, answer: str) -> None:
        self.unsummarised += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        held = sum(estimate_tokens(m["content"]) for m in self.unsummarised)
        budget = self.budget()
        if held <= budget * self.FOLD_AT:
            return
        limit = max(1, min(held - int(budget * self.FOLD_TO), budget - REPLY_MAX_TOKENS))
        count, taken = 0, 0
        while count < len(self.unsummarised):
            tokens = estimate_tokens(self.unsummarised[count]["content"])
            if count and taken + tokens > limit:
                break
            count, taken = count + 1, taken + tokens
        while count and self.unsummarised[count - 1]["role"] == "user":
            count -= 1  # end on an answer, as the store's fold does
        folded, self.unsummarised = self.unsummarised[:count], self.unsummarised[count:]
        self.summary = await venice.summarise(self.summary, folded)
        self.summary_tokens = estimate_tokens(self.summary)


class LastMessages:
    """llmcord: the system prompt and the newest 25 messages, the new one included."""

    KEEP = 25

    def __init__(self) -> None:
        self.history: list[Message] = []

    def prompt(self, user: str) -> list[Message]:
        recent = self.history[-(self.KEEP - 1) :]
        return [*_system(""), *recent, {"role": "user", "content": user}]

    async def after(self, venice: Venice, user: str, answer: str) -> None:
        self.history += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


class SummariseEvery:
    """The system prompt, a summary and the turns since it; every 7th turn the chat model re-summarises."""

    EVERY = 7

    def __init__(self) -> None:
        self.summary = ""
        self.since: list[Message] = []

    def prompt(self, user: str) -> list[Message]:
        return [*_system(self.summary), *self.since, {"role": "user", "content": user}]

    async def after(self, venice: Venice, user: str, answer: str) -> None:
        self.since += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        if len(self.since) >= 2 * self.EVERY:
            self.summary = await venice.summarise(self.summary, self.since)
            self.since = []


# The reference strategies, in the order printed; "ours" (the bot itself, bench/cost_ours.py) comes last.
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "whole window (today)": WholeWindow,
    "last 25 messages": LastMessages,
    "summarise every 7": SummariseEvery,
}
OURS = "ours"
OURS_NO_RECALL = "ours, recall off"  # the same without long-term recall: what recall costs and brings


async def measure(
    strategy: Strategy,
    script: list[Turn],
    http: httpx.AsyncClient,
    fake: FakeVenice,
    prices: dict[str, dict[str, Decimal]],
) -> Tally:
    """Play the script through one strategy; return what it cost and what it recalled."""
    fake.prompt_cache.clear()  # each run starts cold and never shares another's cache
    venice = Venice(http, fake, prices, rng=random.Random(len(script)))
    for turn in script:
        messages = strategy.prompt(turn.user)
        if turn.asks is not None:
            venice.tally.asked += 1
            venice.tally.recalled += any(turn.asks in m["content"] for m in messages)
        prompt_tokens = await venice.chat(messages, turn.answer)
        if turn.number > LARGEST_AFTER_TURN:
            venice.tally.largest_after_50 = max(venice.tally.largest_after_50, prompt_tokens)
        await strategy.after(venice, turn.user, turn.answer)
    return venice.tally


def model_prices(pricing: dict[str, Any]) -> dict[str, Decimal]:
    """Return a text model's dollars per 1M input, cached input (input when it has none) and output tokens."""
    cached = pricing.get("cache_input", pricing["input"])
    return {
        "input": Decimal(str(pricing["input"]["usd"])),
        "cache_input": Decimal(str(cached["usd"])),
        "output": Decimal(str(pricing["output"]["usd"])),
    }


def table(turns: int, results: dict[str, Tally]) -> list[str]:
    """Format one script length's results as aligned lines, and the goal for "ours"."""
    width = max(len(name) for name in results)
    lines = [
        f"{turns}-turn chat".ljust(width) + "  prompt tokens  cached   dollars   largest>50  facts  requests",
    ]
    for name, t in results.items():
        share = t.cached_tokens / t.prompt_tokens if t.prompt_tokens else 0.0
        lines.append(
            f"{name:<{width}}  {t.prompt_tokens:>13,}  {share:>5.1%}  {'$' + format(t.dollars, '.4f'):>9}  "
            f"{t.largest_after_50:>10,}  {t.recalled:>2}/{t.asked:<2}  {t.requests:>8,}"
        )
    cheapest = results["summarise every 7"].dollars
    fewest = results["last 25 messages"].prompt_tokens
    goal = (
        f"goal for ours: dollars <= ${cheapest:.4f} (summarise every 7), prompt tokens <= {fewest:,}"
        f" (last 25), facts {len(FACTS)}/{len(FACTS)}, largest>50 not growing with the chat's length"
    )
    ours = results.get(OURS)
    if ours is None:
        goal += "  [ours: not built yet]"
    else:
        met = ours.dollars <= cheapest and ours.prompt_tokens <= fewest and ours.recalled == ours.asked
        goal += f"  [ours: {'met' if met else 'NOT met'}]"
    bare = results.get(OURS_NO_RECALL)
    if ours is not None and bare is not None and bare.turn_ms and ours.turn_ms:
        with_recall, without = statistics.median(ours.turn_ms), statistics.median(bare.turn_ms)
        goal += (
            f"\nours, time a turn takes through the core (median): {with_recall:.1f} ms with recall, "
            f"{without:.1f} ms without ({with_recall / without:.2f}x; the fake answers at once)"
        )
    if ours is not None:
        goal += "\nours by request: " + ", ".join(f"{k} ${v:.4f}" for k, v in ours.parts.items())
        goal += f"; {ours.embedding_tokens:,} tokens embedded"
        if ours.missed:
            goal += "\nours missed: " + "; ".join(ours.missed)
    return [*lines, goal]


async def main(turn_counts: list[int], seed: int, tuning: argparse.Namespace) -> None:
    print(f"venice-bots cost of a long chat, per history strategy (fake Venice, {MODEL}, seed {seed})")
    async with (
        FakeVenice() as fake,
        httpx.AsyncClient(
            base_url=fake.base_url, headers={"Authorization": "Bearer bench"}, timeout=60
        ) as http,
    ):
        models = (await http.get("/models", params={"type": "text"})).json()["data"]
        models += (await http.get("/models", params={"type": "embedding"})).json()["data"]
        prices = {m["id"]: model_prices(m["model_spec"]["pricing"]) for m in models}
        price = prices[MODEL]
        print(
            f"prices per 1M tokens: input ${price['input']}, cached input ${price['cache_input']},"
            f" output ${price['output']}"
        )
        for turns in turn_counts:
            script = conversation(turns, seed)
            start = time.perf_counter()
            results = {
                name: await measure(make(), script, http, fake, prices) for name, make in STRATEGIES.items()
            }
            for name, recall_budget in ((OURS_NO_RECALL, 0), (OURS, tuning.recall_budget)):
                rng = random.Random(turns)
                results[name] = await measure_ours(
                    script,
                    fake,
                    prices,
                    Tally(),
                    MODEL,
                    summary=lambda rng=rng: _words(rng, SUMMARY_TOKENS),
                    history_token_budget=tuning.budget,
                    recall_token_budget=recall_budget,
                )
            print()
            print("\n".join(table(turns, results)))
            print(f"({time.perf_counter() - start:.1f} s)")
            for name, t in results.items():
                # The fake rounds each request's cost to 8 decimals; more than that means a pricing bug here.
                if abs(t.dollars - t.venice_usd) > Decimal("0.00000001") * t.requests:
                    raise SystemExit(f"{name}: ${t.dollars} counted, ${t.venice_usd} charged by Venice")
        if fake.spec_errors:
            raise SystemExit("requests broke the Venice spec:\n" + "\n".join(fake.spec_errors[:5]))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", default="120,300", help="comma-separated script lengths (default 120,300)")
    parser.add_argument("--seed", type=int, default=17, help="the script's random seed (default 17)")
    # Ours' knobs, to choose the defaults by measurement (each defaults to the bot's own).
    parser.add_argument("--budget", type=int, default=Settings.model_fields["history_token_budget"].default)
    parser.add_argument(
        "--recall-budget", type=int, default=Settings.model_fields["recall_token_budget"].default
    )
    parser.add_argument("--fold-to", type=float, default=Memory.FOLD_TO)
    parser.add_argument("--summary-after", type=int, default=Memory.SUMMARY_AFTER)
    parser.add_argument("--top-k", type=int, default=recall.TOP_K)
    parser.add_argument("--chunk", type=int, default=recall.CHUNK_TOKENS)
    parser.add_argument("--floor", type=float, default=recall.FLOOR)
    return parser.parse_args()


def tune(args: argparse.Namespace) -> None:
    """Set ours' constants from the command line (the bot's own values unless given)."""
    Memory.FOLD_TO = args.fold_to
    Memory.SUMMARY_AFTER = args.summary_after
    recall.TOP_K = args.top_k
    recall.CHUNK_TOKENS = args.chunk
    recall.FLOOR = args.floor
    print(
        f"ours: budget {args.budget}, recall budget {args.recall_budget}, fold to {args.fold_to}, "
        f"summary after {args.summary_after}, top-k {args.top_k}, chunk {args.chunk}, floor {args.floor}"
    )


if __name__ == "__main__":
    args = parse()
    lengths = [int(n) for n in args.turns.split(",")]
    if min(lengths) < 30:
        raise SystemExit(
            "--turns: at least 30, so that every fact is planted (turns 2-19) before it is asked"
        )
    tune(args)
    asyncio.run(main(lengths, args.seed, args))
