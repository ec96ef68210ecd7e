"""Memory: the window fits the model, old turns fold into a summary, estimates track usage."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.chat.memory import Memory, TokenCalibration
from core.errors import InvalidInput
from core.ports.records import ConversationKey
from tests.fakes.venice import FakeVenice
from tests.helpers import ask, message, stored_messages

CONTEXT = 2048
REPLY = 256


def add_tiny_model(venice: FakeVenice) -> None:
    tiny = copy.deepcopy(next(m for m in venice.models if m["id"] == "venice-uncensored"))
    tiny["id"] = "tiny"
    tiny["model_spec"]["availableContextTokens"] = CONTEXT
    if "context_length" in tiny:
        tiny["context_length"] = CONTEXT
    venice.models.append(tiny)


def estimated(messages: list[dict[str, Any]]) -> int:
    return sum(len(m["content"]) for m in messages) // 4


async def test_old_turns_fold_into_a_summary_and_every_request_fits(
    make_service: Any, venice: FakeVenice
) -> None:
    add_tiny_model(venice)
    venice.rate_limits = {"data": {"accessPermitted": True, "rateLimits": []}}
    async with make_service(
        default_chat_model="tiny", reply_max_tokens=REPLY, history_token_budget=1500, rate_limit_per_minute=0
    ) as service:
        for i in range(40):
            await ask(service, f"Fact {i}: " + "the quick brown fox jumps " * 14)
        rows = await stored_messages(service)
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
        await service.wait_idle()
        spent = await service.store.ledger.spending(await service.account_of(message("")), 0)
    bodies = [c.body for c in venice.calls_to("/chat/completions")]
    answers = [b for b in bodies if b.get("stream")]
    summaries = [b for b in bodies if not b.get("stream")]
    assert len(answers) == 40 and summaries, "a long conversation must be summarized"
    assert len(rows) == 80  # everything stays stored; the summary only shortens what is sent
    for body in answers:
        assert estimated(body["messages"]) + REPLY <= CONTEXT
    first_fold = summaries[0]["messages"][1]["content"]
    assert "Fact 0:" in first_fold and "Summary so far:\n(none yet)" in first_fold
    last = answers[-1]["messages"]
    assert last[1]["role"] == "system" and last[1]["content"].startswith("Summary of the earlier")
    assert not any(m["content"].startswith("Fact 0:") for m in last if m["role"] == "user")
    assert last[-1]["content"].startswith("Fact 39:")
    turns = [m for m in last[:-1] if m["role"] != "system"]
    assert turns[0]["role"] == "user" and turns[-1]["role"] == "assistant"  # whole turns only
    assert conversation.summary and conversation.summarized_upto > 0
    assert set(spent) >= {"chat", "summary"} and spent["summary"] > 0  # summaries are paid too
    if len(summaries) > 1:  # a later fold builds on the earlier summary
        assert conversation.summary.startswith("Summary:")
        assert "Summary so far:\nSummary:" in summaries[1]["messages"][1]["content"]


async def test_a_failed_summary_changes_nothing_and_is_retried_later(
    make_service: Any, venice: FakeVenice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Memory, "SUMMARY_AFTER", 1_000_000)  # none while the chat goes on
    async with make_service(history_token_budget=300) as service:
        for i in range(8):
            await ask(service, f"Fact {i}: " + "lorem ipsum dolor " * 20)
        await service.wait_idle()
        memory = service.memory
        conversation = await service.store.conversations.active(ConversationKey("test", "chat-1"))
        model = await service.venice.model("venice-uncensored")
        assert model is not None
        monkeypatch.setattr(Memory, "SUMMARY_AFTER", 500)
        before = (conversation.summary, conversation.summarized_upto)
        venice.fail("/chat/completions", 500)
        failed = await memory.upkeep(conversation, model, budget=300, recall=True)
        assert failed.summary is None
        assert (conversation.summary, conversation.summarized_upto) == before
        done = await memory.upkeep(conversation, model, budget=300, recall=True)
        assert done.summary is not None and conversation.summarized_upto > before[1]


async def test_reset_leaves_the_summary_behind(make_service: Any, venice: FakeVenice) -> None:
    add_tiny_model(venice)
    async with make_service(default_chat_model="tiny", reply_max_tokens=REPLY) as service:
        for i in range(10):
            await ask(service, f"Fact {i}: " + "lorem ipsum dolor " * 20)
        await ask(service, "/reset")
        await ask(service, "Fresh start")
    last = [c.body for c in venice.calls_to("/chat/completions") if c.body.get("stream")][-1]
    assert [m["role"] for m in last["messages"]] == ["system", "user"]


def test_calibration_follows_what_venice_counts() -> None:
    calibration = TokenCalibration()
    assert calibration.estimate("m", "x" * 400) == 100
    for _ in range(20):
        calibration.observe("m", estimated=calibration.estimate("m", "x" * 400), actual=150)
    assert 145 <= calibration.estimate("m", "x" * 400) <= 155
    assert calibration.estimate("other", "x" * 400) == 100  # per model


async def test_a_message_too_big_for_the_model_is_refused_before_calling_venice(
    make_service: Any, venice: FakeVenice
) -> None:
    add_tiny_model(venice)
    async with make_service(default_chat_model="tiny", reply_max_tokens=REPLY) as service:
        with pytest.raises(InvalidInput) as info:
            await ask(service, "word " * 2000)  # ~2,500 tokens for a 2,048-token model
        assert "more than tiny can take" in info.value.user_message and "/model" in info.value.user_message
        assert await stored_messages(service) == []
    assert venice.calls_to("/chat/completions") == []
