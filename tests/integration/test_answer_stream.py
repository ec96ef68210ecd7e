"""Venice's answer stream as a hostile or broken server sends it: line separators inside the
text, empty events, keep-alives, malformed events, a stream that never ends, an answer that never
stops. Through the real core, over HTTP, against the fake Venice server."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import Any

import pytest

from core.venice.errors import StreamTooSlow, StreamUnreadable
from tests.conftest import ROOT, TEST_KEY
from tests.fakes.venice import ChatScript, FakeVenice
from tests.fakes.venice_chat import KEEP_ALIVE, content_events, huge_answer
from tests.helpers import ask, message, stored_messages

TG = {"platform": "telegram", "user_id": "7"}


async def balance_of(service: Any) -> int:
    await service.wait_idle()  # answers are settled just after they are delivered
    return int(await service.store.ledger.balance(await service.account_of(message("", **TG))))


async def test_line_separators_inside_the_text_stay_in_the_answer(
    make_service: Any, venice: FakeVenice
) -> None:
    pieces = ["one\u2028two", " three\u2029four", " five\u0085six", " seven"]
    venice.script.append(ChatScript(raw=content_events(pieces)))
    async with make_service() as service:
        answer = await ask(service, "Separators")
        assert answer.text == "one\u2028two three\u2029four five\u0085six seven"
        assert not answer.reply.notices
        assert (await stored_messages(service))[1][2:] == (answer.text, 0)


async def test_empty_data_lines_and_keep_alive_comments_are_ignored(
    make_service: Any, venice: FakeVenice
) -> None:
    words = list(content_events(["Hello", " there,", " friend."]))
    raw = [KEEP_ALIVE, b"data:\n\n", words[0], b"data: \n\n", KEEP_ALIVE, *words[1:3], b":\n\n", *words[3:]]
    venice.script.append(ChatScript(raw=raw))
    async with make_service() as service:
        answer = await ask(service, "Hi")
        assert answer.text == "Hello there, friend."
        assert not answer.reply.notices  # a whole answer, not marked incomplete
        assert (await stored_messages(service))[1][3] == 0


MALFORMED = [
    b"data: 42\n\n",
    b'data: "just a string"\n\n',
    b"data: {broken json\n\n",
    b'data: {"choices": "not a list"}\n\n',
    b'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
    b'data: {"choices": [{"delta": {}}], "usage": {"prompt_tokens": "many"}}\n\n',
]


@pytest.mark.parametrize("event", MALFORMED, ids=lambda e: e.decode()[6:30])
async def test_a_malformed_event_before_any_text_is_an_apology_and_refunded(
    make_service: Any, venice: FakeVenice, event: bytes
) -> None:
    venice.script.append(ChatScript(raw=[event, *content_events(["never shown"])]))
    async with make_service(user_allowance_usd=1.0) as service:
        with pytest.raises(StreamUnreadable) as info:
            await ask(service, "Hello", **TG)
        said = info.value.user_message
        assert said.startswith("Venice sent part of its answer in a form the bot cannot read.")
        assert said.endswith("You were not charged.") and "Traceback" not in said
        assert await balance_of(service) == 1_000_000
        assert await stored_messages(service) == []
        assert "offline fake Venice" in (await ask(service, "Again", **TG)).text  # the next one is answered
        assert await service.store.ledger.check() == []


async def test_a_malformed_event_after_some_text_keeps_it_like_a_broken_answer(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(
        ChatScript(raw=[*content_events(["The start", " of it"], done=False), b"data: 42\n\n"])
    )
    async with make_service(user_allowance_usd=1.0) as service:
        answer = await ask(service, "Hello", **TG)
        assert answer.text == "The start of it"
        (notice,) = answer.reply.notices
        assert notice.text.startswith("Venice sent part of its answer in a form the bot cannot read.")
        assert "incomplete" in notice.text
        assert (await stored_messages(service))[1][2:] == ("The start of it", 1)
        assert 0 < 1_000_000 - await balance_of(service) < 1_000  # what arrived, estimated
        assert await service.store.ledger.check() == []


async def test_keep_alives_forever_end_at_the_deadline_and_the_next_message_is_answered(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(raw=itertools.repeat(KEEP_ALIVE), chunk_delay=0.02))
    async with make_service(user_allowance_usd=1.0, venice_timeout_seconds=0.5) as service:
        with pytest.raises(StreamTooSlow) as info:
            await ask(service, "Hello", **TG)
        said = info.value.user_message
        assert said.startswith(
            "Venice did not finish answering within 0.5 seconds, so the bot stopped waiting."
        )
        assert said.endswith("You were not charged.")
        assert await balance_of(service) == 1_000_000
        assert "offline fake Venice" in (await ask(service, "Again", **TG)).text
        assert await service.store.ledger.check() == []


async def test_text_then_keep_alives_forever_keeps_the_text_at_the_deadline(
    make_service: Any, venice: FakeVenice
) -> None:
    raw = itertools.chain(content_events(["Half", " an answer"], done=False), itertools.repeat(KEEP_ALIVE))
    venice.script.append(ChatScript(raw=raw, chunk_delay=0.02))
    async with make_service(user_allowance_usd=1.0, venice_timeout_seconds=0.5) as service:
        answer = await ask(service, "Hello", **TG)
        assert answer.text == "Half an answer"
        (notice,) = answer.reply.notices
        assert notice.text.startswith("Venice did not finish answering within 0.5 seconds")
        assert (await stored_messages(service))[1][2:] == ("Half an answer", 1)
        assert await balance_of(service) < 1_000_000
        assert await service.store.ledger.check() == []


async def test_a_huge_answer_is_cut_at_the_budget_and_charged_only_for_what_was_sent(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(raw=huge_answer()))
    async with make_service(user_allowance_usd=1.0, reply_max_tokens=64) as service:
        answer = await ask(service, "Talk forever", **TG)
        assert 64 * 4 <= len(answer.text) <= 64 * 6
        (notice,) = answer.reply.notices
        assert notice.text == "This answer was cut short: it reached the length limit (about 64 tokens)."
        charged = 1_000_000 - await balance_of(service)
        prices = next(m for m in venice.models if m["id"] == "venice-uncensored")["model_spec"]["pricing"]
        # At most the prompt (well under 1,000 tokens here) and the 64-token budget.
        most = (1_000 * prices["input"]["usd"] + 64 * prices["output"]["usd"]) / 1_000_000
        assert 0 < charged <= most * 1_000_000 + 1
        assert (await stored_messages(service))[1][3] == 1  # kept, marked incomplete
        assert "offline fake Venice" in (await ask(service, "Again", **TG)).text
        assert await service.store.ledger.check() == []


async def test_venices_usage_past_the_budget_stops_the_answer_and_its_cost_is_not_charged(
    make_service: Any, venice: FakeVenice
) -> None:
    def chunk(text: str, completion: int) -> bytes:
        body = {
            "choices": [{"index": 0, "delta": {"content": text}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": completion},
            "cost": {"usd": 5.0, "diem": 0},  # Venice's figure for a runaway answer
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    raw = [chunk("Short", 10), chunk(" and long", 500), *content_events([" never read"])]
    venice.script.append(ChatScript(raw=raw))
    async with make_service(user_allowance_usd=1.0, reply_max_tokens=64) as service:
        answer = await ask(service, "Go", **TG)
        assert answer.text == "Short and long"
        assert "cut short" in answer.reply.notices[0].text
        assert 0 < 1_000_000 - await balance_of(service) < 1_000
        assert await service.store.ledger.check() == []


PEAK_MEMORY_SCRIPT = """
import asyncio, json, sys
from bots.bootstrap import build_service
from core.settings import Settings
from tests.helpers import ask

