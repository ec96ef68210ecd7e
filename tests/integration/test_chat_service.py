"""The core end to end: messages in, streamed answers out, memory in SQLite, fake Venice over HTTP."""

from __future__ import annotations

import asyncio
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput, PermissionDenied, UnknownCommand, UsageError
from core.events import Reply
from core.venice.errors import InsufficientBalance, ServerError
from tests.conftest import TEST_KEY
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask, message, stored_messages


def chat_bodies(venice: FakeVenice) -> list[dict[str, Any]]:
    return [c.body for c in venice.calls_to("/chat/completions")]


async def test_a_message_gets_a_streamed_answer_and_the_turn_is_stored(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="Hello Alice, nice to meet you today."))
    async with make_service() as service:
        answer = await ask(service, "Hi, I am Alice")
        assert answer.text == "Hello Alice, nice to meet you today."
        assert "".join(answer.deltas) == answer.text
        assert await stored_messages(service) == [
            (1, "user", "Hi, I am Alice", 0),
            (1, "assistant", "Hello Alice, nice to meet you today.", 0),
        ]
        await ask(service, "What is my name?")
        database_file = service.store.conversations._db.path
    raw = b"".join(p.read_bytes() for p in Path(database_file).parent.glob("bot.db*"))
    assert b"Hi, I am Alice" in raw  # the conversation is stored…
    assert TEST_KEY.encode() not in raw  # …the API key never is
    second = chat_bodies(venice)[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == "Hi, I am Alice"
    assert second[-1]["content"] == "What is my name?"


async def test_memory_survives_a_restart(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        await ask(service, "Remember the word pineapple")
    async with make_service() as service:
        await ask(service, "Which word?")
    contents = [m["content"] for m in chat_bodies(venice)[1]["messages"]]
    assert "Remember the word pineapple" in contents


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01\x02", "empty"),
        ("x" * 100_000, "100,000 characters long; the limit is 16,000"),
        ("/frobnicate", "Unknown command /frobnicate"),
        ("/model no-such-model", "no text model named 'no-such-model'"),
        ("/websearch maybe", "/websearch takes off, on or auto, not 'maybe'."),
    ],
)
async def test_bad_input_gets_a_clear_reply_and_stores_nothing(
    make_service: Any, venice: FakeVenice, text: str, fragment: str
) -> None:
    async with make_service() as service:
        with pytest.raises((InvalidInput, UnknownCommand, UsageError)) as info:
            await ask(service, text)
        assert fragment in info.value.user_message
        assert await stored_messages(service) == []
    assert chat_bodies(venice) == []


async def test_control_characters_and_invalid_utf8_are_cleaned_not_refused(
    make_service: Any, venice: FakeVenice
) -> None:
    raw = b"caf\xe9 \x1b[31mred\x00".decode("utf-8", "surrogateescape")
    async with make_service() as service:
        await ask(service, raw)
        stored = await stored_messages(service)
    assert stored[0][2] == "caf\ufffd [31mred"
    assert chat_bodies(venice)[0]["messages"][-1]["content"] == "caf\ufffd [31mred"


