"""Tests of the fake Discord itself, through the real discord.py over real HTTP and websockets."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.webhook.async_ import async_context, interaction_response_params

from tests.fakes.discord import FakeDiscord, Intent, Perm

# An unclosed aiohttp session or a task left pending must fail the test, not scroll past as a warning.
pytestmark = pytest.mark.filterwarnings(
    "error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning"
)


@dataclass
class World:
    """A guild with a text channel and two members."""

    guild: int
    general: int
    alice: int
    bob: int


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with fake.patch_discord():
            yield fake
    assert fake.errors == [], "the fake itself failed"
    gc.collect()  # an unclosed ClientSession warns from __del__: make it happen inside this test
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leftover == [], f"tasks left running: {leftover}"


@pytest.fixture
def world(dc: FakeDiscord) -> World:
    guild = dc.add_guild("Venice")
    general = dc.add_channel(guild, "general")
    alice, bob = dc.add_user("Alice"), dc.add_user("Bob")
    dc.add_member(guild, alice)
    dc.add_member(guild, bob, permissions=Perm.MANAGE_MESSAGES)
    return World(guild, general, alice, bob)


def make_client(*, message_content: bool = True, **options: Any) -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return discord.Client(intents=intents, guild_ready_timeout=0.1, **options)


@asynccontextmanager
async def running(client: discord.Client, dc: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Log in, connect, wait for on_ready; close cleanly afterwards."""
    await client.login(dc.token)
    task = asyncio.create_task(client.connect(reconnect=False))
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # connecting failed: raise why
        assert ready.done(), "discord.py did not become ready"
        yield client
    finally:
        ready.cancel()
        await client.close()
        await task


def collect_messages(client: discord.Client) -> list[discord.Message]:
    received: list[discord.Message] = []

    async def on_message(message: discord.Message) -> None:
        received.append(message)

    client.event(on_message)
    return received


# ---- login, gateway, messages ----------------------------------------------------------------------