async def main() -> None:
    base_url, database, key = sys.argv[1:4]
    settings = Settings(_env_file=None, venice_api_key=key, venice_base_url=base_url,
                        database_url=database, default_chat_model="venice-uncensored")
    async with build_service(settings) as service:
        lengths = [len((await ask(service, question)).text) for question in ("chunks", "one event")]
    # VmHWM, this process's own peak: ru_maxrss carries over the forking test run's (Linux).
    peak = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))) / 1024
    print(json.dumps({"lengths": lengths, "peak_mb": peak}))

asyncio.run(main())
"""


async def test_a_5_mb_answer_keeps_the_bots_memory_under_300_mb(venice: FakeVenice, tmp_path: Any) -> None:
    venice.script.append(ChatScript(raw=huge_answer()))  # in 5,000-character chunks
    venice.script.append(ChatScript(raw=huge_answer(piece=5_000_000)))  # one 5 MB event
    # The bot in its own process (the fake Venice serves it from this one): its peak is its own.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PEAK_MEMORY_SCRIPT,
        venice.base_url,
        f"sqlite:///{tmp_path}/bot.db",
        TEST_KEY,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    measured = json.loads(out.decode().strip().splitlines()[-1])
    assert all(2048 * 4 <= n <= 2048 * 6 for n in measured["lengths"]), measured  # both cut at the budget
    assert measured["peak_mb"] < 300, measured
    print(f"peak memory for a 5 MB answer: {measured['peak_mb']:.0f} MB")