async def test_a_stream_cut_off_half_way_keeps_the_partial_marked_and_tells_the_user(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.append(ChatScript(content="alpha beta gamma delta epsilon zeta eta theta", cut_after=2))
    async with make_service() as service:
        answer = await ask(service, "Tell me the Greek letters")
        assert answer.text and answer.text != "alpha beta gamma delta epsilon zeta eta theta"
        assert "".join(answer.deltas) == answer.text
        assert any("incomplete" in n.text for n in answer.reply.notices)
        rows = await stored_messages(service)
        assert rows == [(1, "user", "Tell me the Greek letters", 0), (1, "assistant", answer.text, 1)]
        await ask(service, "Go on")
    assert len(chat_bodies(venice)) == 2  # no silent retry that would store the answer twice
    sent = chat_bodies(venice)[1]["messages"]
    assert sent[2]["content"].endswith("[…answer cut off]")


async def test_a_venice_error_before_the_answer_stores_nothing(make_service: Any, venice: FakeVenice) -> None:
    venice.fail("/chat/completions", 402)
    async with make_service() as service:
        with pytest.raises(InsufficientBalance) as info:
            await ask(service, "Hello")
        assert "out of credit" in info.value.user_message
        assert await stored_messages(service) == []


async def test_reset_starts_a_new_conversation(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        await ask(service, "My secret is 42")
        reply = await ask(service, "/reset")
        assert "new conversation" in reply.text
        await ask(service, "What is my secret?")
        rows = await stored_messages(service)
    assert [m["content"] for m in chat_bodies(venice)[1]["messages"]][1:] == ["What is my secret?"]
    assert {r[0] for r in rows} == {1, 2}  # the old conversation is kept, not used


async def test_conversations_are_keyed_by_chat_and_thread(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        await ask(service, "in topic one", thread_id="1")
        await ask(service, "in topic two", thread_id="2")
        await ask(service, "in another chat", chat_id="chat-2")
        await ask(service, "again topic one", thread_id="1")
    bodies = chat_bodies(venice)
    assert [m["content"] for m in bodies[1]["messages"][1:]] == ["in topic two"]
    assert [m["content"] for m in bodies[2]["messages"][1:]] == ["in another chat"]
    assert "in topic one" in [m["content"] for m in bodies[3]["messages"]]


async def test_group_memory_shared_or_per_user(make_service: Any, venice: FakeVenice) -> None:
    group = {"is_direct": False, "chat_id": "group"}
    async with make_service() as service:
        await ask(service, "I like tea", **group)
        await ask(service, "I like coffee", user_id="bob", user_name="Bob", **group)
        shared = [m["content"] for m in chat_bodies(venice)[1]["messages"]]
        assert "[Alice] I like tea" in shared  # speakers are named in a shared chat
        with pytest.raises(PermissionDenied):
            await ask(service, "/memory per-user", **group)
        await ask(service, "/memory per-user", is_chat_admin=True, **group)
        await ask(service, "Alice again", **group)
        await ask(service, "Bob again", user_id="bob", user_name="Bob", **group)
    alice, bob = chat_bodies(venice)[2]["messages"], chat_bodies(venice)[3]["messages"]
    assert [m["content"] for m in alice[1:]] == ["Alice again"]
    assert [m["content"] for m in bob[1:]] == ["Bob again"]


async def test_a_reply_to_a_message_is_quoted(make_service: Any, venice: FakeVenice) -> None:
    from core.events import RepliedMessage

    async with make_service() as service:
        await ask(service, "Why?", reply_to=RepliedMessage("The sky is blue.", from_bot=True))
    assert chat_bodies(venice)[0]["messages"][-1]["content"] == "> The sky is blue.\n\nWhy?"


async def test_one_slow_conversation_does_not_hold_up_another(make_service: Any, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="slow " * 6, chunk_delay=0.15))
    venice.script.append(ChatScript(content="fast answer"))
    finished: list[str] = []

    async def run(service: Any, chat: str, text: str) -> None:
        await ask(service, text, chat_id=chat)
        finished.append(chat)

    async with make_service() as service:
        slow = asyncio.create_task(run(service, "slow-chat", "first"))
        while not venice.calls_to("/chat/completions"):
            await asyncio.sleep(0.01)
        await run(service, "fast-chat", "second")
        await slow
    assert finished == ["fast-chat", "slow-chat"]


async def test_messages_within_one_conversation_keep_their_order(
    make_service: Any, venice: FakeVenice
) -> None:
    for i in range(3):
        venice.script.append(ChatScript(content=f"answer {i}", chunk_delay=0.02))
    async with make_service() as service:
        await asyncio.gather(*(ask(service, f"question {i}") for i in range(3)))
        rows = await stored_messages(service)
    assert [r[2] for r in rows] == [
        "question 0",
        "answer 0",
        "question 1",
        "answer 1",
        "question 2",
        "answer 2",
    ]
    third = [m["content"] for m in chat_bodies(venice)[2]["messages"]]
    assert third[1:] == ["question 0", "answer 0", "question 1", "answer 1", "question 2"]


async def test_web_search_sends_the_setting_and_numbers_the_sources(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        answer_text = (await ask(service, "/websearch on")).text
        assert "now on" in answer_text
        no_search = await ask(service, "Without search?")  # the default model cannot search
        assert any("cannot search the web" in n.text for n in no_search.reply.notices)
        await ask(service, "/model llama-3.3-70b")
        venice.script.append(
            ChatScript(
                content="Paris is the capital[REF]0[/REF] and old^2^.",
                citations=[
                    {"title": "Paris - Wikipedia", "url": "https://en.wikipedia.org/wiki/Paris"},
                    {"title": "History", "url": "https://example.org/history"},
                ],
            )
        )
        answer = await ask(service, "Capital of France?")
    assert answer.text == "Paris is the capital[1] and old[2]."
    assert [c.url for c in answer.reply.citations] == [
        "https://en.wikipedia.org/wiki/Paris",
        "https://example.org/history",
    ]
    assert chat_bodies(venice)[0]["venice_parameters"]["enable_web_search"] == "off"
    params = chat_bodies(venice)[1]["venice_parameters"]
    assert params["enable_web_search"] == "on" and params["enable_web_citations"] is True


async def test_web_search_on_a_model_that_cannot_search_says_so_and_asks_venice_for_no_search(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        turned_on = (await ask(service, "/websearch on")).text  # venice-uncensored cannot search
        assert turned_on.startswith("Web search is now on, but venice-uncensored cannot search the web")
        assert "Every answer searches" not in turned_on
        assert "pick one that can with /model (llama-3.3-70b, qwen3-vl-235b-a22b)" in turned_on
        settings = (await ask(service, "/settings")).text
        assert "Web search: on, but venice-uncensored cannot search the web" in settings
        assert "venice-uncensored cannot search" in (await ask(service, "/websearch")).text
        answer = await ask(service, "Weather today?")
        assert any("cannot search the web" in n.text for n in answer.reply.notices)
        assert not answer.reply.citations and "Sources" not in answer.text
        await ask(service, "/model llama-3.3-70b")
        assert "Web search: on\n" in (await ask(service, "/settings")).text
        assert "Every answer searches the web" in (await ask(service, "/websearch on")).text
    params = chat_bodies(venice)[0]["venice_parameters"]
    assert params["enable_web_search"] == "off" and "enable_web_citations" not in params


async def test_links_are_read_up_to_three(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        await ask(service, "Summarize https://example.org/a please")
        four = " ".join(f"https://example.org/{i}" for i in range(4))
        answer = await ask(service, f"Compare {four}")
        await ask(service, "/scrape off")
        await ask(service, "And https://example.org/b?")
    bodies = chat_bodies(venice)
    assert bodies[0]["venice_parameters"].get("enable_web_scraping") is True
    assert "enable_web_scraping" not in bodies[1]["venice_parameters"]
    assert any("at most 3" in n.text for n in answer.reply.notices)
    assert "enable_web_scraping" not in bodies[2]["venice_parameters"]


async def test_model_list_switch_and_persistence(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        listing = await ask(service, "/model")
        assert "Current model: venice-uncensored" in listing.text
        assert "llama-3.3-70b" in listing.text
        assert any(c.command == "/model llama-3.3-70b" for c in listing.reply.choices)
        with pytest.raises(PermissionDenied):
            await ask(service, "/model llama-3.3-70b", is_direct=False)
        assert "llama-3.3-70b" in (await ask(service, "/model LLAMA-3.3-70B")).text
    async with make_service() as service:
        await ask(service, "Hi")
        assert "Model: llama-3.3-70b" in (await ask(service, "/settings")).text
    assert chat_bodies(venice)[0]["model"] == "llama-3.3-70b"


async def test_system_prompt_per_chat(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        shown = await ask(service, "/system")
        assert "default system prompt" in shown.text
        await ask(service, "/system You are a pirate.")
        await ask(service, "Hello")
        await ask(service, "/system default")
        await ask(service, "Hello again")
        with pytest.raises(InvalidInput, match="limit"):
            await ask(service, "/system " + "x" * 5000)
    bodies = chat_bodies(venice)
    assert bodies[0]["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert bodies[1]["messages"][0]["content"] != "You are a pirate."


async def test_help_lists_the_commands(make_service: Any) -> None:
    async with make_service() as service:
        text = (await ask(service, "/help")).text
    for name in ("/help", "/reset", "/model", "/websearch", "/system", "/settings"):
        assert name in text


async def test_a_command_sent_without_its_required_argument_says_what_it_needs_and_shows_an_example(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        needy = [c for c in service.commands if not c.hidden and any(a.required for a in c.args)]
        assert {"imagine", "edit", "speak", "video", "grant", "setallowance"} <= {c.name for c in needy}
        for command in needy:
            with pytest.raises(UsageError) as info:
                await ask(service, f"/{command.name}")
            text = info.value.user_message
            assert text.startswith(f"/{command.name} needs ") and f". Example: /{command.name} " in text
            assert " needs prompt" not in text and " needs text" not in text
            example = text.split("Example: ", 1)[1].split("\n", 1)[0]
            assert service.commands.parse(example)[0] is command  # the example is itself valid
        with pytest.raises(UsageError) as info:
            await ask(service, "/imagine")
        assert info.value.user_message.startswith(
            "/imagine needs a prompt (what the image shows). Example: /imagine a red fox in the snow\n"
        )
        with pytest.raises(UsageError, match="^/grant needs an amount"):
            await ask(service, "/grant telegram:7")
    assert not [c for c in venice.calls if c.method == "POST"]  # nothing was asked of Venice


async def test_venice_system_prompt_is_off_by_default_and_a_setting(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await ask(service, "Hello")
    async with make_service(include_venice_system_prompt=True) as service:
        await ask(service, "Hello")
    flags = [b["venice_parameters"]["include_venice_system_prompt"] for b in chat_bodies(venice)]
    assert flags == [False, True]


async def test_a_model_that_venice_no_longer_lists_falls_back_with_a_notice(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await ask(service, "/model llama-3.3-70b")
        venice.models[:] = [m for m in venice.models if m["id"] != "llama-3.3-70b"]
        service.venice._models_cache.clear()
        answer = await ask(service, "Hello")
    assert any("no longer offered" in n.text for n in answer.reply.notices)
    assert chat_bodies(venice)[0]["model"] == "venice-uncensored"


async def test_adapters_with_native_commands_run_them_by_name(make_service: Any) -> None:
    async with make_service() as service:
        reply = await service.run_command(message(""), "websearch", "AUTO")
        assert "now auto" in reply.text
        assert "Web search: auto" in (await service.run_command(message(""), "settings")).text
        with pytest.raises(UsageError):
            await service.run_command(message(""), "websearch", "sometimes")
        with pytest.raises(UnknownCommand):
            await service.run_command(message(""), "nope")


async def test_retry_regenerates_the_last_answer_and_replaces_it(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.script.extend(
        [ChatScript(content="first"), ChatScript(content="second try"), ChatScript(content="third")]
    )
    async with make_service() as service:
        with pytest.raises(InvalidInput, match="no answer to regenerate"):
            await ask(service, "/retry")
        answer = await ask(service, "Tell me a joke")
        assert answer.reply.choices[0].command == "/retry"  # the Regenerate button
        again = await ask(service, "/retry")
        assert again.text == "second try"
        assert [r[2] for r in await stored_messages(service)] == ["Tell me a joke", "second try"]
        await ask(service, "Another")
    bodies = chat_bodies(venice)
    assert [m["content"] for m in bodies[1]["messages"][1:]] == ["Tell me a joke"]  # old answer left out
    assert [m["content"] for m in bodies[2]["messages"][1:]] == ["Tell me a joke", "second try", "Another"]


async def test_a_failed_retry_keeps_the_old_answer(make_service: Any, venice: FakeVenice) -> None:
    async with make_service() as service:
        first = await ask(service, "Hello")
        venice.fail("/chat/completions", 500)
        with pytest.raises(ServerError) as info:
            await ask(service, "/retry")
        assert "internal error" in info.value.user_message
        assert [r[2] for r in await stored_messages(service)] == ["Hello", first.text]


async def test_status_is_for_bot_admins(make_service: Any) -> None:
    async with make_service(admin_user_ids="telegram:42") as service:
        await ask(service, "Hello", platform="telegram", user_id="7")
        with pytest.raises(PermissionDenied):
            await ask(service, "/status", platform="telegram", user_id="7")
        assert "/status" not in (await ask(service, "/help", platform="telegram", user_id="7")).text
        assert "/status" in (await ask(service, "/help", platform="telegram", user_id="42")).text
        text = (await ask(service, "/status", platform="telegram", user_id="42")).text
    assert (
        "Venice requests left this minute" in text and "Stored: 1 user, 1 conversation, 2 messages." in text
    )


async def test_turns_of_one_chat_run_in_the_order_they_arrived(make_service: Any, venice: FakeVenice) -> None:
    """Even when the first message's task gets going last."""
    async with make_service() as service:
        streams = [await service.handle_message(message(f"m{i}")) for i in range(5)]
        for stream in reversed(streams):
            assert not isinstance(stream, Reply)
        await asyncio.gather(*(s.reply() for s in streams if not isinstance(s, Reply)))
        rows = await stored_messages(service)
    assert [r[2] for r in rows if r[1] == "user"] == ["m0", "m1", "m2", "m3", "m4"]


async def test_requests_carry_the_installed_version_in_the_user_agent(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await ask(service, "Hello")
    agent = venice.calls_to("/chat/completions")[0].headers["user-agent"]
    assert agent.startswith(f"venice-bots/{metadata.version('venice-bots')} ")
