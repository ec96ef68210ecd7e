"""The Discord adapter end to end: the real discord.py on a simulated Discord (simcord), the
real core, and the fake Venice server over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from adapters.dispatch import EXPIRED
from bots.bootstrap import build_service
from core.settings import Settings
from core.venice.retry import RetryPolicy
from tests.fakes.venice import ChatScript, FakeVenice

FAST = DiscordOptions(edit_interval=0.05)


@pytest.fixture
def discord_env(make_settings: Callable[..., Settings], retry: RetryPolicy) -> Callable[..., Any]:
    """``async with discord_env(**settings) as (env, adapter)``: the bot on a simulated Discord."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[simcord.Env, DiscordAdapter]]:
        settings = make_settings(discord_bot_token="simulated", **overrides)
        async with build_service(settings, retry=retry) as service:
            adapter = DiscordAdapter(service, settings, options=FAST)
            async with simcord.run(adapter.client, settle_timeout=15) as env:
                yield env, adapter

    return start


def contents(channel: Any) -> list[str]:
    return [m.content for m in channel.history()]


async def test_a_mention_gets_a_streamed_answer_and_other_messages_are_ignored(
    discord_env: Any, venice: FakeVenice
) -> None:
    answer = " ".join(f"word{i}" for i in range(40))
    venice.script.append(ChatScript(content=answer, chunk_delay=0.03))
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, "people talking, no bot here")
        assert contents(channel) == ["people talking, no bot here"]
        await alice.send(channel, f"{adapter.client.user.mention} tell me things")
        reply = channel.last_message
        assert reply.author.id == adapter.client.user.id
        assert reply.content == answer
        assert reply.reference is not None  # answers as a reply to the question
        edits = [c for c in env.transcript().splitlines() if "PATCH" in c and "/messages/" in c]
        assert len(edits) >= 2  # streamed: the message was edited while the answer grew
    asked = [c.body["messages"][-1]["content"] for c in venice.calls_to("/chat/completions")]
    assert asked == ["[alice] tell me things"]


async def test_a_reply_to_the_bot_and_a_dm_are_answered(discord_env: Any, venice: FakeVenice) -> None:
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, f"{adapter.client.user.mention} first")
        bot_message = channel.last_message
        await alice.send(channel, "and a follow-up", reply_to=bot_message)
        assert channel.last_message.author.id == adapter.client.user.id
        assert "and a follow-up" in channel.last_message.content
        bob = env.create_user("bob")
        await bob.send_dm("hello in private")
        assert "hello in private" in bob.dm_channel.last_message.content


async def test_chat_starts_a_thread_where_no_mention_is_needed(discord_env: Any, venice: FakeVenice) -> None:
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        result = await alice.slash(channel, "chat", message="Plan my trip")
        assert result.acknowledged and result.response.content == "**alice:** Plan my trip"
        threads = channel.threads
        assert len(threads) == 1
        thread = threads[0]
        assert "Plan my trip" in thread.last_message.content
        await alice.send(thread, "and the budget?")
        assert "and the budget?" in thread.last_message.content
    bodies = [c.body["messages"] for c in venice.calls_to("/chat/completions")]
    assert [m["content"] for m in bodies[1][1:]] == [
        "[alice] Plan my trip",
        bodies[1][2]["content"],
        "[alice] and the budget?",
    ]


async def test_a_slow_answer_is_deferred_at_once_and_delivered_after(
    discord_env: Any, venice: FakeVenice, monkeypatch: pytest.MonkeyPatch
) -> None:
    deferred_at: list[float] = []
    original_defer = discord.InteractionResponse.defer

    async def watched_defer(self: Any, **kwargs: Any) -> Any:
        deferred_at.append(time.monotonic())
        return await original_defer(self, **kwargs)

    monkeypatch.setattr(discord.InteractionResponse, "defer", watched_defer)
    venice.delay = 3.5
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        started = time.monotonic()
        result = await alice.slash(channel, "model")
        finished = time.monotonic()
        assert "{'type': 5" in env.transcript()  # acknowledged as "thinking…"
        assert result.ephemeral
        assert "Current model: venice-uncensored" in result.response.content
    assert deferred_at[0] - started < 1.0  # well within Discord's 3 s
    assert finished - started >= 3.5  # the answer itself came later


