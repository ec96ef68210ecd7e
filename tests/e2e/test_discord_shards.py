"""Discord shards per worker: DISCORD_SHARD_COUNT and DISCORD_SHARD_IDS split one bot's servers between
workers, each worker answering only its shards' events (DMs come to shard 0), over real sockets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.settings import Settings
from tests.conftest import TEST_KEY
from tests.e2e.crash_support import BotProcess
from tests.e2e.test_console import cli_env, run_cli
from tests.fakes.discord import FakeDiscord
from tests.fakes.venice import FakeVenice


def bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [m for m in dc.messages(channel) if int(m["author"]["id"]) == dc.bot_id]


def two_shards_and_a_dm(dc: FakeDiscord) -> tuple[int, int, int, int]:
    """A server on each of two shards, a channel in each and alice in both, and alice's DM with
    the bot: (channel on shard 0, channel on shard 1, the DM, alice)."""
    alice = dc.add_user("alice")
    channels = []
    for shard_id in (0, 1):
        guild = dc.add_guild(f"on shard {shard_id}", shard=(shard_id, 2))
        dc.add_member(guild, alice)
        channels.append(dc.add_channel(guild, "general"))
    return channels[0], channels[1], dc.add_dm(alice), alice


def ask_all(dc: FakeDiscord, where: dict[str, int], alice: int) -> None:
    for question, channel in where.items():
        dc.send_message(channel, alice, f"<@{dc.bot_id}> {question}")


def who_answered(venice: FakeVenice) -> dict[str, str]:
    """Which worker (told apart by its system prompt) asked Venice each question."""
    answered = {}
    for call in venice.calls_to("/chat/completions"):
        messages = call.body["messages"]
        system = " ".join(str(m["content"]) for m in messages if m["role"] == "system")
        worker = "zero" if "worker zero" in system else "one" if "worker one" in system else "?"
        answered[str(messages[-1]["content"]).split("] ")[-1]] = worker
    return answered


async def test_each_worker_answers_only_its_own_shards_and_dms_go_to_shard_0(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    on_zero, on_one, dm, alice = two_shards_and_a_dm(dc)
    where = {"question on shard 0": on_zero, "question on shard 1": on_one, "a private question": dm}
    async with (
        start_discord(
            discord_shard_count=2, discord_shard_ids="0", default_system_prompt="You are worker zero."
        ) as zero,
        start_discord(
            discord_shard_count=2, discord_shard_ids="1", default_system_prompt="You are worker one."
        ) as one,
    ):
        assert sorted(d["shard"] for d in dc.identifies) == [[0, 2], [1, 2]]
        assert [g.shard_id for g in zero.client.guilds] == [0]
        assert [g.shard_id for g in one.client.guilds] == [1]
        ask_all(dc, where, alice)
        await dc.wait_for(lambda: all(bot_messages(dc, channel) for channel in where.values()))
    assert who_answered(venice) == {
        "question on shard 0": "zero",
        "question on shard 1": "one",
        "a private question": "zero",
    }
    shown = [[m["content"] for m in bot_messages(dc, channel)] for channel in where.values()]
    assert [len(messages) for messages in shown] == [1, 1, 1], shown  # each once


async def test_two_bot_processes_on_one_database_split_the_shards(
    tmp_path: Path, dc: FakeDiscord, venice: FakeVenice
) -> None:
    on_zero, on_one, dm, alice = two_shards_and_a_dm(dc)
    where = {"question on shard 0": on_zero, "question on shard 1": on_one, "a private question": dm}
    workers = []
    for shard_id, name in ((0, "zero"), (1, "one")):
        env = BotProcess.for_discord(
            tmp_path,
            dc,
            venice,
            DISCORD_SHARD_COUNT="2",
            DISCORD_SHARD_IDS=str(shard_id),
            DEFAULT_SYSTEM_PROMPT=f"You are worker {name}.",
        ).env  # the same database for both
        (tmp_path / name).mkdir()
        workers.append(BotProcess(tmp_path / name, env))
    try:
        for worker in workers:
            await worker.start()
        ask_all(dc, where, alice)
        await dc.wait_for(lambda: all(bot_messages(dc, channel) for channel in where.values()), timeout=30)
        logs = [await worker.stop() for worker in workers]
    finally:
        for worker in workers:
            await worker.aclose()
    assert who_answered(venice) == {
        "question on shard 0": "zero",
        "question on shard 1": "one",
        "a private question": "zero",
    }
    assert [len(bot_messages(dc, channel)) for channel in where.values()] == [1, 1, 1]
    assert "Discord shards [0] of 2" in logs[0] and "Discord shards [1] of 2" in logs[1]
    code, out = await workers[0].admin_check()
    assert code == 0, out
    assert workers[0].query("SELECT COUNT(*) FROM inbox WHERE answered_at IS NULL") == [(0,)]


async def test_without_shard_settings_one_worker_answers_everything(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    on_zero, on_one, dm, alice = two_shards_and_a_dm(dc)
    where = {"question on shard 0": on_zero, "question on shard 1": on_one, "a private question": dm}
    async with start_discord(default_system_prompt="You are worker zero.") as only:
        assert "shard" not in dc.identifies[0] and len(only.client.guilds) == 2
        ask_all(dc, where, alice)
        await dc.wait_for(lambda: all(bot_messages(dc, channel) for channel in where.values()))
    assert set(who_answered(venice).values()) == {"zero"} and len(who_answered(venice)) == 3
    assert [len(bot_messages(dc, channel)) for channel in where.values()] == [1, 1, 1]


async def test_a_message_a_crashed_worker_left_is_answered_by_a_worker_of_another_shard(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any, make_service: Any
) -> None:
    _on_zero, on_one, _dm, alice = two_shards_and_a_dm(dc)
    left = int(dc.create_message(on_one, alice, f"<@{dc.bot_id}> left by a crash").message["id"])
    async with make_service() as service:  # shard 1's worker recorded it, then died before answering
        where = json.dumps({"channel_id": on_one, "message_id": left})
        await service.inbox.record("discord", str(left), str(on_one), where, lease=0)
    async with start_discord(
        discord_shard_count=2, discord_shard_ids="0", default_system_prompt="worker zero"
    ):
        await dc.wait_for(lambda: bool(bot_messages(dc, on_one)))
    answer = bot_messages(dc, on_one)
    assert len(answer) == 1 and "left by a crash" in answer[0]["content"]
    assert answer[0]["message_reference"]["message_id"] == str(left)  # a reply to the message left
    assert who_answered(venice) == {"left by a crash": "zero"}


async def test_shard_ids_without_a_count_or_beyond_it_stop_with_the_variable_named(tmp_path: Path) -> None:
    cases = [
        ({"DISCORD_SHARD_IDS": "0,1"}, "Invalid setting DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT"),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"},
            "Invalid setting DISCORD_SHARD_IDS: shard 2 does not exist: with DISCORD_SHARD_COUNT=2 "
            "shards are 0 to 1",
        ),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "first"},
            "Invalid setting DISCORD_SHARD_IDS: 'first' is not a shard number",
        ),
    ]
    for values, message in cases:
        env = cli_env(tmp_path, VENICE_API_KEY=TEST_KEY, **values)
        code, _, err = await run_cli(["doctor"], env, cwd=tmp_path)
        assert code == 2, err
        assert message in err
        assert err.strip().count("\n") == 0  # one line: only the shard ids are wrong


def test_shard_ids_are_read_as_a_comma_separated_list(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(discord_shard_count=4, discord_shard_ids=" 3, 0,,").discord_shard_ids == {0, 3}
    assert make_settings(discord_shard_count=4, discord_shard_ids="").discord_shard_ids is None
    assert make_settings(discord_shard_count=4).discord_shard_ids is None
