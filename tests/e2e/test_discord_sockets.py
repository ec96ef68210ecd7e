"""The Discord adapter over real sockets: discord.py's own HTTP and websocket code against a fake
REST API and gateway reached through DISCORD_API_BASE_URL and DISCORD_GATEWAY_URL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.venice import ChatScript, FakeVenice


def server_with_alice(dc: FakeDiscord, channel: str = "general") -> tuple[int, int, int]:
    """A server with one text channel and a member called alice: (guild, channel, alice)."""
    guild = dc.add_guild("Test")
    alice = dc.add_user("alice")
    dc.add_member(guild, alice)
    return guild, dc.add_channel(guild, channel), alice


def bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [m for m in dc.messages(channel) if int(m["author"]["id"]) == dc.bot_id]


async def test_mentions_and_slash_commands_over_real_sockets(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, channel, alice = server_with_alice(dc)
    venice.script.append(ChatScript(content="Hello over sockets " * 5, chunk_delay=0.02))
    async with start_discord():
        assert {c["name"] for c in dc.synced_commands()} >= {"help", "model", "chat"}
        dc.send_message(channel, alice, "just people talking")
        dc.send_message(channel, alice, f"<@{dc.bot_id}> hi there")
        await dc.wait_for(
            lambda: (
                bool(bot_messages(dc, channel))
                and bot_messages(dc, channel)[-1]["content"].startswith("Hello over sockets")
            )
        )
        interaction = dc.send_slash(channel, alice, "help", guild_id=guild)
        await dc.wait_for(
            lambda: (
                dc.interaction(interaction.id).original is not None
                and "/reset" in dc.interaction(interaction.id).original.get("content", "")
            )
        )
        assert dc.interaction(interaction.id).acknowledged_after < 1.0
    assert len(venice.calls_to("/chat/completions")) == 1  # the unaddressed message was ignored


async def test_a_slow_channel_does_not_hold_up_another(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, slow, alice = server_with_alice(dc, "slow")
    fast = dc.add_channel(guild, "fast")
    venice.script.append(ChatScript(content="slow " * 30, chunk_delay=0.1))
    venice.script.append(ChatScript(content="fast answer"))
    async with start_discord():
        dc.send_message(slow, alice, f"<@{dc.bot_id}> slow please")
        await dc.wait_for(lambda: len(venice.calls_to("/chat/completions")) == 1)
        started = time.monotonic()
        dc.send_message(fast, alice, f"<@{dc.bot_id}> fast please")
        await dc.wait_for(lambda: any(m["content"] == "fast answer" for m in bot_messages(dc, fast)))
        assert time.monotonic() - started < 2.0
        whole = ("slow " * 30).strip()
        assert not bot_messages(dc, slow) or bot_messages(dc, slow)[-1]["content"].strip() != whole
        await dc.wait_for(
            lambda: any(m["content"].strip() == whole for m in bot_messages(dc, slow)), timeout=10
        )


async def test_messages_in_one_channel_keep_their_order(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server_with_alice(dc)
    async with start_discord():
        for i in range(4):
            dc.send_message(channel, alice, f"<@{dc.bot_id}> question {i}")
        await dc.wait_for(lambda: len(bot_messages(dc, channel)) == 4)
    asked = [c.body["messages"][-1]["content"] for c in venice.calls_to("/chat/completions")]
    assert asked == [f"[alice] question {i}" for i in range(4)]


async def test_rate_limits_are_left_to_discord_py_and_no_answer_is_lost(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server_with_alice(dc)
    venice.script.append(ChatScript(content="Despite the rate limit"))
    async with start_discord():
        dc.rate_limit(r"/channels/\d+/messages$", retry_after=0.2, times=1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> hello")
        await dc.wait_for(
            lambda: any(m["content"] == "Despite the rate limit" for m in bot_messages(dc, channel))
        )


async def test_commands_are_not_synced_again_after_a_restart(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    async with start_discord():
        pass
    first = len(dc.calls_to("PUT", r"/applications/\d+/commands"))
    async with start_discord():
        pass
    assert first == 1 and len(dc.calls_to("PUT", r"/applications/\d+/commands")) == 1


async def test_a_rejected_token_stops_with_a_clear_message(
    dc: FakeDiscord, venice: FakeVenice, make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    from tests.e2e.test_console import cli_env, run_cli

    env = cli_env(
        tmp_path,
        venice,
        DISCORD_BOT_TOKEN="not-the-token",
        DISCORD_API_BASE_URL=dc.api_base,
        DISCORD_GATEWAY_URL=dc.gateway_url,
    )
    code, out, err = await run_cli(["run"], env, cwd=tmp_path)
    assert code == 2 and "Discord rejected DISCORD_BOT_TOKEN" in err
    assert "not-the-token" not in out + err and "Traceback" not in err
    env["DISCORD_BOT_TOKEN"] = dc.token
    code, out, err = await run_cli(["doctor"], env, cwd=tmp_path)
    assert code == 0 and "Discord bot venice-test" in out and dc.token not in out + err


async def test_slash_options_carry_descriptions_choices_autocomplete_and_files(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    """What a user sees in Discord's command picker: every option described, fixed choices
    offered, models autocompleted, and an image option where a command takes one."""
    server_with_alice(dc)
    async with start_discord():
        synced = {c["name"]: c for c in dc.synced_commands()}
    options = {o["name"]: o for o in synced["upscale"]["options"]}
    assert options["scale"]["description"] == "2 or 4"
    assert [c["value"] for c in options["scale"]["choices"]] == ["2", "4"]
    assert options["image"]["type"] == 11  # ATTACHMENT
    assert options["image"]["description"].startswith("The image")
    model = {o["name"]: o for o in synced["model"]["options"]}["name"]
    assert model.get("autocomplete") is True and model["description"]
    for command in synced.values():
        for option in command.get("options", []):
            assert option["description"], (command["name"], option["name"])


async def test_an_answer_ready_first_waits_behind_the_one_asked_before_it(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, alice = server_with_alice(dc)
    venice.delay = 0.5  # Venice takes a moment to begin the first answer
    async with start_discord():
        dc.send_message(channel, alice, f"<@{dc.bot_id}> tell me about the sea")
        await dc.wait_for(lambda: len(venice.calls) >= 1)
        dc.send_message(channel, alice, f"<@{dc.bot_id}> /help")  # answered at once by the bot itself
        await dc.wait_for(lambda: any("/reset" in m["content"] for m in bot_messages(dc, channel)))
    first, *rest = (m["content"] for m in bot_messages(dc, channel))
    assert "tell me about the sea" in first and "/reset" in rest[0]  # the help, after the answer


async def test_a_message_the_locked_database_cannot_record_is_still_answered_once(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any, tmp_path: Any, caplog: Any
) -> None:
    import asyncio
    import logging
    import sqlite3

    caplog.set_level(logging.WARNING)
    _guild, channel, alice = server_with_alice(dc)
    async with start_discord() as adapter:
        dc.send_message(channel, alice, f"<@{dc.bot_id}> before")
        await dc.wait_for(lambda: len(bot_messages(dc, channel)) == 1)
        await adapter._service.wait_idle()
        # Discord sends a message once: held past the busy timeout, it is answered unrecorded.
        other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        try:
            dc.send_message(channel, alice, f"<@{dc.bot_id}> while locked")
            await dc.wait_for(lambda: "Could not record Discord message" in caplog.text, timeout=20)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await dc.wait_for(lambda: len(bot_messages(dc, channel)) == 2, timeout=20)
        await asyncio.sleep(0.3)
    assert "while locked" in bot_messages(dc, channel)[1]["content"]
    assert len(venice.calls_to("/chat/completions")) == 2  # answered once, not lost
