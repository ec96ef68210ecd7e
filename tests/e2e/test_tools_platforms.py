"""Tools in conversation through the real adapters: on Telegram and Discord the model draws
mid-conversation, the call shows while it runs, the picture comes in the same turn and is paid;
past the cost ceiling a button asks first, and "No" costs nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from adapters.telegram.bot import TelegramOptions
from adapters.telegram.writer import Pace
from tests.e2e.telegram_support import ALICE, texts
from tests.e2e.test_console import cli_env, run_cli
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import FakeVenice
from tests.fakes.venice_chat import call_then_answer, offered_tools

ROOT = Path(__file__).resolve().parents[2]
TOOL_MODEL = "llama-3.3-70b"
EDITS = TelegramOptions(poll_timeout=1, pace=Pace(0, 0, 0), use_drafts=False)  # every change shown
DRAW = {"prompt": "a lighthouse in a storm"}
STATUS = "🎨 drawing: a lighthouse in a storm"


async def test_telegram_the_model_draws_mid_conversation_shown_while_it_runs_and_paid(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.responder = call_then_answer("generate_image", DRAW, "Here is your lighthouse.")
    async with start_bot(options=EDITS, default_chat_model=TOOL_MODEL):
        venice.delay = 0.3  # Venice takes a moment to draw: the status shows meanwhile
        tg.push_message("Draw me a lighthouse in a storm", chat_id=ALICE)
        await tg.wait_for(lambda: len(tg.sent_files(ALICE)) == 1 and len(texts(tg, ALICE)) >= 1, timeout=15)
        venice.delay = 0
        tg.push_message("/usage", chat_id=ALICE)
        await tg.wait_for(lambda: "Your latest activity" in texts(tg, ALICE)[-1], timeout=10)
    usage = texts(tg, ALICE)[-1]
    assert "image: -$" in usage and "answer: -$" in usage  # the picture at its price, the answer at its own
    [picture] = tg.sent_files(ALICE)
    assert picture.method == "sendPhoto"
    shown = [
        text
        for m in tg.calls_to("sendMessage")
        for text in tg.edits_of(ALICE, m.response["result"]["message_id"])
    ]  # type: ignore[index]
    assert any(STATUS in text for text in shown), shown  # the call, as it happened
    answer = next(t for t in texts(tg, ALICE) if "Here is your lighthouse." in t)
    assert f"Tools: {STATUS}" in answer  # and under the answer once it is done
    assert len(venice.calls_to("/image/generate")) == 1


async def test_telegram_past_the_ceiling_a_button_asks_and_no_costs_nothing(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.responder = call_then_answer("generate_image", DRAW, "I need your yes first.")
    async with start_bot(options=EDITS, default_chat_model=TOOL_MODEL, tool_cost_ceiling_usd=0):
        tg.push_message("Draw me a lighthouse in a storm", chat_id=ALICE)

        def asked() -> list[dict[str, Any]]:  # the answer once it is whole: its buttons come last
            return [
                m
                for m in tg.visible(ALICE)
                if "I need your yes first." in m.get("text", "") and m.get("reply_markup")
            ]

        await tg.wait_for(lambda: bool(asked()), timeout=15)
        answer = asked()[0]
        buttons = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row]
        labels = [b["text"] for b in buttons]
        assert any(label.startswith("✅ 🎨 drawing") and "$" in label for label in labels), labels
        no = next(b for b in buttons if b["text"] == "✖ No, thanks")
        tg.push_callback(no["callback_data"], chat_id=ALICE, message_id=answer["message_id"])
        await tg.wait_for(lambda: any("Nothing was charged" in t for t in texts(tg, ALICE)), timeout=10)
    assert venice.calls_to("/image/generate") == []
    assert tg.sent_files(ALICE) == []


async def test_discord_the_model_draws_mid_conversation_shown_while_it_runs_and_paid(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    venice.responder = call_then_answer("generate_image", DRAW, "Here is your lighthouse.")
    async with start_discord(default_chat_model=TOOL_MODEL):
        venice.delay = 0.3
        dc.send_message(dm, alice, "Draw me a lighthouse in a storm")
        await dc.wait_for(
            lambda: any(
                m["attachments"] and "Here is your lighthouse." in m["content"] for m in _bot_messages(dc, dm)
            ),
            timeout=15,
        )
        venice.delay = 0
        dc.send_message(dm, alice, "/usage")
        await dc.wait_for(lambda: "Your latest activity" in _bot_messages(dc, dm)[-1]["content"], timeout=10)
    assert "image: -$" in _bot_messages(dc, dm)[-1]["content"]
    answer = next(m for m in _bot_messages(dc, dm) if m["attachments"])
    assert answer["attachments"][0]["filename"].endswith(".png")
    assert any(STATUS in text for text in dc.edits_of(dm, int(answer["id"]))[:-1])  # shown while drawing
    assert f"Tools: {STATUS}" in answer["content"]
    assert len(venice.calls_to("/image/generate")) == 1


def _bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [m for m in dc.messages(channel) if int(m["author"]["id"]) == dc.bot_id]


async def test_discord_past_the_ceiling_a_button_asks_and_no_costs_nothing(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    alice = dc.add_user("alice")
    dm = dc.add_dm(alice)
    venice.responder = call_then_answer("generate_image", DRAW, "I need your yes first.")
    async with start_discord(default_chat_model=TOOL_MODEL, tool_cost_ceiling_usd=0):
        dc.send_message(dm, alice, "Draw me a lighthouse in a storm")
        await dc.wait_for(
            lambda: any(
                "I need your yes first." in m["content"] and m["components"] for m in _bot_messages(dc, dm)
            ),
            timeout=15,
        )
        answer = next(m for m in _bot_messages(dc, dm) if m["components"])
        buttons = {b["label"]: b["custom_id"] for row in answer["components"] for b in row["components"]}
        assert any(label.startswith("✅ 🎨 drawing") and "$" in label for label in buttons), buttons
        dc.send_component(dm, alice, int(answer["id"]), buttons["✖ No, thanks"])
        await dc.wait_for(
            lambda: any("Nothing was charged" in m["content"] for m in _bot_messages(dc, dm)), timeout=10
        )
    assert venice.calls_to("/image/generate") == []


async def test_telegram_the_model_calls_an_mcp_servers_tool_and_never_sees_one_outside_the_allow_list(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, tmp_path: Path
) -> None:
    config = tmp_path / "mcp.json"
    server = {"command": sys.executable, "args": ["-m", "tests.fakes.mcp_server"], "cwd": str(ROOT)}
    config.write_text(json.dumps({"mcpServers": {"calc": {**server, "tools": ["add"]}}}), encoding="utf-8")
    venice.responder = call_then_answer("calc__add", {"a": 2, "b": 3}, "The server says {result}.")
    async with start_bot(options=EDITS, default_chat_model=TOOL_MODEL, mcp_config=str(config)):
        tg.push_message("What is 2 + 3? Use the calculator.", chat_id=ALICE)
        await tg.wait_for(lambda: any("The server says" in t for t in texts(tg, ALICE)), timeout=20)
    offered = offered_tools(venice.calls_to("/chat/completions")[0].body)
    assert "calc__add" in offered
    assert not any(
        name.startswith("calc__") and name != "calc__add" for name in offered
    )  # the rest are not allowed
    answer = next(t for t in texts(tg, ALICE) if "The server says" in t)
    assert "The server says 5." in answer
    assert "🔧 calc: add" in answer  # the call, listed under the answer


async def test_a_bad_mcp_config_stops_the_start_with_a_clear_line(tmp_path: Path, venice: FakeVenice) -> None:
    config = tmp_path / "mcp.json"
    config.write_text('{"mcpServers": {"calc": {"command": "x", "timeout": 5}}}', encoding="utf-8")
    code, out, err = await run_cli(["chat"], cli_env(tmp_path, venice, MCP_CONFIG=str(config)), cwd=tmp_path)
    assert code == 2
    assert str(config) in err and "timeout" in err
    assert "Traceback" not in out + err