async def test_ready_and_a_mention_reach_the_bot(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    async with running(client, dc):
        assert client.user is not None and client.user.id == dc.bot_id
        assert client.application_id == dc.application_id
        guild = client.get_guild(world.guild)
        assert guild is not None and [c.name for c in guild.text_channels] == ["general"]
        assert guild.me is not None and guild.me.id == dc.bot_id
        assert dc.identifies[0]["intents"] & Intent.MESSAGE_CONTENT

        sent = dc.send_message(world.general, world.alice, f"<@{dc.bot_id}> hello")
        await dc.wait_for(lambda: received)
        message = received[0]
        assert message.id == int(sent["id"]) and message.content == f"<@{dc.bot_id}> hello"
        assert message.author.id == world.alice and isinstance(message.author, discord.Member)
        assert client.user in message.mentions and message.guild is guild

        dc.send_message(
            world.general, world.bob, "reply without ping", reply_to=message.id, mentions_bot=True
        )
        await dc.wait_for(lambda: len(received) == 2)
        reply = received[1]
        assert reply.reference is not None and reply.reference.message_id == message.id
        assert isinstance(reply.reference.resolved, discord.Message) and client.user in reply.mentions
    assert dc.heartbeats >= 1 and dc.unknown_routes == []


async def test_send_and_edit_round_trip(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        async with channel.typing():
            sent = await channel.send("first")
        await sent.edit(content="second")
        await sent.edit(embed=discord.Embed(title="T", description="D"))
        assert [m["content"] for m in dc.messages(world.general)] == ["second"]
        assert dc.messages(world.general)[0]["embeds"][0]["title"] == "T"
        assert dc.edits_of(world.general, sent.id) == ["first", "second", "second"]
        await dc.wait_for(lambda: received)  # Discord echoes the bot's own messages to it
        assert received[0].author == client.user
        fetched = await channel.fetch_message(sent.id)
        assert fetched.content == "second" and fetched.edited_at is not None
        history = [m.content async for m in channel.history(limit=10)]
        assert history == ["second"]
        await sent.delete()
        assert dc.messages(world.general) == []
    assert dc.calls_to("POST", r"/channels/\d+/typing")[0].status == 204


async def test_discord_limits_become_http_exceptions(dc: FakeDiscord, world: World) -> None:
    async with running(make_client(), dc) as client:
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert too_long.value.status == 400 and too_long.value.code == 50035
        assert "2000 or fewer" in str(too_long.value)
        with pytest.raises(discord.HTTPException) as big_title:
            await channel.send(embed=discord.Embed(title="t" * 257))
        assert big_title.value.code == 50035 and "embeds.0.title" in str(big_title.value)
        with pytest.raises(discord.HTTPException) as total:
            await channel.send(embeds=[discord.Embed(description="d" * 4000) for _ in range(2)])
        assert total.value.code == 50035
        with pytest.raises(discord.HTTPException) as empty:
            await channel.send()
        assert empty.value.code == 50006
        assert await channel.send("x" * 2000)


async def test_a_denied_channel_answers_forbidden(dc: FakeDiscord, world: World) -> None:
    async with running(make_client(), dc) as client:
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        dc.deny(world.general)
        # CHANNEL_UPDATE carries the overwrite: discord.py's own permission check sees it too.
        await dc.wait_for(lambda: not channel.permissions_for(channel.guild.me).send_messages)
        with pytest.raises(discord.Forbidden) as denied:
            await channel.send("hello")
        assert denied.value.status == 403 and denied.value.code == 50013
        assert dc.messages(world.general) == []


# ---- slash commands --------------------------------------------------------------------------------


async def test_slash_command_defer_then_followups(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    outcome: dict[str, Any] = {}

    @tree.command(name="ask", description="Ask Venice")
    async def ask(interaction: discord.Interaction, prompt: str, temperature: float = 0.7) -> None:
        await interaction.response.defer(thinking=True)
        try:
            await interaction.response.send_message("again")
        except discord.InteractionResponded:
            outcome["guarded"] = True  # discord.py refuses a second response itself ...
        try:  # ... so send the second callback over the wire to see Discord's answer
            await async_context.get().create_interaction_response(
                interaction.id,
                interaction.token,
                session=interaction._session,
                params=interaction_response_params(4, {"content": "again"}),
            )
        except discord.HTTPException as exc:
            outcome["second"] = exc
        await interaction.followup.send(f"answer to {prompt} at {temperature}")
        await interaction.followup.send("and a followup")

    async with running(client, dc):
        synced = await tree.sync()
        assert [c.name for c in synced] == ["ask"] and dc.command_puts == 1
        options = dc.synced_commands()[0]["options"]
        assert [(o["name"], o["type"], o.get("required", False)) for o in options] == [
            ("prompt", 3, True),
            ("temperature", 10, False),
        ]

        it = dc.send_slash(world.general, world.alice, "ask", {"prompt": "hi", "temperature": 1})
        await dc.wait_for(lambda: len(it.followups) == 1)
    assert it.payload["data"]["options"][1] == {"name": "temperature", "type": 10, "value": 1.0}
    assert [kind for kind, _ in it.callbacks] == [5]
    assert it.acknowledged_after is not None and it.acknowledged_after < 1.0
    assert it.original is not None and it.original["content"] == "answer to hi at 1.0" and not it.deferred
    assert it.followups[0]["content"] == "and a followup"
    assert [m["content"] for m in dc.messages(world.general)] == ["answer to hi at 1.0", "and a followup"]
    assert outcome["guarded"] and outcome["second"].code == 40060


async def test_slash_reply_ephemeral_and_late_callback(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    errors: list[discord.HTTPException] = []

    @tree.command(name="balance", description="Show the balance")
    async def balance(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("You have 10 credits", ephemeral=True)

    @tree.command(name="think", description="Think, then answer by editing")
    async def think(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await interaction.edit_original_response(content="partial")
        await interaction.edit_original_response(content="partial and whole")
        fetched = await interaction.original_response()
        await interaction.followup.send(f"fetched: {fetched.content}")

    @tree.command(name="slow", description="Too slow to answer")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.1)
        try:
            await interaction.response.send_message("late")
        except discord.HTTPException as exc:
            errors.append(exc)

    async with running(client, dc):
        tree.copy_global_to(guild=discord.Object(world.guild))
        await tree.sync(guild=discord.Object(world.guild))
        assert [c["name"] for c in dc.synced_commands(world.guild)] == ["balance", "think", "slow"]
        it = dc.send_slash(world.general, world.bob, "balance")
        await dc.wait_for(lambda: it.original is not None)
        assert it.original is not None and it.original["flags"] & 64
        assert it.payload["data"]["guild_id"] == str(world.guild)
        thought = dc.send_slash(world.general, world.bob, "think")
        await dc.wait_for(lambda: len(thought.followups) == 1)
        assert thought.original is not None and thought.original["content"] == "partial and whole"
        assert thought.original["flags"] == 64  # ephemeral from the defer; "thinking" (128) cleared
        assert dc.edits_of(world.general, int(thought.original["id"])) == ["", "partial", "partial and whole"]
        assert thought.followups[0]["content"] == "fetched: partial and whole"
        dc.interaction_timeout = 0.05
        late = dc.send_slash(world.general, world.bob, "slow")
        await dc.wait_for(lambda: errors)
    assert isinstance(errors[0], discord.NotFound) and errors[0].code == 10062 and late.callbacks == []


async def test_typed_options_subcommands_and_a_file_reply(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    seen: dict[str, Any] = {}
    admin = app_commands.Group(name="admin", description="Bot admin")

    @admin.command(name="grant", description="Give credits")
    async def grant(
        interaction: discord.Interaction,
        user: discord.Member,
        channel: discord.TextChannel,
        amount: app_commands.Range[int, 1, 100],
        note: discord.Attachment | None = None,
    ) -> None:
        seen.update(user=user, channel=channel, amount=amount, note=await note.read() if note else None)
        await interaction.response.send_message("granted", file=discord.File(io.BytesIO(b"receipt"), "r.txt"))

    tree.add_command(admin)
    async with running(client, dc):
        await tree.sync()
        it = dc.send_slash(
            world.general,
            world.alice,
            "admin grant",
            {"user": world.bob, "channel": world.general, "amount": 5, "note": ("n.txt", b"hi")},
        )
        await dc.wait_for(lambda: it.original is not None)
        with pytest.raises(AssertionError, match="breaks max_value"):
            dc.send_slash(
                world.general,
                world.alice,
                "admin grant",
                {"user": world.bob, "channel": world.general, "amount": 500},
            )
        with pytest.raises(AssertionError, match="needs a subcommand"):
            dc.send_slash(world.general, world.alice, "admin")
    assert isinstance(seen["user"], discord.Member) and seen["user"].id == world.bob
    assert seen["channel"].id == world.general and seen["amount"] == 5 and seen["note"] == b"hi"
    assert it.original is not None and it.original["attachments"][0]["filename"] == "r.txt"
    assert it.payload["data"]["options"][0]["name"] == "grant"
    assert dc.calls_to("POST", r"/interactions/.*/callback")[0].files[0]["data"] == b"receipt"


async def test_autocomplete_returns_choices(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)

    async def models(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = ["venice-uncensored", "venice-large", "qwen"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @tree.command(name="model", description="Pick a model")
    @app_commands.autocomplete(name=models)
    async def model(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"model {name}")

    async with running(client, dc):
        await tree.sync()
        it = dc.send_autocomplete(world.general, world.alice, "model", "name", "ven")
        await dc.wait_for(lambda: it.choices is not None)
    assert it.choices == [
        {"name": "venice-uncensored", "value": "venice-uncensored"},
        {"name": "venice-large", "value": "venice-large"},
    ]
    assert [kind for kind, _ in it.callbacks] == [8]


async def test_button_click_updates_the_message(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    clicks: list[str] = []

    class Retry(discord.ui.View):
        @discord.ui.button(label="Retry", custom_id="retry")
        async def retry(self, interaction: discord.Interaction, button: discord.ui.Button[Retry]) -> None:
            clicks.append(interaction.user.name)
            await interaction.response.edit_message(content="retried", view=None)

    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("answer", view=Retry(timeout=None))  # a timeout would leave a task running
        it = dc.send_component(world.general, world.alice, sent.id, "retry")
        await dc.wait_for(lambda: it.callbacks)
    assert clicks == ["alice"] and [kind for kind, _ in it.callbacks] == [7]
    assert dc.messages(world.general)[0]["content"] == "retried"
    assert dc.messages(world.general)[0]["components"] == []


# ---- threads, DMs, uploads -------------------------------------------------------------------------


async def test_thread_from_a_message(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    created: list[discord.Thread] = []

    async def on_thread_create(thread: discord.Thread) -> None:
        created.append(thread)

    client.event(on_thread_create)
    async with running(client, dc):
        dc.send_message(world.general, world.alice, "start a thread")
        await dc.wait_for(lambda: received)
        thread = await received[0].create_thread(name="Venice chat")
        assert thread.id == received[0].id and thread.parent_id == world.general
        await dc.wait_for(lambda: created)
        assert client.get_channel(thread.id) is created[0]
        await thread.send("in the thread")
        dc.send_message(thread.id, world.alice, "a reply in the thread")
        await dc.wait_for(lambda: any(m.content == "a reply in the thread" for m in received))
        inside = received[-1]
        assert isinstance(inside.channel, discord.Thread) and inside.channel.id == thread.id
        assert inside.channel.parent_id == world.general
        assert [m["content"] for m in dc.messages(thread.id)] == ["in the thread", "a reply in the thread"]
        with pytest.raises(discord.HTTPException) as twice:
            await received[0].create_thread(name="again")
        assert twice.value.code == 160004
    assert dc.channels[thread.id]["type"] == 11


async def test_direct_messages_both_ways(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        assert interaction.guild is None and isinstance(interaction.user, discord.User)
        await interaction.response.send_message("pong")

    async with running(client, dc):
        user = await client.fetch_user(world.alice)
        opened = await user.send("hello from the bot")
        dm = dc.dm_channels[world.alice]
        assert opened.channel.id == dm and dc.messages(dm)[0]["content"] == "hello from the bot"
        dc.send_message(dm, world.alice, "hello bot")
        await dc.wait_for(lambda: any(m.content == "hello bot" for m in received))
        message = received[-1]
        assert message.guild is None and isinstance(message.channel, discord.DMChannel)
        await message.channel.send("hi back")
        await tree.sync()
        it = dc.send_slash(dm, world.alice, "ping")  # a slash command in the bot's DM: user, not member
        await dc.wait_for(lambda: it.original is not None)
        dc.closed_dms.add(world.alice)
        with pytest.raises(discord.Forbidden) as closed:
            await message.channel.send("again")
        assert closed.value.code == 50007
    assert [m["content"] for m in dc.messages(dm)] == ["hello from the bot", "hello bot", "hi back", "pong"]


async def test_uploads_and_attachments(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            "here",
            files=[
                discord.File(io.BytesIO(b"hello"), filename="a.txt"),
                discord.File(io.BytesIO(b"\x89PNG"), filename="b.png"),
            ],
        )
        call = dc.calls_to("POST", rf"/channels/{world.general}/messages")[-1]
        assert call.json["content"] == "here"
        assert [(f["field"], f["filename"], f["data"]) for f in call.files] == [
            ("files[0]", "a.txt", b"hello"),
            ("files[1]", "b.png", b"\x89PNG"),
        ]
        assert [a.filename for a in sent.attachments] == ["a.txt", "b.png"]
        assert await sent.attachments[0].read() == b"hello"  # from the fake CDN
        assert sent.attachments[1].content_type == "image/png"

        dc.send_message(world.general, world.alice, "look", attachments=[("cat.png", b"meow")])
        await dc.wait_for(lambda: any(m.content == "look" for m in received))
        assert await received[-1].attachments[0].read() == b"meow"
        dc.deny(world.general, Perm.ATTACH_FILES)
        await asyncio.sleep(0)
        with pytest.raises(discord.Forbidden):
            await channel.send(file=discord.File(io.BytesIO(b"x"), filename="x.txt"))


async def test_voice_messages_in_and_out(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    async with running(client, dc):
        dc.send_voice_message(
            world.general, world.alice, b"OggS-voice", duration=3.5, waveform=b"\x00\x80\xff"
        )
        await dc.wait_for(lambda: received)
        voice = received[0]
        attachment = voice.attachments[0]
        assert voice.flags.voice and voice.content == "" and attachment.is_voice_message()
        assert attachment.duration == 3.5 and attachment.waveform == b"\x00\x80\xff"
        assert attachment.content_type == "audio/ogg" and dc.downloads == []
        assert await attachment.read() == b"OggS-voice" and dc.downloads == [attachment.id]

        async def post(payload: dict[str, Any], files: int = 1) -> Any:
            form: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(payload)}]
            form += [
                {
                    "name": f"files[{i}]",
                    "value": b"OggS-reply",
                    "filename": "voice-message.ogg",
                    "content_type": "audio/ogg",
                }
                for i in range(files)
            ]
            route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=world.general)
            return await client.http.request(route, form=form)

        meta = {"id": 0, "filename": "voice-message.ogg", "duration_secs": 1.25, "waveform": "AID/"}
        sent = await post({"flags": 8192, "attachments": [meta]})
        stored = dc.messages(world.general)[-1]
        assert sent["id"] == stored["id"] and stored["flags"] == 8192 and stored["content"] == ""
        assert (
            stored["attachments"][0]["duration_secs"] == 1.25
            and stored["attachments"][0]["waveform"] == "AID/"
        )
        assert dc.attachment_data(stored["attachments"][0]) == b"OggS-reply"
        assert (
            dc.calls_to("POST", rf"/channels/{world.general}/messages")[-1].files[0]["data"] == b"OggS-reply"
        )
        refusals = [
            ({"flags": 8192, "content": "hi", "attachments": [meta]}, 1, 50159),
            ({"flags": 8192, "attachments": [meta, {**meta, "id": 1}]}, 2, 50160),
            ({"flags": 8192, "attachments": [{"id": 0, "filename": "v.ogg"}]}, 1, 50161),
        ]
        for payload, files, code in refusals:
            with pytest.raises(discord.HTTPException) as refused:
                await post(payload, files)
            assert refused.value.status == 400 and refused.value.code == code
        with pytest.raises(discord.HTTPException) as uneditable:
            await client.http.request(
                discord.http.Route(
                    "PATCH",
                    "/channels/{channel_id}/messages/{message_id}",
                    channel_id=world.general,
                    message_id=int(sent["id"]),
                ),
                json={"content": "text"},
            )
        assert uneditable.value.code == 50162
        dc.refuse_voice_messages = True
        with pytest.raises(discord.HTTPException) as forbidden_here:
            await post({"flags": 8192, "attachments": [meta]})
        assert forbidden_here.value.status == 400 and forbidden_here.value.code == 50173


async def test_nsfw_channels_big_uploads_and_the_size_limit(dc: FakeDiscord, world: World) -> None:
    adult = dc.add_channel(world.guild, "adult", nsfw=True)
    dc.attachment_size_limit = 1000
    client = make_client()
    received = collect_messages(client)
    tree = app_commands.CommandTree(client)
    limits: list[int] = []

    @tree.command(name="limit", description="Upload limit")
    async def limit(interaction: discord.Interaction) -> None:
        limits.append(interaction.filesize_limit)
        await interaction.response.send_message("ok")

    async with running(client, dc):
        await tree.sync()
        assert client.get_channel(adult).is_nsfw() and not client.get_channel(world.general).is_nsfw()
        it = dc.send_slash(world.general, world.alice, "limit")
        await dc.wait_for(lambda: it.original is not None)
        assert limits == [1000]
        with pytest.raises(discord.HTTPException) as too_big:
            await client.get_channel(world.general).send(
                file=discord.File(io.BytesIO(b"x" * 1001), "big.bin")
            )
        assert too_big.value.status == 413 and too_big.value.code == 40005
        dc.send_message(
            world.general,
            world.alice,
            "huge",
            attachments=[("huge.png", b"png", "image/png", {"size": 30_000_000})],
        )
        await dc.wait_for(lambda: any(m.content == "huge" for m in received))
        assert received[-1].attachments[0].size == 30_000_000 and dc.downloads == []


async def test_message_context_menu_opens_a_modal_that_is_submitted(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    seen: dict[str, Any] = {}

    class Prompt(discord.ui.Modal, title="Edit image"):
        prompt: discord.ui.TextInput[Prompt] = discord.ui.TextInput(label="How?", max_length=50)

        async def on_submit(self, interaction: discord.Interaction) -> None:
            seen["prompt"] = self.prompt.value
            await interaction.response.send_message(f"editing: {self.prompt.value}")

    async def edit(interaction: discord.Interaction, message: discord.Message) -> None:
        seen["target"] = message
        seen["image"] = await message.attachments[0].read()
        await interaction.response.send_modal(Prompt(timeout=None))

    tree.add_command(app_commands.ContextMenu(name="Edit image", callback=edit))
    async with running(client, dc):
        await tree.sync()
        synced = dc.synced_commands()
        assert [(c["name"], c["type"], c["description"]) for c in synced] == [("Edit image", 3, "")]
        target = dc.send_message(world.general, world.alice, "my cat", attachments=[("cat.png", b"meow")])
        with pytest.raises(AssertionError, match="no slash command /Edit is synced"):
            dc.send_slash(world.general, world.bob, "Edit image")
        menu = dc.send_context_menu(world.general, world.bob, "Edit image", int(target["id"]))
        await dc.wait_for(lambda: menu.modal is not None)
        assert menu.payload["data"]["type"] == 3 and menu.payload["data"]["target_id"] == target["id"]
        assert seen["target"].id == int(target["id"]) and seen["image"] == b"meow"
        assert menu.modal["title"] == "Edit image" and [kind for kind, _ in menu.callbacks] == [9]
        field = next(
            c for row in menu.modal["components"] for c in row.get("components") or [row.get("component")]
        )
        with pytest.raises(AssertionError, match="at most 50"):
            dc.submit_modal(menu.id, {field["custom_id"]: "x" * 51})
        submitted = dc.submit_modal(menu.id, {field["custom_id"]: "make it blue"})
        await dc.wait_for(lambda: submitted.original is not None)
    assert seen["prompt"] == "make it blue" and submitted.type == 5
    assert submitted.original["content"] == "editing: make it blue"


# ---- rate limits, failures, the wire ---------------------------------------------------------------


async def test_a_429_is_waited_out_by_discord_py(dc: FakeDiscord, world: World) -> None:
    async with running(make_client(), dc) as client:
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        dc.rate_limit(rf"/channels/{world.general}/messages", 0.2)
        started = time.monotonic()
        await channel.send("patience")
        waited = time.monotonic() - started
    calls = dc.calls_to("POST", rf"/channels/{world.general}/messages")
    assert [c.status for c in calls] == [429, 200] and waited >= 0.2
    assert calls[1].time - calls[0].time >= 0.2
    assert dc.messages(world.general)[0]["content"] == "patience"


async def test_scripted_failures_and_unknown_routes(dc: FakeDiscord, world: World) -> None:
    async with running(make_client(), dc) as client:
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        dc.fail("POST", r"/channels/\d+/messages", 403)
        with pytest.raises(discord.Forbidden):
            await channel.send("no")
        dc.fail("*", r"/channels/\d+/messages", 400, {"message": "scripted", "code": 12345})
        with pytest.raises(discord.HTTPException) as scripted:
            await channel.send("no")
        assert scripted.value.code == 12345
        with pytest.raises(discord.NotFound):
            await channel.fetch_message(1)
        with pytest.raises(discord.HTTPException):
            await client.http.request(
                discord.http.Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=world.guild)
            )
    assert dc.unknown_routes == [f"GET /guilds/{world.guild}/audit-logs"]

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{dc.api_base}/users/@me", headers={"Authorization": f"Bot {dc.token}"}) as r:
            assert r.headers["Content-Type"] == "application/json" and (await r.json())["bot"] is True
        async with session.get(f"{dc.api_base}/users/@me", headers={"Authorization": "Bot wrong"}) as r:
            assert r.status == 401
        async with session.get(f"{dc.api_base}/gateway") as r:
            assert (await r.json()) == {"url": dc.gateway_url}


async def test_patch_discord_points_discord_py_here_and_restores() -> None:
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord() as fake:
        async with fake.patch_discord():
            assert discord.http.Route("GET", "/users/@me").url == f"{fake.api_base}/users/@me"
            assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
        assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


async def test_wrong_token_fails_login(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


async def test_privileged_intent_not_enabled_closes_with_4014(dc: FakeDiscord, world: World) -> None:
    dc.allowed_intents = Intent.ALL & ~Intent.MESSAGE_CONTENT
    client = make_client()
    await client.login(dc.token)
    with pytest.raises(
        discord.PrivilegedIntentsRequired
    ):  # with reconnect=False: ConnectionClosed, code 4014
        await client.connect()
    await client.close()


async def test_without_message_content_only_mentions_have_content(dc: FakeDiscord, world: World) -> None:
    client = make_client(message_content=False)
    received = collect_messages(client)
    async with running(client, dc):
        dc.send_message(world.general, world.alice, "secret")
        dc.send_message(world.general, world.alice, f"<@{dc.bot_id}> visible")
        await dc.wait_for(lambda: len(received) == 2)
    assert [m.content for m in received] == ["", f"<@{dc.bot_id}> visible"]


async def test_members_intent_chunks_and_later_changes_arrive(dc: FakeDiscord, world: World) -> None:
    voice = dc.add_channel(world.guild, "Lounge", type=2)
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)
    async with running(client, dc):
        guild = client.get_guild(world.guild)
        assert (
            guild is not None and guild.chunked and {m.id for m in guild.members} >= {world.alice, world.bob}
        )
        assert isinstance(client.get_channel(voice), discord.VoiceChannel)
        carol = dc.add_user("Carol")
        dc.add_member(world.guild, carol)
        later = dc.add_guild("Later")
        later_channel = dc.add_channel(later, "news")
        await dc.wait_for(
            lambda: guild.get_member(carol) is not None and client.get_channel(later_channel) is not None
        )


async def test_reconnect_resumes_the_session(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    async with running(client, dc):
        dc.request_reconnect()
        dc.send_message(world.general, world.alice, "sent while reconnecting")  # replayed on RESUME
        await dc.wait_for(lambda: dc.resumes == 1 and received)
        dc.send_message(world.general, world.alice, "after the resume")
        await dc.wait_for(lambda: len(received) == 2)
    assert [m.content for m in received] == ["sent while reconnecting", "after the resume"]
    assert len(dc.identifies) == 1


async def test_auto_sharded_client_follows_gateway_bot(dc: FakeDiscord, world: World) -> None:
    dc.shards = 2
    others = [dc.add_guild(f"guild {n}") for n in range(6)]

    class Sharded(discord.AutoShardedClient):
        async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
            pass  # discord.py waits 5 s between IDENTIFYs, Discord's concurrency limit

    intents = discord.Intents.default()
    async with running(Sharded(intents=intents, guild_ready_timeout=0.1), dc) as client:
        assert client.shard_count == 2
        assert sorted(d["shard"] for d in dc.identifies) == [[0, 2], [1, 2]]
        assert {g.id for g in client.guilds} == {world.guild, *others}
        assert all(g.shard_id == (g.id >> 22) % 2 for g in client.guilds)
    assert len(dc.calls_to("GET", "/gateway/bot")) == 1


# ---- webhooks --------------------------------------------------------------------------------------


async def test_webhooks_need_manage_webhooks_and_follow_discords_rules(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    updates: list[int] = []

    async def on_webhooks_update(channel: discord.abc.GuildChannel) -> None:
        updates.append(channel.id)

    client.event(on_webhooks_update)
    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as refused:
            await channel.webhooks()
        assert refused.value.code == 50013 and not channel.permissions_for(channel.guild.me).manage_webhooks
        dc.allow(world.general, Perm.MANAGE_WEBHOOKS)
        await dc.wait_for(lambda: channel.permissions_for(channel.guild.me).manage_webhooks)
        made = await channel.create_webhook(name="venice-bots")
        (listed,) = await channel.webhooks()
        assert listed.id == made.id and listed.token == made.token and listed.user is not None
        assert listed.user.id == dc.bot_id and listed.channel_id == world.general
        with pytest.raises(discord.HTTPException) as bad_name:
            await channel.create_webhook(name="Discord helper")
        assert bad_name.value.code == 50035
        dc.max_webhooks = 1
        with pytest.raises(discord.HTTPException) as too_many:
            await channel.create_webhook(name="another")
        assert too_many.value.code == 30007
        await dc.wait_for(lambda: updates == [world.general])  # WEBHOOKS_UPDATE for the one made
        await made.delete()
        assert dc.webhooks_of(world.general) == []
        with pytest.raises(discord.NotFound) as gone:
            await made.send("anyone?", wait=True)
        assert gone.value.code == 10015


async def test_a_webhook_posts_under_any_name_and_edits_its_messages(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    received = collect_messages(client)
    dc.allow(world.general, Perm.MANAGE_WEBHOOKS)
    thread_id = dc.add_thread(world.general, "side talk", owner_id=world.alice)
    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        webhook = await channel.create_webhook(name="venice-bots")
        sent = await webhook.send(
            "I am here.", username="Sherlock Holmes", avatar_url="https://example.org/s.png", wait=True
        )
        await dc.wait_for(lambda: received)
        assert sent.author.name == "Sherlock Holmes" and sent.webhook_id == webhook.id
        seen = received[0]
        assert seen.author.bot and seen.webhook_id == webhook.id and seen.application_id == dc.application_id
        assert isinstance(seen.author, discord.User)  # a webhook is no member
        stored = dc.messages(world.general)[0]
        assert dc.avatar_url_of(stored) == "https://example.org/s.png" and stored["author"]["avatar"]
        await webhook.edit_message(sent.id, content="I am still here.")
        assert dc.edits_of(world.general, sent.id) == ["I am here.", "I am still here."]

        thread = channel.get_thread(thread_id)
        assert thread is not None
        in_thread = await webhook.send("In the thread.", username="Sherlock Holmes", thread=thread, wait=True)
        assert in_thread.channel.id == thread_id and dc.messages(thread_id)[0]["content"] == "In the thread."
        with pytest.raises(discord.NotFound):  # a message in a thread is edited with its thread_id
            await webhook.edit_message(in_thread.id, content="edited")
        await webhook.edit_message(in_thread.id, content="edited", thread=thread)
        assert dc.messages(thread_id)[0]["content"] == "edited"
        with pytest.raises(discord.HTTPException) as bad_name:
            await webhook.send("hi", username="clyde", wait=True)
        assert bad_name.value.code == 50035
        wrong = discord.Webhook.partial(webhook.id, "not-the-token", client=client)
        with pytest.raises(discord.HTTPException) as unauthorized:
            await wrong.send("hi", wait=True)
        assert unauthorized.value.status == 401 and unauthorized.value.code == 50027
    assert dc.unknown_routes == []


async def test_only_a_webhook_the_application_made_keeps_its_buttons(dc: FakeDiscord, world: World) -> None:
    client = make_client()
    dc.allow(world.general, Perm.MANAGE_WEBHOOKS)
    theirs = dc.add_webhook(world.general, "Server announcements", by=world.bob)

    def buttons() -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Retry", custom_id="retry"))
        view.add_item(discord.ui.Button(label="Docs", url="https://example.org/docs"))
        return view

    async with running(client, dc):
        channel = client.get_channel(world.general)
        assert isinstance(channel, discord.TextChannel)
        mine = await channel.create_webhook(name="venice-bots")
        own = await mine.send("mine", view=buttons(), wait=True)
        listed = {w.id: w for w in await channel.webhooks()}
        assert listed[int(theirs["id"])].token == theirs["token"]  # an incoming webhook's token is shown
        other = await listed[int(theirs["id"])].send("theirs", view=buttons(), wait=True)
        plain = await mine.send("no with_components", wait=True)
        await mine.edit_message(plain.id, content="still none")
    shown = {m["content"]: m for m in dc.messages(world.general)}
    assert [c.get("custom_id") or c.get("url") for c in shown["mine"]["components"][0]["components"]] == [
        "retry",
        "https://example.org/docs",
    ]
    assert [c.get("url") for c in shown["theirs"]["components"][0]["components"]] == [
        "https://example.org/docs"
    ]
    assert "application_id" not in shown["theirs"] and shown["mine"]["application_id"] == str(
        dc.application_id
    )
    assert own.id != other.id and shown["still none"]["components"] == []
    with pytest.raises(AssertionError):  # nothing to press on the other webhook's message
        dc.send_component(world.general, world.alice, other.id, "retry")
