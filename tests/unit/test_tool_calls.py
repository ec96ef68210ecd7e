"""Function calls streamed in fragments, put back together whatever order and cut they come in."""

from __future__ import annotations

import json

import pytest

from core.venice.tool_calls import ToolCallAssembler, assemble, assistant_message, tool_message
from core.venice.types import AssembledCall, ChatDelta, ChatRequest, ModelInfo, ToolCallDelta


def fragments(data: list[dict[str, object]]) -> tuple[ToolCallDelta, ...]:
    return ToolCallDelta.parse_list(data)


def test_a_call_whose_arguments_are_cut_anywhere_is_whole_again() -> None:
    arguments = json.dumps({"query": "venice ai, “news”", "limit": 3})
    assembler = ToolCallAssembler()
    assembler.feed(ChatDelta(content="Let me look that up. "))  # text before the call
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "web_search", "arguments": ""},
    }
    assembler.feed(ChatDelta(tool_calls=fragments([first])))
    # Cut inside a key, a string and the escape of a non-ASCII character.
    pieces = [arguments[:1], arguments[1:7], arguments[7:8], arguments[8:30], arguments[30:]]
    for piece in pieces:
        assembler.feed(ChatDelta(tool_calls=fragments([{"index": 0, "function": {"arguments": piece}}])))
    assembler.feed(ChatDelta(finish_reason="tool_calls"))
    [call] = assembler.calls()
    assert call == AssembledCall("call_1", "web_search", arguments)
    assert call.arguments() == {"query": "venice ai, “news”", "limit": 3}


def test_interleaved_calls_are_told_apart_by_index() -> None:
    assembler = ToolCallAssembler()
    stream = [
        {"index": 0, "id": "a", "type": "function", "function": {"name": "web_search", "arguments": '{"qu'}},
        {"index": 1, "id": "b", "type": "function", "function": {"name": "read_url", "arguments": '{"url":'}},
        {"index": 0, "function": {"arguments": 'ery": "cats"}'}},
        {"index": 1, "function": {"arguments": ' "https://example.com"}'}},
    ]
    for item in stream:
        assembler.feed(ChatDelta(tool_calls=fragments([item])))
    calls = assembler.calls()
    assert [(c.id, c.name) for c in calls] == [("a", "web_search"), ("b", "read_url")]
    assert [c.arguments() for c in calls] == [{"query": "cats"}, {"url": "https://example.com"}]


def test_a_call_without_an_id_gets_one_that_stays_the_same_and_differs_from_the_others() -> None:
    assembler = ToolCallAssembler()
    for index in (0, 1):
        assembler.add(ToolCallDelta(index=index, name="current_time"))
        assembler.add(ToolCallDelta(index=index, arguments="{}"))
    first, second = assembler.calls()
    assert first.id and second.id and first.id != second.id
    assert [c.id for c in assembler.calls()] == [first.id, second.id]  # stable


def test_an_id_that_comes_late_is_kept() -> None:
    assembler = ToolCallAssembler()
    assembler.add(ToolCallDelta(index=0, name="recall"))
    assembler.add(ToolCallDelta(index=0, id="call_late", arguments='{"q": 1}'))
    assert assembler.calls()[0].id == "call_late"


def test_fragments_without_an_index_continue_the_last_call_or_start_one_with_a_new_id() -> None:
    calls = assemble(
        [
            ToolCallDelta(id="x", name="web_search", arguments='{"query":'),
            ToolCallDelta(arguments=' "a"}'),
            ToolCallDelta(id="y", name="read_url", arguments='{"url": "https://e.com"}'),
            ToolCallDelta(id="x"),  # a repeated id goes back to its call
        ]
    )
    assert [(c.id, c.name, c.arguments()) for c in calls] == [
        ("x", "web_search", {"query": "a"}),
        ("y", "read_url", {"url": "https://e.com"}),
    ]


