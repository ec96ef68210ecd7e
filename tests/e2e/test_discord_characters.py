"""Characters on Discord end to end: the real discord.py against the fake Discord (REST + gateway over real
sockets), the real core, and the fake Venice over HTTP. A bound channel's answers come through the bot's
channel webhook under the character's name and face; without Manage Webhooks they are the bot's own, headed
by the name, and the server's owner hears why once. Search results are buttons (or select menus when there
are many) that bind; adult characters need an NSFW channel; the query autocompletes; cards import."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.fakes.discord import FakeDiscord, Perm
from tests.fakes.venice import ChatScript, FakeVenice

SHERLOCK_PHOTO = "https://outerface.venice.ai/api/characters/8d3c2f3e-1b7a-4a55-9a1e-5b1f1a3c9e21/photo"
EPHEMERAL = 64


def server(dc: FakeDiscord, *, webhooks: bool = True, nsfw: bool = False) -> tuple[int, int, int, int]:
    """A server with #roleplay, an admin (Manage Server) and a member: (guild, channel, admin, member)."""
    guild = dc.add_guild("Baker Street")
    channel = dc.add_channel(guild, "roleplay", nsfw=nsfw)
    admin, member = dc.add_user("hudson"), dc.add_user("watson")
    dc.add_member(guild, admin, permissions=Perm.MANAGE_GUILD)
    dc.add_member(guild, member)
    if webhooks:
        dc.allow(channel, Perm.MANAGE_WEBHOOKS)
    return guild, channel, admin, member


def spoken(dc: FakeDiscord, channel: int, name: str = "Sherlock Holmes") -> list[dict[str, Any]]:
    """The messages posted through a webhook under ``name``."""
    return [
        m
        for m in dc.messages(channel)
        if m.get("webhook_id")
        and m["author"]["username"] == name
        and int(m["author"]["id"]) != dc.application_id
    ]


