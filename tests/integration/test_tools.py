"""Tools in conversation through the core: what is offered to whom, the image drawn mid-turn and
paid, the round limit, the cost ceiling and its buttons, failures told to the model."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from core.app import App
from core.errors import InvalidInput, PermissionDenied
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_chat import ChatScript, call_then_answer, conversation_errors, offered_tools
from tests.helpers import ask, message

TOOL_MODEL = "llama-3.3-70b"  # supportsFunctionCalling in the fake catalogue
PLAIN_MODEL = "venice-uncensored"  # does not call functions
ALICE = {"platform": "telegram", "user_id": "1001", "user_name": "Alice", "chat_id": "1001"}


def chat_bodies(venice: FakeVenice) -> list[dict[str, Any]]:
    return [call.body for call in venice.calls_to("/chat/completions")]


def tool_results(body: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in body["messages"] if m.get("role") == "tool"]


async def charges(service: App, owner: str = "user:1") -> dict[str, int]:
    """What each feature cost the user (settled), from the ledger."""
    await service.wait_idle()
    await service.store.ledger.flush()
    return await service.store.ledger.spending(owner, 0)


async def test_a_model_without_function_calling_is_never_sent_tools(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    async with make_service(default_chat_model=PLAIN_MODEL) as service:
        await ask(service, "Draw me a cat, please", **ALICE)
    bodies = chat_bodies(venice)
    assert bodies and all("tools" not in body for body in bodies)


async def test_a_model_draws_mid_conversation_and_the_picture_comes_with_the_answer_and_is_paid(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer(
        "generate_image", {"prompt": "a tabby cat on a red sofa"}, "Here is your cat."
    )
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Draw me a cat, please", **ALICE)
        spent = await charges(service)
    assert answer.text.startswith("Here is your cat.")
    assert [a.kind for a in answer.reply.attachments] == ["image"]
    assert any("🎨 drawing: a tabby cat on a red sofa" in n.text for n in answer.reply.notices)
    image_call = venice.calls_to("/image/generate")[0].body
    assert image_call["prompt"] == "a tabby cat on a red sofa"
    assert (
        spent.get("image", 0) > 0 and spent.get("chat", 0) > 0
    )  # the picture at its price, the answer at its own
    bodies = chat_bodies(venice)
    assert len(bodies) == 2
    assert {"generate_image", "web_search", "read_url", "speak", "recall", "current_time"} <= set(
        offered_tools(bodies[0])
    )
    assert conversation_errors(bodies[1]) == []
    assert "will be shown to the user" in tool_results(bodies[1])[0]


async def test_tools_off_in_a_chat_sends_none(make_service: Callable[..., Any], venice: FakeVenice) -> None:
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        reply = await service.handle_message(message("/tools off", **ALICE))
        assert "Tools are off" in reply.text  # type: ignore[union-attr]
        await ask(service, "What time is it?", **ALICE)
    assert "tools" not in chat_bodies(venice)[-1]


async def test_the_round_limit_holds_and_the_last_round_must_answer(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    def always_calls(body: dict[str, Any]) -> ChatScript:
        if body.get("tool_choice") == "none":
            return ChatScript(content="Enough clocks: it is late.")
        return ChatScript(tool_calls=[{"name": "current_time", "arguments": {}}])

    venice.responder = always_calls
    async with make_service(default_chat_model=TOOL_MODEL, max_tool_rounds=2) as service:
        answer = await ask(service, "What time is it? Check again and again.", **ALICE)
    bodies = chat_bodies(venice)
    assert len(bodies) == 3  # two rounds of calls, then the answer
    assert [b.get("tool_choice") for b in bodies] == ["auto", "auto", "none"]
    assert answer.text == "Enough clocks: it is late."
    assert len(tool_results(bodies[-1])) == 2
    assert all(conversation_errors(b) == [] for b in bodies)


async def test_a_failing_tool_is_told_to_the_model_and_nothing_is_charged_for_it(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.fail("/augment/search", 500, times=10)
    venice.responder = call_then_answer("web_search", {"query": "venice ai news"}, "Search failed: {result}")
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Any news about Venice AI?", **ALICE)
        spent = await charges(service)
    told = tool_results(chat_bodies(venice)[-1])[0]
    assert told.startswith("Error:")
    assert "Traceback" not in told and "Traceback" not in answer.text
    assert answer.text.startswith("Search failed: Error:")
    assert spent.get("search", 0) == 0


async def test_a_private_address_is_refused_before_venice_is_asked_to_read_it(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("read_url", {"url": "http://127.0.0.1:8080/admin"}, "{result}")
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Read my router's page", **ALICE)
    assert venice.calls_to("/augment/scrape") == []
    assert "not a public address" in answer.text


async def test_a_search_result_reaches_the_model_and_is_paid_once(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("web_search", {"query": "venice ai"}, "Found: {result}")
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Search the web for Venice AI", **ALICE)
        spent = await charges(service)
    assert len(venice.calls_to("/augment/search")) == 1
    assert "[1]" in answer.text and "http" in answer.text
    assert spent["search"] == 10_000  # $0.01 a search


async def test_past_the_ceiling_the_user_is_asked_and_declining_costs_nothing(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("generate_image", {"prompt": "a castle"}, "I asked first: {result}")
    async with make_service(default_chat_model=TOOL_MODEL, tool_cost_ceiling_usd=0) as service:
        answer = await ask(service, "Draw a castle", **ALICE)
        assert venice.calls_to("/image/generate") == []
        assert answer.reply.attachments == ()
        commands = [c.command for c in answer.reply.choices]
        confirm = next(c for c in commands if c.startswith("/toolconfirm "))
        cancel = next(c for c in commands if c.startswith("/toolcancel "))
        assert confirm.split()[1] == cancel.split()[1]
        # Only the asker may answer the button.
        with pytest.raises(PermissionDenied, match="Only the person who asked"):
            await ask(service, cancel, **{**ALICE, "user_id": "2002", "user_name": "Bob"})
        declined = await ask(service, cancel, **ALICE)
        assert "Nothing was charged" in declined.text
        with pytest.raises(InvalidInput, match="expired or was answered"):
            await ask(service, confirm, **ALICE)
        spent = await charges(service)
    assert venice.calls_to("/image/generate") == []
    assert "image" not in spent


async def test_past_the_ceiling_a_yes_draws_the_picture_and_charges_it(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("generate_image", {"prompt": "a castle"}, "I asked first.")
    async with make_service(default_chat_model=TOOL_MODEL, tool_cost_ceiling_usd=0) as service:
        answer = await ask(service, "Draw a castle", **ALICE)
        confirm = next(c.command for c in answer.reply.choices if c.command.startswith("/toolconfirm "))
        drawn = await ask(service, confirm, **ALICE)
        spent = await charges(service)
    assert [a.kind for a in drawn.reply.attachments] == ["image"]
    assert spent["image"] > 0


async def test_speak_answers_with_a_voice_note_too(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("speak", {}, "Hello there, spoken aloud.")
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Say hello out loud", **ALICE)
        spent = await charges(service)
    assert answer.text.startswith("Hello there, spoken aloud.")
    assert [a.kind for a in answer.reply.attachments] == ["voice"]
    assert spent["speech"] > 0
    assert venice.calls_to("/audio/speech")[0].body["input"].startswith("Hello there, spoken aloud.")


async def test_current_time_is_told_in_the_chats_time_zone(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer("current_time", {}, "{result}")
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        with pytest.raises(InvalidInput, match="not a time zone"):
            await ask(service, "/timezone Mars/Olympus", **ALICE)
        assert "Europe/Berlin" in (await ask(service, "/timezone Europe/Berlin", **ALICE)).text
        answer = await ask(service, "What time is it?", **ALICE)
    assert re.search(r"in Europe/Berlin \(UTC\+0[12]:00\)", answer.text), answer.text  # CET or CEST


async def test_the_answer_streams_before_and_after_a_call(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    def respond(body: dict[str, Any]) -> ChatScript:
        if any(m.get("role") == "tool" for m in body["messages"]):
            return ChatScript(content="It is late in Berlin.")
        return ChatScript(
            content="Let me check the clock.", tool_calls=[{"name": "current_time", "arguments": {}}]
        )

    venice.responder = respond
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "What time is it?", **ALICE)
    assert answer.text.startswith("Let me check the clock.\n\nIt is late in Berlin.")
    streamed = "".join(answer.deltas)
    assert streamed.index("Let me check") < streamed.index(
        "It is late"
    )  # both rounds reached the user as they came


async def test_make_music_offers_the_quote_with_its_button_and_makes_nothing_yet(
    make_service: Callable[..., Any], venice: FakeVenice
) -> None:
    venice.responder = call_then_answer(
        "make_music", {"prompt": "a calm piano piece", "duration": 30}, "Press the button if you like."
    )
    async with make_service(default_chat_model=TOOL_MODEL) as service:
        answer = await ask(service, "Compose me a calm piano piece", **ALICE)
        spent = await charges(service)
    assert len(venice.calls_to("/audio/quote")) == 1
    assert venice.calls_to("/audio/queue") == []  # nothing made before the press
    commands = [c.command for c in answer.reply.choices]
    assert any(c.startswith("/musicconfirm ") for c in commands) and any(
        c.startswith("/musiccancel ") for c in commands
    )
    assert "$" in tool_results(chat_bodies(venice)[-1])[0]  # the model knows the price
    assert "music" not in spent