async def test_a_5000_character_answer_is_split_with_balanced_fences(
    discord_env: Any, venice: FakeVenice
) -> None:
    code = "\n".join(f"    value_{i:03d} = compute_something({i}, factor=2)" for i in range(80))
    answer = "Intro paragraph. " * 30 + f"\n\n```python\ndef f():\n{code}\n```\n\n" + "Outro text. " * 60
    assert 4900 <= len(answer) <= 5600
    venice.script.append(ChatScript(content=answer))
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, f"{adapter.client.user.mention} long please")
        parts = [m.content for m in channel.history() if m.author.id == adapter.client.user.id]
    assert 2 <= len(parts) <= 3
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)
    lines = [line for p in parts for line in p.split("\n") if line.startswith("    value_")]
    assert "\n".join(lines) == code


async def test_help_reset_model_autocomplete_and_admin_rights(discord_env: Any, venice: FakeVenice) -> None:
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        help_result = await alice.slash(channel, "help")
        assert help_result.ephemeral and "/reset" in help_result.response.content
        reset = await alice.slash(channel, "reset")
        assert "new conversation" in reset.response.content
        choices = await alice.autocomplete(channel, "model", "name", "llama")
        values = [c["value"] for c in choices]
        assert values == ["llama-3.3-70b"]
        denied = await alice.slash(channel, "model", name="llama-3.3-70b")
        assert "Only admins of this chat can change the model" in _all_text(denied)
        assert "status" not in alice.available_commands(channel)  # Manage Server only…
        with pytest.raises(simcord.SetupError, match="default-member-permissions"):
            await alice.slash(channel, "status")  # …so Discord will not even let her run it
        managers = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        mod = guild.add_member(env.create_user("mod"), roles=[managers])
        switched = await mod.slash(channel, "model", name="llama-3.3-70b")
        assert "Model set to llama-3.3-70b" in switched.response.content
        status = await mod.slash(channel, "status")
        assert "Only the bot's admins can use /status" in _all_text(status)  # checked on our side too


async def test_model_autocomplete_offers_what_model_offers_private_models_only(
    discord_env: Any, venice: FakeVenice, tmp_path: Path
) -> None:
    """With PRIVATE_MODELS_ONLY, an anonymized model is neither listed by /model nor suggested as it is typed."""
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        everything = [c["value"] for c in await alice.autocomplete(channel, "model", "name", "qwen")]
    assert everything == ["qwen3-vl-235b-a22b"]  # anonymized, offered while the bot takes any model
    # A bot of its own (its own database), which syncs its commands to its own Discord.
    private_bot = {"private_models_only": True, "database_url": f"sqlite:///{tmp_path}/private.db"}
    async with discord_env(**private_bot) as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        typed = await alice.autocomplete(channel, "model", "name", "qwen")
        offered = [c["value"] for c in await alice.autocomplete(channel, "model", "name", "")]
        listing = _all_text(await alice.slash(channel, "model"))
    assert typed == []
    assert offered == ["venice-uncensored", "llama-3.3-70b"]
    assert all(f"{model} (" in listing for model in offered) and "qwen3-vl-235b-a22b" not in listing


async def test_whoami_shows_the_user_channel_and_server_ids_to_the_asker_alone(
    discord_env: Any, venice: FakeVenice
) -> None:
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        result = await alice.slash(channel, "whoami")
    text = _all_text(result)
    assert result.ephemeral  # nothing changes in the channel: only she sees it
    assert f"Your id: discord:{alice.id} (alice)" in text
    assert f"This chat: discord:{channel.id}; its shared balance (/pool) is chat:discord:{channel.id}" in text
    assert f"Server: {guild.id} (a server id, as DISCORD_GUILD_IDS takes it)" in text
    assert "Bot admin: no" in text
    assert venice.calls_to("/chat/completions") == []


def _all_text(result: Any) -> str:
    texts = [result.response.content if result.response else ""]
    texts += [f.content for f in result.followups]
    return "\n".join(texts)


async def test_a_channel_where_the_bot_may_not_send_is_reported_once(
    discord_env: Any, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.discord.bot")
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        muted = guild.create_text_channel(
            "muted", overwrites={adapter.client.user: discord.PermissionOverwrite(send_messages=False)}
        )
        alice = guild.add_member(env.create_user("alice"))
        for _ in range(3):
            await alice.send(muted, f"{adapter.client.user.mention} hello?")
        assert contents(muted)[-1].endswith("hello?")
    warnings = [r for r in caplog.records if "Missing permissions" in r.getMessage()]
    assert len(warnings) == 1 and "send_messages" in warnings[0].getMessage()
    assert venice.calls_to("/chat/completions") == []


async def test_commands_are_synced_only_when_they_change(discord_env: Any, venice: FakeVenice) -> None:
    async with discord_env() as (_env, adapter):
        assert await adapter.sync_commands() is False  # synced at start; unchanged since


async def test_regenerate_button(discord_env: Any, venice: FakeVenice) -> None:
    venice.script.extend([ChatScript(content="First take"), ChatScript(content="Second take")])
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, f"{adapter.client.user.mention} joke please")
        first = channel.last_message
        assert first.content == "First take"
        await alice.click(first, custom_id="venice:retry")
        assert channel.last_message.content == "Second take"
    assert len(venice.calls_to("/chat/completions")) == 2