def bot_messages(dc: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [
        m
        for m in dc.messages(channel)
        if int(m["author"]["id"]) == dc.bot_id
        and not m["flags"] & 128
        and m.get("interaction_metadata") is None
    ]


def chat_calls(venice: FakeVenice) -> list[Any]:
    return venice.calls_to("/chat/completions")


async def answered(dc: FakeDiscord, interaction_id: int, timeout: float = 10.0) -> dict[str, Any]:
    record = dc.interaction(interaction_id)
    await dc.wait_for(lambda: record.original is not None and not record.deferred, timeout=timeout)
    assert record.original is not None
    return record.original


def component_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"] if c.get("custom_id")]


async def test_a_bound_channel_answers_through_the_webhook_in_the_characters_name(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, member = server(dc)
    venice.script.extend(
        [
            ChatScript(content="Elementary, my dear Watson. " * 3, chunk_delay=0.02),
            ChatScript(content="You have been in Afghanistan, I perceive."),
            ChatScript(content="Let me think again: Afghanistan."),
        ]
    )
    async with start_discord():
        bind = dc.send_slash(channel, admin, "character", {"action": "set", "query": "sherlock-holmes"})
        await dc.wait_for(lambda: bool(spoken(dc, channel)))
        greeting = spoken(dc, channel)[0]
        note = await answered(dc, bind.id)

        dc.send_message(channel, member, f"<@{dc.bot_id}> Who are you?")
        await dc.wait_for(
            lambda: any("Elementary" in m["content"] and m["components"] for m in spoken(dc, channel))
        )
        dc.send_message(channel, member, "What can you tell about me?")  # no mention: a roleplay channel
        await dc.wait_for(
            lambda: any(
                "Afghanistan, I perceive" in m["content"] and m["components"] for m in spoken(dc, channel)
            )
        )
        newest = spoken(dc, channel)[-1]
        dc.send_component(
            channel, member, int(newest["id"]), "venice:retry"
        )  # Regenerate on a webhook message
        await dc.wait_for(lambda: any("think again" in m["content"] for m in spoken(dc, channel)))

    assert greeting["content"].startswith("*Sherlock Holmes is here.*")
    assert dc.avatar_url_of(greeting) == SHERLOCK_PHOTO and greeting["author"]["bot"]
    assert "Sherlock Holmes" in note["content"] and not note["flags"] & EPHEMERAL
    assert not bot_messages(dc, channel)  # every answer came through the webhook
    (webhook,) = dc.webhooks_of(channel)
    assert webhook["name"] == "venice-bots" and webhook["application_id"] == str(dc.application_id)
    assert {m["webhook_id"] for m in spoken(dc, channel)} == {webhook["id"]}
    streamed = next(m for m in spoken(dc, channel) if "Elementary" in m["content"])
    assert len(dc.edits_of(channel, int(streamed["id"]))) > 1  # streamed by editing the webhook message
    assert dc.calls_to("PATCH", rf"/webhooks/{webhook['id']}/[^/]+/messages/\d+")
    # Looked up once and kept: no extra REST call per answer.
    assert len(dc.calls_to("GET", rf"/channels/{channel}/webhooks")) == 1
    assert len(dc.calls_to("POST", rf"/channels/{channel}/webhooks")) == 1
    calls = chat_calls(venice)
    assert len(calls) == 3
    assert all(c.body["venice_parameters"]["character_slug"] == "sherlock-holmes" for c in calls)
    assert calls[0].body["messages"][-1]["content"].endswith("Who are you?")
    assert "watson" in calls[1].body["messages"][-1]["content"]  # the speaker's name reaches the model


async def test_without_manage_webhooks_the_bot_speaks_for_the_character_and_the_owner_hears_once(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, channel, admin, member = server(dc, webhooks=False)
    owner = int(dc.guilds[guild]["owner_id"])
    venice.script.extend([ChatScript(content="The game is afoot."), ChatScript(content="Quite so.")])
    async with start_discord():
        bind = dc.send_slash(channel, admin, "character", {"action": "set", "query": "sherlock-holmes"})
        note = await answered(dc, bind.id)
        await dc.wait_for(lambda: len(bot_messages(dc, channel)) == 1)
        dc.send_message(channel, member, f"<@{dc.bot_id}> Anything?")
        await dc.wait_for(
            lambda: any("The game is afoot." in m["content"] for m in bot_messages(dc, channel))
        )
        dc.send_message(channel, member, f"<@{dc.bot_id}> And now?")
        await dc.wait_for(lambda: any("Quite so." in m["content"] for m in bot_messages(dc, channel)))
        dm = dc.dm_channels.get(owner)
        await dc.wait_for(lambda: dm is not None or owner in dc.dm_channels)

    greeting, first, _second = bot_messages(dc, channel)
    assert greeting["content"].startswith("**Sherlock Holmes**\n*Sherlock Holmes is here.*")
    assert first["content"].startswith("**Sherlock Holmes**\nThe game is afoot.")
    assert first["components"]  # Regenerate, on the bot's own message
    assert "Manage Webhooks" in note["content"]  # the admin who bound it sees why
    (notice,) = dc.messages(dc.dm_channels[owner])  # one notice to the owner, not one per message
    assert "Manage Webhooks" in notice["content"] and "#roleplay" in notice["content"]
    assert not spoken(dc, channel) and not dc.calls_to(
        "*", r"/channels/\d+/webhooks"
    )  # no calls bound to fail
    assert all(c.body["venice_parameters"]["character_slug"] == "sherlock-holmes" for c in chat_calls(venice))


async def test_character_search_shows_buttons_and_pressing_one_binds_it(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, _member = server(dc)
    async with start_discord():
        search = dc.send_slash(channel, admin, "character", {"action": "search"})
        listing = await answered(dc, search.id)
        ids = component_ids(listing)
        dc.send_component(channel, admin, int(listing["id"]), "venice:cmd:/character set sherlock-holmes")
        await dc.wait_for(lambda: bool(spoken(dc, channel)))
        await dc.wait_for(
            lambda: "Sherlock Holmes" in (dc.interaction(search.id).original or {}).get("content", "")
        )

    assert listing["flags"] & EPHEMERAL  # a search is the asker's business
    assert "venice:cmd:/character set sherlock-holmes" in ids
    assert len(ids) == 12  # fourteen characters, the two adult ones not offered in a normal channel
    assert not any("velvet" in i or "lilith" in i for i in ids)
    assert spoken(dc, channel)[0]["content"].startswith("*Sherlock Holmes is here.*")
    assert dc.interaction(search.id).original["components"] == []  # pressed once: the list is done


async def test_many_search_results_come_as_select_menus_and_picking_one_binds_it(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, _member = server(dc)
    sherlock = next(c for c in venice.characters if c["slug"] == "sherlock-holmes")
    venice.characters += [
        dict(sherlock, slug=f"holmes-{n}", name=f"Holmes No. {n}", id=f"holmes-{n}") for n in range(30)
    ]
    async with start_discord():
        search = dc.send_slash(channel, admin, "character", {"action": "search", "query": "holmes"})
        listing = await answered(dc, search.id)
        selects = [c for row in listing["components"] for c in row["components"]]
        options = [o["value"] for select in selects for o in select["options"]]
        dc.send_component(
            channel,
            admin,
            int(listing["id"]),
            selects[1]["custom_id"],
            component_type=3,
            values=["/character set holmes-29"],
        )
        await dc.wait_for(lambda: bool(spoken(dc, channel, "Holmes No. 29")))

    assert [s["type"] for s in selects] == [3, 3]  # 31 results: two menus of at most 25
    assert len(options) == 31 and options[0] == "/character set sherlock-holmes"
    assert "(26–31)" in selects[1]["placeholder"]


async def test_an_adult_character_needs_an_nsfw_channel(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    guild, channel, admin, _member = server(dc)
    after_dark = dc.add_channel(guild, "after-dark", nsfw=True)
    dc.allow(after_dark, Perm.MANAGE_WEBHOOKS)
    async with start_discord():
        refused = dc.send_slash(channel, admin, "character", {"action": "set", "query": "velvet-lounge-host"})
        refusal = await answered(dc, refused.id)
        allowed = dc.send_slash(
            after_dark, admin, "character", {"action": "set", "query": "velvet-lounge-host"}
        )
        await dc.wait_for(lambda: bool(spoken(dc, after_dark, "Velvet, Lounge Host")))
        await answered(dc, allowed.id)

    assert "adult character" in refusal["content"] and "NSFW" in refusal["content"]
    assert not spoken(dc, channel, "Velvet, Lounge Host")


async def test_the_character_query_autocompletes(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, _member = server(dc)
    async with start_discord():
        typed = dc.send_autocomplete(channel, admin, "character", "query", "sherl", options={"action": "set"})
        await dc.wait_for(lambda: dc.interaction(typed.id).choices is not None)
    assert {"name": "Sherlock Holmes", "value": "sherlock-holmes"} in (dc.interaction(typed.id).choices or [])


async def test_a_card_attached_to_persona_import_becomes_a_persona_that_speaks_with_its_avatar(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, _member = server(dc)
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Irene Adler",
            "description": "{{char}} outwits {{user}}.",
            "personality": "sharp",
            "scenario": "London, 1888",
            "first_mes": "Good evening, {{user}}.",
            "mes_example": "",
            "alternate_greetings": [],
            "system_prompt": "",
            "post_history_instructions": "",
            "extensions": {},
            "tags": [],
            "creator": "",
            "character_version": "",
            "creator_notes": "",
        },
    }
    async with start_discord(admin_user_ids=f"discord:{admin}"):
        persona = dc.send_slash(
            channel, admin, "persona", {"action": "import", "card": ("irene.json", json.dumps(card).encode())}
        )
        imported = await answered(dc, persona.id)
        dc.send_slash(
            channel,
            admin,
            "persona",
            {"action": "edit", "name": "Irene Adler", "avatar": "https://example.org/irene.png"},
        )
        await dc.wait_for(
            lambda: any("updated" in (i.original or {}).get("content", "") for i in dc.interactions.values())
        )
        dc.send_slash(channel, admin, "character", {"action": "set", "query": "Irene Adler"})
        await dc.wait_for(lambda: bool(spoken(dc, channel, "Irene Adler")))

    assert "Imported Irene Adler" in imported["content"]
    greeting = spoken(dc, channel, "Irene Adler")[0]
    assert greeting["content"] == "Good evening, hudson."
    assert dc.avatar_url_of(greeting) == "https://example.org/irene.png"
    assert dc.downloads  # the card was fetched from Discord's CDN


async def test_a_thread_speaks_through_its_channels_webhook_which_is_made_again_when_deleted(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, member = server(dc)
    thread = dc.add_thread(channel, "case files", owner_id=member)
    venice.script.extend([ChatScript(content="In the thread."), ChatScript(content="Still here.")])
    async with start_discord():
        dc.send_slash(thread, admin, "character", {"action": "set", "query": "sherlock-holmes"})
        await dc.wait_for(lambda: bool(spoken(dc, thread)))
        dc.send_message(thread, member, "Holmes?")
        await dc.wait_for(lambda: any("In the thread." in m["content"] for m in spoken(dc, thread)))
        (first,) = dc.webhooks_of(channel)
        dc.remove_webhook(int(first["id"]))  # an admin tidies up the integrations
        dc.send_message(thread, member, "Are you there?")
        await dc.wait_for(lambda: any("Still here." in m["content"] for m in spoken(dc, thread)))

    (second,) = dc.webhooks_of(channel)
    assert second["id"] != first["id"]
    assert not spoken(dc, channel)  # all of it in the thread, none in its channel
    posts = dc.calls_to("POST", r"/webhooks/\d+/[^/]+")
    assert posts and all(c.query.get("thread_id") == str(thread) for c in posts)


async def test_after_clear_a_reply_to_the_characters_message_reaches_the_bot_itself(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    _guild, channel, admin, member = server(dc)
    venice.script.append(ChatScript(content="Back to normal."))
    async with start_discord():
        dc.send_slash(channel, admin, "character", {"action": "set", "query": "sherlock-holmes"})
        await dc.wait_for(lambda: bool(spoken(dc, channel)))
        clear = dc.send_slash(channel, admin, "character", {"action": "clear"})
        assert "has left" in (await answered(dc, clear.id))["content"]
        dc.send_message(channel, member, "talking among ourselves")  # no longer a roleplay channel: ignored
        dc.send_message(channel, member, "and you?", reply_to=int(spoken(dc, channel)[0]["id"]))
        await dc.wait_for(lambda: any("Back to normal." in m["content"] for m in bot_messages(dc, channel)))

    assert len(chat_calls(venice)) == 1
    assert (
        "venice_parameters" not in chat_calls(venice)[0].body
        or "character_slug" not in chat_calls(venice)[0].body["venice_parameters"]
    )


async def test_persona_takes_a_card_option_and_a_png_card_sent_in_a_dm_is_imported(
    dc: FakeDiscord, venice: FakeVenice, start_discord: Any
) -> None:
    admin = dc.add_user("mycroft")
    dm = dc.add_dm(admin)
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": "Mrs Hudson", "description": "The landlady of 221B.", "first_mes": "Tea, {{user}}?"},
    }
    image = Image.new("RGB", (8, 8), "white")
    info = PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode()).decode())
    png = io.BytesIO()
    image.save(png, "PNG", pnginfo=info)
    async with start_discord(admin_user_ids=f"discord:{admin}"):
        commands = {c["name"]: {o["name"]: o for o in c.get("options", [])} for c in dc.synced_commands()}
        dc.send_message(
            dm, admin, "/persona import", attachments=[("hudson.png", png.getvalue(), "image/png")]
        )
        await dc.wait_for(lambda: any("Imported Mrs Hudson" in m["content"] for m in bot_messages(dc, dm)))
        dc.send_message(dm, admin, "/character set Mrs Hudson")
        await dc.wait_for(lambda: any(m["content"] == "Tea, mycroft?" for m in bot_messages(dc, dm)))

    assert commands["persona"]["card"]["type"] == 11  # an attachment option
    assert not commands["persona"]["card"].get("required")
    assert commands["character"]["query"]["autocomplete"] is True
    assert not dc.calls_to("*", r"/channels/\d+/webhooks")  # a DM has no webhooks: the bot speaks plainly