def test_a_name_repeated_on_every_fragment_is_not_doubled() -> None:
    calls = assemble(
        [
            ToolCallDelta(index=0, id="c", name="speak", arguments='{"text":'),
            ToolCallDelta(index=0, name="speak", arguments=' "hi"}'),
        ]
    )
    assert calls[0].name == "speak" and calls[0].arguments() == {"text": "hi"}


def test_arguments_that_are_not_json_are_kept_raw() -> None:
    [call] = assemble([ToolCallDelta(index=0, id="c", name="web_search", arguments="{query: cats")])
    assert call.arguments_json == "{query: cats"
    assert call.arguments() is None
    [listed] = assemble([ToolCallDelta(index=0, id="d", name="web_search", arguments="[1, 2]")])
    assert listed.arguments() is None  # JSON, but not an object


def test_no_arguments_count_as_an_empty_object_and_are_sent_back_as_one() -> None:
    [call] = assemble([ToolCallDelta(index=0, id="c", name="current_time")])
    assert call.arguments() == {}
    assert call.as_json()["function"]["arguments"] == "{}"


def test_a_fragment_that_never_names_its_function_is_dropped() -> None:
    calls = assemble([ToolCallDelta(index=0, arguments="{}"), ToolCallDelta(index=1, id="k", name="recall")])
    assert [c.name for c in calls] == ["recall"]


def test_arguments_sent_as_an_object_are_read_as_their_json() -> None:
    [fragment] = fragments([{"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": 1}}}])
    assert json.loads(fragment.arguments) == {"a": 1}


@pytest.mark.parametrize(
    "data",
    ["not a list", [1], [{"function": "web_search"}], [{"function": {"name": "f", "arguments": 3}}]],
)
def test_tool_calls_of_a_wrong_shape_are_refused(data: object) -> None:
    with pytest.raises(TypeError):
        ToolCallDelta.parse_list(data)


def test_a_whole_message_gives_each_item_its_own_call_even_without_index_or_id() -> None:
    items = [{"function": {"name": "a", "arguments": "{}"}}, {"function": {"name": "b", "arguments": "{}"}}]
    assert [c.name for c in assemble(ToolCallDelta.parse_list(items, whole=True))] == ["a", "b"]


def test_calls_and_results_go_back_as_messages_in_the_openai_shape() -> None:
    call = AssembledCall("call_1", "web_search", '{"query": "x"}')
    assert assistant_message("", [call]) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "web_search", "arguments": '{"query": "x"}'},
            }
        ],
    }
    assert tool_message("call_1", "3 results") == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "3 results",
    }


def test_a_request_with_tools_offers_them_with_tool_choice_auto_and_one_without_sends_neither() -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    messages = ({"role": "user", "content": "hi"},)
    body = json.loads(ChatRequest("m", messages, tools=(tool,)).encode(stream=True))
    assert body["tools"] == [tool] and body["tool_choice"] == "auto"
    plain = json.loads(ChatRequest("m", messages).encode(stream=True))
    assert "tools" not in plain and "tool_choice" not in plain


def test_the_function_calling_flag_is_read_from_the_models_capabilities() -> None:
    def info(flag: object) -> ModelInfo:
        return ModelInfo.from_json(
            {"id": "m", "model_spec": {"capabilities": {"supportsFunctionCalling": flag}}}
        )

    assert info(True).supports_function_calling is True
    assert info(False).supports_function_calling is False
    assert ModelInfo.from_json({"id": "m", "model_spec": {}}).supports_function_calling is False


def test_calls_that_all_come_with_index_0_are_told_apart_by_their_ids() -> None:
    calls = assemble(
        [
            ToolCallDelta(index=0, id="a", name="web_search", arguments='{"query": "x"}'),
            ToolCallDelta(index=0, id="b", name="read_url", arguments='{"url":'),
            ToolCallDelta(index=0, arguments=' "https://e.com"}'),
        ]
    )
    assert [(c.id, c.name, c.arguments()) for c in calls] == [
        ("a", "web_search", {"query": "x"}),
        ("b", "read_url", {"url": "https://e.com"}),
    ]
