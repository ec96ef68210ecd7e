"""The Telegram adapter end to end: the real python-telegram-bot Application over HTTP against
a fake Bot API server, the real core, and the fake Venice server."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any

import pytest

from adapters.dispatch import EXPIRED
from adapters.telegram.bot import TelegramOptions
from adapters.telegram.render import MAX_MESSAGE
from tests.conftest import FakeClock
from tests.e2e.telegram_support import ALICE, BOB, FAST, FORUM, GROUP, slow, texts
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice


async def test_a_dm_gets_a_streamed_answer_shown_as_drafts_then_sent_whole(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    answer = "Streaming works: " + " ".join(f"word{i}" for i in range(40)) + "."
    venice.script.append(slow(answer))
    async with start_bot():
        tg.push_message("Hello bot", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == [answer])
    drafts = tg.drafts(ALICE)
    assert len(drafts) >= 3, drafts  # the answer appeared while it was written
    assert all(answer.startswith(d.rstrip("…")) or d in answer for d in drafts)
    assert len(tg.calls_to("sendMessage")) == 1
    assert tg.calls_to("sendChatAction")[0].params["action"] == "typing"


async def test_without_drafts_a_dm_answer_streams_by_editing_one_message(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    answer = " ".join(f"token{i}" for i in range(60))
    venice.script.append(slow(answer))
    async with start_bot(options=TelegramOptions(poll_timeout=1, pace=FAST, use_drafts=False)):
        tg.push_message("Hello", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == [answer])
    message_id = tg.visible(ALICE)[0]["message_id"]
    edits = tg.edits_of(ALICE, message_id)
    assert len(edits) >= 3 and edits[-1] == answer
    assert all(answer.startswith(e) for e in edits)


async def test_a_bot_api_server_without_drafts_falls_back_to_edits(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(slow("one two three four five six seven eight nine ten"))
    tg.fail("sendMessageDraft", error_code=404, description="Not Found", times=100)
    async with start_bot():
        tg.push_message("Hi", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == ["one two three four five six seven eight nine ten"])


async def test_groups_answer_mentions_replies_and_commands_only(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot() as adapter:
        username = adapter.app.bot.username
        tg.push_message("just chatting among humans", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        tg.push_message(f"@{username} what is 2+2?", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 1)
        first = tg.visible(GROUP)[0]
        assert "what is 2+2?" in first["text"] and "@" not in first["text"].split("“")[1]
        assert first["reply_to_message"]["text"].startswith(f"@{username}")  # answers as a reply
        tg.push_message(
            "and 3+3?",
            chat_id=GROUP,
            chat_type="supergroup",
            user_id=BOB,
            reply_to_message_id=first["message_id"],
        )
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 2)
        tg.push_message("/help", chat_id=GROUP, chat_type="supergroup", user_id=BOB)
        await tg.wait_for(lambda: len(texts(tg, GROUP)) == 3)
        tg.push_message("/help@some_other_bot", chat_id=GROUP, chat_type="supergroup", user_id=BOB)
        tg.push_message("nobody asked the bot", chat_id=GROUP, chat_type="supergroup", user_id=BOB)
        await asyncio.sleep(0.3)
    assert len(texts(tg, GROUP)) == 3
    assert "/reset" in texts(tg, GROUP)[2]
    questions = [c.body["messages"][-1]["content"] for c in venice.calls_to("/chat/completions")]
    assert questions == ["[Alice] what is 2+2?", "[Bob] > " + questions[1].split("> ", 1)[1]]
    assert "and 3+3?" in questions[1]


async def test_forum_topics_are_separate_conversations(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot() as adapter:
        bot = f"@{adapter.app.bot.username}"
        for topic, text in ((7, "topic seven first"), (9, "topic nine first"), (7, "topic seven again")):
            tg.push_message(
                f"{bot} {text}", chat_id=FORUM, chat_type="supergroup", message_thread_id=topic, user_id=ALICE
            )
            count = len(venice.calls_to("/chat/completions")) + 1
            await tg.wait_for(
                lambda count=count: (
                    len(venice.calls_to("/chat/completions")) == count and len(texts(tg, FORUM)) == count
                )
            )
    bodies = [c.body["messages"] for c in venice.calls_to("/chat/completions")]
    assert [m["content"] for m in bodies[1][1:]] == ["[Alice] topic nine first"]
    assert "[Alice] topic seven first" in [m["content"] for m in bodies[2]]
    assert [m.get("message_thread_id") for m in tg.visible(FORUM)] == [7, 9, 7]


async def test_answers_of_emoji_are_split_by_telegrams_utf16_count_and_every_part_is_accepted(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    emoji = "😀" * 3000  # 3,000 characters, 6,000 UTF-16 units: too much for one message
    mix = " ".join(f"Step {i} 🚀 done 👍🏽 and é; 中文 <ok> & 🇫🇷" for i in range(400))
    venice.script += [ChatScript(content=emoji), ChatScript(content=mix)]
    # The mix is ~18,000 characters: more than the default answer budget (2,048 tokens) lets through.
    async with start_bot(reply_max_tokens=8192):
        tg.push_message("Emoji please", chat_id=ALICE)
        await tg.wait_for(lambda: "".join(texts(tg, ALICE)) == emoji, timeout=10)
        tg.push_message("A mix please", chat_id=ALICE)
        await tg.wait_for(
            lambda: " ".join(texts(tg, ALICE)).endswith("Step 399 🚀 done 👍🏽 and é; 中文 <ok> & 🇫🇷")
        )
    shown = texts(tg, ALICE)
    assert len(shown) >= 4 and "".join(shown).startswith(emoji)
    assert " ".join(shown[shown.index(next(t for t in shown if t.startswith("Step 0"))) :]) == mix
    assert all(len(text.encode("utf-16-le")) // 2 <= MAX_MESSAGE for text in shown)
    refused = [c for c in tg.calls if c.status != 200 and c.method != "getUpdates"]
    assert refused == [], tg.describe_calls()


async def test_a_10000_character_answer_is_split_with_the_code_block_intact(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    code = "\n".join(f"    total += values[{i}] * weights[{i}]  # step {i}" for i in range(120))
    prose = " ".join(f"Sentence number {i} explains a little more." for i in range(100))
    answer = f"{prose}\n\n```python\ndef score(values, weights):\n    total = 0\n{code}\n    return total\n```\n\n{prose}"
    assert len(answer) > 10_000
    venice.script.append(ChatScript(content=answer))
    # About 3,600 tokens: more than the default budget of 2,048 would let through uncut.
    async with start_bot(reply_max_tokens=4096):
        tg.push_message("Write it all", chat_id=ALICE)
        await tg.wait_for(lambda: "\n".join(texts(tg, ALICE)).count("Sentence number 99") == 2, timeout=10)
    sent = [c.params for c in tg.calls_to("sendMessage")]
    assert len(sent) >= 3
    assert all(len(p["text"]) <= MAX_MESSAGE for p in sent)
    blocks = [
        html.unescape(b)
        for p in sent
        for b in re.findall(r'<code class="language-python">(.*?)</code>', p["text"], re.S)
    ]
    assert "\n".join(blocks).split(
        "\n"
    ) == f"def score(values, weights):\n    total = 0\n{code}\n    return total".split("\n")


async def test_broken_markdown_is_delivered(tg: FakeTelegram, venice: FakeVenice, start_bot: Any) -> None:
    answer = "Unbalanced *star, _under and [bracket (and **bold never closed"
    venice.script.append(ChatScript(content=answer))
    async with start_bot():
        tg.push_message("Break it", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == [answer])


async def test_markup_telegram_refuses_is_sent_as_plain_text(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(content="**Bold** answer"))
    tg.fail("sendMessage", error_code=400, description="Bad Request: can't parse entities: test")
    async with start_bot():
        tg.push_message("Hi", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == ["**Bold** answer"])


async def test_flood_control_during_streaming_is_waited_out_and_the_answer_delivered(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    answer = " ".join(f"piece{i}" for i in range(50))
    venice.script.append(slow(answer))
    tg.fail("editMessageText", error_code=429, retry_after=7, times=1)
    tg.fail("sendMessage", error_code=429, retry_after=3, times=1)
    async with start_bot(options=TelegramOptions(poll_timeout=1, pace=FAST, use_drafts=False)):
        tg.push_message("Hello", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == [answer], timeout=10)
    assert 3.0 in clock.sleeps or any(s >= 2.9 for s in clock.sleeps)


async def test_a_user_who_blocked_the_bot_gets_nothing_more_and_nothing_crashes(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot() as adapter:
        tg.block(ALICE)
        venice.script.append(slow("a long answer " * 20))
        tg.push_message("Hello", chat_id=ALICE)
        await tg.wait_for(lambda: len(venice.calls_to("/chat/completions")) == 1)
        await tg.wait_for(lambda: ALICE in adapter.sender.blocked)
        await asyncio.sleep(0.5)
        attempts = len([c for c in tg.calls if c.params.get("chat_id") == ALICE])
        assert attempts <= 2  # one refused action or send, then silence
        tg.push_message("Hi from Bob", chat_id=BOB)  # others are still served
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)


async def test_the_same_update_twice_is_answered_once(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        update = tg.push_message("Only once", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        tg.push_update(update)
        tg.push_message("Second", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
    assert len(venice.calls_to("/chat/completions")) == 2


async def test_the_same_update_after_a_restart_is_answered_once(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        update = tg.push_message("Only once", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    async with start_bot():
        tg.push_update(update)
        tg.push_message("After restart", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
    assert len(venice.calls_to("/chat/completions")) == 2


async def test_commands_help_reset_model_and_admin_rights(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(admin_user_ids=f"telegram:{BOB}"):
        tg.push_message("/start", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        assert "/model" in texts(tg, ALICE)[0] and "/status" not in texts(tg, ALICE)[0]
        tg.push_message("My name is Alice", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        tg.push_message("/reset", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 3)
        assert "new conversation" in texts(tg, ALICE)[2]
        tg.push_message("/model", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 4)
        picker = tg.visible(ALICE)[3]
        buttons = [b for row in picker["reply_markup"]["inline_keyboard"] for b in row]
        assert any(b["callback_data"] == "c:/model llama-3.3-70b" for b in buttons)
        tg.push_callback(
            "c:/model llama-3.3-70b", chat_id=ALICE, message_id=picker["message_id"], user_id=ALICE
        )
        await tg.wait_for(lambda: any("Model set to llama-3.3-70b" in t for t in texts(tg, ALICE)))
        tg.push_message("/model no-such-model", chat_id=ALICE)
        await tg.wait_for(lambda: any("no text model named 'no-such-model'" in t for t in texts(tg, ALICE)))
        tg.push_message("/websearch sometimes", chat_id=ALICE)
        await tg.wait_for(lambda: any("Usage: /websearch" in t for t in texts(tg, ALICE)))
        tg.push_message("/status", chat_id=ALICE)
        await tg.wait_for(lambda: any("Only the bot's admins can use /status" in t for t in texts(tg, ALICE)))
        tg.push_message("/status", chat_id=BOB)
        await tg.wait_for(lambda: any("Venice requests left" in t for t in texts(tg, BOB)))
        tg.push_message("/model llama-3.3-70b", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        await tg.wait_for(
            lambda: any("Only admins of this chat can change the model" in t for t in texts(tg, GROUP))
        )
        tg.admins.add((GROUP, ALICE))
        tg.push_message("/model llama-3.3-70b", chat_id=GROUP, chat_type="supergroup", user_id=ALICE)
        # the admin check is cached for a while; a fresh chat shows the rule working
        tg.admins.add((FORUM, ALICE))
        tg.push_message("/model llama-3.3-70b", chat_id=FORUM, chat_type="supergroup", user_id=ALICE)
        await tg.wait_for(lambda: any("Model set to llama-3.3-70b" in t for t in texts(tg, FORUM)))
    scopes = {
        c.params["scope"]["type"]: [x["command"] for x in c.params["commands"]]
        for c in tg.calls_to("setMyCommands")
    }
    assert "status" not in scopes["all_private_chats"] and "status" not in scopes["all_group_chats"]
    assert "status" in scopes["chat"] and "model" in scopes["all_group_chats"]


async def test_regenerate_button_replaces_the_last_answer(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.extend(
        [
            ChatScript(content="First answer"),
            ChatScript(content="Second answer"),
            ChatScript(content="Third answer"),
        ]
    )
    async with start_bot():
        tg.push_message("Tell me something", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == ["First answer"])
        first = tg.visible(ALICE)[0]
        assert first["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "c:/retry"
        tg.push_callback("c:/retry", chat_id=ALICE, message_id=first["message_id"], user_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == ["First answer", "Second answer"])
        tg.push_callback("c:/retry", chat_id=ALICE, message_id=first["message_id"], user_id=ALICE)
        await tg.wait_for(
            lambda: any(
                "newest answer" in c.params.get("text", "") for c in tg.calls_to("answerCallbackQuery")
            )
        )
    assert len(venice.calls_to("/chat/completions")) == 2


async def test_a_slow_answer_in_one_chat_does_not_delay_another(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(slow("slow " * 30, delay=0.1))  # about 3 s
    venice.script.append(ChatScript(content="fast answer"))
    async with start_bot():
        tg.push_message("slow please", chat_id=ALICE)
        await tg.wait_for(lambda: len(venice.calls_to("/chat/completions")) == 1)
        tg.push_message("fast please", chat_id=BOB)
        await tg.wait_for(lambda: texts(tg, BOB) == ["fast answer"], timeout=2)
        assert texts(tg, ALICE) == []  # still being written
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1, timeout=10)


async def test_messages_in_one_chat_are_answered_in_order(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot():
        for i in range(4):
            tg.push_message(f"question {i}", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 4)
    asked = [c.body["messages"][-1]["content"] for c in venice.calls_to("/chat/completions")]
    assert asked == [f"question {i}" for i in range(4)]
    assert [t.split("“")[1].split("”")[0] for t in texts(tg, ALICE)] == [f"question {i}" for i in range(4)]


async def test_venice_errors_reach_the_user_as_a_short_message(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.fail("/chat/completions", 402)
    async with start_bot():
        tg.push_message("Hello", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert texts(tg, ALICE)[0].startswith("⚠️ The Venice account behind this bot is out of credit")


async def test_webhook_mode_checks_the_secret(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram"
    async with start_bot(
        telegram_webhook_url=url,
        telegram_webhook_secret="s3cret-token",
        telegram_webhook_listen="127.0.0.1",
        telegram_webhook_port=unused_tcp_port,
    ):
        assert tg.calls_to("setWebhook")[-1].params["secret_token"] == "s3cret-token"
        forged = tg.make_message_update("forged", chat_id=BOB)
        assert await tg.deliver_webhook(forged, secret="wrong") == 403
        assert await tg.deliver_webhook(forged, secret=None) == 403
        genuine = tg.make_message_update("genuine", chat_id=ALICE)
        assert await tg.deliver_webhook(genuine) == 200
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
    assert texts(tg, BOB) == []
    assert [c.body["messages"][-1]["content"] for c in venice.calls_to("/chat/completions")] == ["genuine"]


async def test_a_long_model_list_is_paged(tg: FakeTelegram, venice: FakeVenice, start_bot: Any) -> None:
    template = next(m for m in venice.models if m["id"] == "venice-uncensored")
    for i in range(15):
        venice.models.append({**template, "id": f"extra-model-{i:02d}"})
    async with start_bot():
        tg.push_message("/model", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        picker = tg.visible(ALICE)[0]
        rows = picker["reply_markup"]["inline_keyboard"]
        assert sum(1 for row in rows[:-1] for _ in row) == 8  # one page of models…
        nav = rows[-1]
        assert [b["text"] for b in nav] == ["1/3", "▶"]  # …and a way to the others
        tg.push_callback(
            nav[1]["callback_data"], chat_id=ALICE, message_id=picker["message_id"], user_id=ALICE
        )
        await tg.wait_for_call("editMessageReplyMarkup")
        page_two = tg.message(ALICE, picker["message_id"])["reply_markup"]["inline_keyboard"]
        assert [b["text"] for b in page_two[-1]] == ["◀", "2/3", "▶"]
        labels = [b["text"] for row in page_two[:-1] for b in row]
        assert labels and not set(labels) & {b["text"] for row in rows[:-1] for b in row}


async def test_telegram_server_errors_are_retried_and_the_answer_arrives(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, clock: FakeClock
) -> None:
    venice.script.append(ChatScript(content="Delivered despite a hiccup"))
    tg.fail("sendMessage", error_code=502, description="Bad Gateway", times=2)
    async with start_bot():
        tg.push_message("Hello", chat_id=ALICE)
        await tg.wait_for(lambda: texts(tg, ALICE) == ["Delivered despite a hiccup"])
    assert len([s for s in clock.sleeps if s > 0]) >= 2  # backed off before each retry


async def test_doctor_checks_the_telegram_token(tg: FakeTelegram, venice: FakeVenice, tmp_path: Any) -> None:
    from tests.e2e.test_console import cli_env, run_cli

    env = cli_env(
        tmp_path,
        venice,
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_BASE_FILE_URL=tg.base_file_url,
    )
    code, out, err = await run_cli(["doctor"], env, cwd=tmp_path)
    assert code == 0, out + err
    assert f"Telegram bot @{tg.bot_username} works" in out
    assert tg.token not in out + err
    env["TELEGRAM_BOT_TOKEN"] = "999:wrong-token-value"
    code, out, err = await run_cli(["doctor"], env, cwd=tmp_path)
    assert code == 1 and f"Telegram at {tg.base_url}: the bot token was refused" in out
    assert "999:wrong-token-value" not in out + err


async def test_a_rejected_token_stops_run_with_a_clear_line_and_no_token(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Any
) -> None:
    from tests.e2e.test_console import cli_env, run_cli

    env = cli_env(
        tmp_path,
        venice,
        TELEGRAM_BOT_TOKEN="999:wrong-token-value",
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_BASE_FILE_URL=tg.base_file_url,
    )
    code, out, err = await run_cli(["run"], env, cwd=tmp_path)
    assert code == 2
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in err
    assert "999:wrong-token-value" not in out + err and "Traceback" not in err


async def test_venice_bots_run_serves_telegram_as_a_process_and_logs_no_secret(
    tg: FakeTelegram, venice: FakeVenice, tmp_path: Any
) -> None:
    import os
    import signal
    import sys

    from tests.conftest import TEST_KEY
    from tests.e2e.test_console import cli_env

    marker = "process-log-marker-5e7a"  # what a user writes must not reach the logs either
    env = cli_env(
        tmp_path,
        venice,
        LOG_LEVEL="DEBUG",
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_BASE_FILE_URL=tg.base_file_url,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots",
        "run",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await tg.wait_for_call("getUpdates", timeout=20)
        tg.push_message(f"Hello from a real process: {marker}", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1, timeout=20)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    log = (out + err).decode()
    assert process.returncode == 0, log
    assert f"You said: “Hello from a real process: {marker}”" in texts(tg, ALICE)[0]  # it was answered
    assert marker in venice.calls_to("/chat/completions")[0].body["messages"][-1]["content"]
    assert "Telegram bot @venice_test_bot is running" in log and "Stopped." in log
    for secret in (tg.token, TEST_KEY, marker):  # at DEBUG: no token, no key, no message content
        assert secret not in log
    assert not os.path.exists(tmp_path / ".venice-bots.heartbeat")  # removed by the clean stop


async def test_ledger_admin_commands_are_refused_to_non_admins(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    async with start_bot(admin_user_ids=f"telegram:{BOB}"):
        for command in ("/grant telegram:1001 5", "/setallowance 1001 2", "/ledger 1001"):
            tg.push_message(command, chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 3)
        assert all("Only the bot's admins can use" in t for t in texts(tg, ALICE))
        tg.push_message("/whoami", chat_id=ALICE)  # the bot sees her: an admin can now name her
        await tg.wait_for(lambda: any("Your id: telegram:1001" in t for t in texts(tg, ALICE)))
        tg.push_message("/grant telegram:1001 5", chat_id=BOB)
        await tg.wait_for(lambda: any("Granted $5.00 to telegram:1001" in t for t in texts(tg, BOB)))
        tg.push_message("/balance", chat_id=ALICE)
        await tg.wait_for(lambda: any("Balance: $" in t for t in texts(tg, ALICE)))


async def test_admins_are_told_once_when_the_venice_account_is_empty(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.balance["canConsume"] = False
    tg.add_chat(BOB, "private")  # the admin has started the bot before (else Telegram refuses)
    async with start_bot(admin_user_ids=f"telegram:{BOB}"):
        for i in range(3):
            tg.push_message(f"hello {i}", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 3)
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)
        await asyncio.sleep(0.2)
    assert all("out of credit" in t for t in texts(tg, ALICE))
    assert len(texts(tg, BOB)) == 1 and "cannot pay for more requests" in texts(tg, BOB)[0]
    assert venice.calls_to("/chat/completions") == []


FORGED_CALLBACKS = [
    "garbage",
    "x" * 4096,
    "c:/help " + "x" * 4000,  # a command, but longer than any button of the bot carries
    "p:²:0",  # str.isdigit says yes, int() says no
    "k:³",
    "p:1:99999999999",
    "p:424242:0",  # a menu the bot never made (or forgot)
]


async def test_forged_or_forgotten_button_data_is_answered_as_expired_without_a_traceback(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with start_bot():
        tg.push_message("/help", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        under = tg.visible(ALICE)[0]["message_id"]
        queries = [
            tg.push_callback(data, chat_id=ALICE, message_id=under)["callback_query"]["id"]
            for data in FORGED_CALLBACKS
        ]
        await tg.wait_for(lambda: all(q in tg.callback_answers for q in queries))
    assert [tg.callback_answers[q].get("text") for q in queries] == [EXPIRED] * len(FORGED_CALLBACKS)
    assert len(texts(tg, ALICE)) == 1  # nothing was run
    assert venice.calls_to("/chat/completions") == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


async def test_an_update_the_locked_database_cannot_record_is_asked_for_again_and_answered_once(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any, tmp_path: Any, caplog: Any
) -> None:
    import logging
    import sqlite3

    caplog.set_level(logging.WARNING)
    async with start_bot() as adapter:
        tg.push_message("before", chat_id=ALICE)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        await adapter._service.wait_idle()  # its answer stored and paid: the bot writes nothing now
        # Another writer holds the database past the bot's busy timeout while the update comes.
        other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        try:
            tg.push_message("while locked", chat_id=ALICE)
            await tg.wait_for(lambda: "Could not record Telegram update" in caplog.text, timeout=20)
            assert len(texts(tg, ALICE)) == 1  # not answered while it could not be recorded
        finally:
            other.execute("ROLLBACK")
            other.close()
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2, timeout=20)  # asked for again, recorded
        await asyncio.sleep(0.5)
    assert "while locked" in texts(tg, ALICE)[1]
    assert len(texts(tg, ALICE)) == 2 and len(venice.calls_to("/chat/completions")) == 2  # once each