async def test_web_sources_come_as_an_embed_or_as_text_where_embeds_are_not_allowed(
    discord_env: Any, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.discord.bot")
    citations = [{"title": "Paris - Wikipedia", "url": "https://en.wikipedia.org/wiki/Paris"}]
    venice.script.extend([ChatScript(content="Paris[REF]0[/REF].", citations=citations)] * 2)
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        open_channel = guild.create_text_channel("general")
        plain = guild.create_text_channel(
            "plain", overwrites={adapter.client.user: discord.PermissionOverwrite(embed_links=False)}
        )
        alice = guild.add_member(env.create_user("alice"))
        managers = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        mod = guild.add_member(env.create_user("mod"), roles=[managers])
        for channel in (open_channel, plain):
            await mod.slash(channel, "model", name="llama-3.3-70b")
            await mod.slash(channel, "websearch", mode="on")
        await alice.send(open_channel, f"{adapter.client.user.mention} capital of France?")
        embedded = open_channel.last_message
        assert embedded.content == "Paris[1]."
        assert embedded.embeds[0].title == "Sources"
        assert "(https://en.wikipedia.org/wiki/Paris)" in embedded.embeds[0].description
        await alice.send(plain, f"{adapter.client.user.mention} capital of France?")
        text = plain.last_message
        assert not text.embeds
        assert "[1] Paris - Wikipedia <https://en.wikipedia.org/wiki/Paris>" in text.content
    warnings = [r for r in caplog.records if "Missing permissions" in r.getMessage()]
    assert len(warnings) == 1 and "embed_links" in warnings[0].getMessage()


async def test_sharded_when_a_shard_count_is_set(discord_env: Any, venice: FakeVenice) -> None:
    async with discord_env(discord_shard_count=2) as (env, adapter):
        assert isinstance(adapter.client, discord.AutoShardedClient)
        assert adapter.client.shard_count == 2
        guild = env.create_guild(shard_id=1)
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, f"{adapter.client.user.mention} hello from shard 1")
        assert "hello from shard 1" in channel.last_message.content
    async with discord_env() as (env, adapter):
        assert not isinstance(adapter.client, discord.AutoShardedClient)


async def test_ledger_admin_commands_need_manage_server_and_the_admin_list(
    discord_env: Any, venice: FakeVenice
) -> None:
    async with discord_env() as (env, _adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        for name in ("grant", "setallowance", "ledger"):
            assert name not in alice.available_commands(channel)
        managers = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        mod = guild.add_member(env.create_user("mod"), roles=[managers])
        refused = await mod.slash(channel, "grant", user=f"discord:{alice.id}", amount="5")
        assert refused.ephemeral and "Only the bot's admins can use /grant" in _all_text(refused)


FORGED_CUSTOM_IDS = [
    "garbage",
    "x" * 4096,
    "venice:cmd:hello",  # not a command
    "venice:cmd:/help " + "x" * 4000,  # longer than any custom_id Discord lets the bot make
    "venice:pick:" + "9" * 5000,  # int() refuses more than 4,300 digits
    "venice:pick:²",
    "venice:retry\n",
]


async def test_a_forged_or_unknown_custom_id_is_answered_as_expired_without_a_traceback(
    discord_env: Any, venice: FakeVenice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    venice.script.append(ChatScript(content="An answer with buttons"))
    async with discord_env() as (env, adapter):
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, f"{adapter.client.user.mention} hello")
        answer = channel.last_message
        # The message shows a button the bot did not make: as an older version's would, or a forger's.
        button = env.backend.get_message(channel.id, answer.id).components[0]["components"][0]
        told = []
        for custom_id in FORGED_CUSTOM_IDS:
            button["custom_id"] = custom_id
            result = await alice.click(answer, custom_id=custom_id)
            assert result.response is not None and result.ephemeral
            told.append(result.response.content)
    assert told == [EXPIRED] * len(FORGED_CUSTOM_IDS)
    assert len(venice.calls_to("/chat/completions")) == 1  # nothing was run
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
