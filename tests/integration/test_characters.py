"""Characters and personas through the core against the fake Venice: search, bind, greet,
speak in character, cards, memory per scene or per user, adult gating, switching back."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.errors import InvalidInput, PermissionDenied
from core.events import Attachment, Speaker
from tests.fakes.venice import ChatScript, FakeVenice
from tests.helpers import ask
from tests.integration.test_memory import add_tiny_model

ADMIN = {"platform": "telegram", "user_id": "42"}  # listed in ADMIN_USER_IDS below
GROUP = {"platform": "discord", "chat_id": "900", "is_direct": False, "nsfw": False}
BOT_ADMINS = {"admin_user_ids": "telegram:42"}

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Captain Vey",
        "description": "{{char}} is a weary starship captain who calls {{user}} 'cadet'.",
        "personality": "dry, loyal",
        "scenario": "The bridge of the Meridian, adrift.",
        "first_mes": "*{{char}} looks up.* Report, {{user}}.",
        "mes_example": "<START>\n{{user}}: Status?\n{{char}}: Grim. " + "Engines dead. " * 200,
        "alternate_greetings": ["Cadet. Sit."],
        "system_prompt": "",
        "post_history_instructions": "Answer as {{char}} in under 80 words.",
    },
}


def card_png(card: Any = CARD, *, chunk: str = "chara", raw: str | None = None) -> bytes:
    info = PngInfo()
    info.add_text(chunk, raw if raw is not None else base64.b64encode(json.dumps(card).encode()).decode())
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 40, 80)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def card_file(data: bytes, kind: str = "file") -> tuple[Attachment, ...]:
    mime = "image/png" if kind == "image" else "application/json"
    return (Attachment(kind, mime, data, filename="card"),)  # type: ignore[arg-type]


def system_of(call: Any) -> str:
    return "\n".join(m["content"] for m in call.body["messages"] if m["role"] == "system")


async def test_search_lists_characters_with_buttons_and_info_and_unknown_slugs_are_clear(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        found = await ask(service, "/character search detective")
        assert "Sherlock Holmes" in found.text and "sherlock-holmes" in found.text
        assert any(c.command == "/character set sherlock-holmes" for c in found.reply.choices)
        info = await ask(service, "/character info alan-watts")
        assert "Alan Watts" in info.text and "Philosophy" in info.text
        with pytest.raises(InvalidInput, match="Venice has no character 'nobody-here'.*search"):
            await ask(service, "/character info nobody-here")
        with pytest.raises(InvalidInput, match="Venice has no character"):
            await ask(service, "/character set nobody-here")
    assert venice.calls_to("/characters")[0].query["search"] == "detective"


async def test_search_counts_only_what_it_offers_and_says_how_many_adult_ones_are_hidden(
    make_service: Any, venice: FakeVenice
) -> None:
    adult = [c for c in venice.characters if c.get("adult")]
    assert len(adult) == 2 and len(venice.characters) == 14
    async with make_service() as service:
        safe = await ask(service, "/character search")  # a safe chat: adult ones cannot be used
        listed = [line for line in safe.text.splitlines() if line.startswith("• ")]
        assert len(safe.reply.choices) == 12 and len(listed) == 10
        assert "…and 2 more: see the buttons." in safe.text
        assert "🔞 2 adult characters hidden here" in safe.text
        for character in adult:
            assert character["slug"] not in safe.text
            assert not any(character["slug"] in c.command for c in safe.reply.choices)
        nsfw = await ask(service, "/character search", **{**GROUP, "nsfw": True})
        assert len(nsfw.reply.choices) == 14 and "…and 4 more: see the buttons." in nsfw.text
        assert "hidden" not in nsfw.text
        venice.characters[:] = adult
        only_adult = await ask(service, "/character search")
        assert only_adult.text.startswith("Only 2 adult characters match, and adult characters can only")
        assert not only_adult.reply.choices


async def test_a_bound_venice_character_greets_and_answers_in_character_until_cleared(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        bound = await ask(service, "/character set alan-watts")
        assert bound.reply.speaker is not None and bound.reply.speaker.name == "Alan Watts"
        assert "Alan Watts is here" in bound.text
        answer = await ask(service, "What is the self?")
        assert answer.reply.speaker is not None and answer.reply.speaker.name == "Alan Watts"
        await ask(service, "/character clear")
        plain = await ask(service, "And now?")
        assert plain.reply.speaker is None
    in_character, after = venice.calls_to("/chat/completions")
    assert in_character.body["venice_parameters"]["character_slug"] == "alan-watts"
    assert in_character.body["model"] == "venice-uncensored"  # the character's own model
    assert "character_slug" not in after.body["venice_parameters"]
    assert "What is the self?" not in json.dumps(after.body["messages"])  # its own conversation


async def test_switching_characters_starts_anew_and_switching_back_resumes(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service() as service:
        await ask(service, "/character set alan-watts")
        await ask(service, "Remember the word lantern.")
        await ask(service, "/character set sherlock-holmes")
        await ask(service, "Who are you?")
        back = await ask(service, "/character set alan-watts")
        assert "continues" in back.text
        await ask(service, "Which word?")
    calls = venice.calls_to("/chat/completions")
    assert "lantern" not in json.dumps(calls[1].body["messages"])  # Sherlock never heard it
    assert "lantern" in json.dumps(calls[2].body["messages"])  # Alan Watts remembers


async def test_adult_characters_only_where_the_chat_is_marked_adult(
    make_service: Any, venice: FakeVenice
) -> None:
    venice.characters[1]["adult"] = True  # sherlock-holmes, for this test
    async with make_service() as service:
        search = await ask(service, "/character search sherlock", **GROUP, is_chat_admin=True)
        assert search.text.startswith("Only 1 adult character matches 'sherlock', and adult characters")
        assert not search.reply.choices
        with pytest.raises(InvalidInput, match="adult character.*age-restricted"):
            await ask(service, "/character set sherlock-holmes", **GROUP, is_chat_admin=True)
        nsfw = {**GROUP, "nsfw": True, "chat_id": "901"}
        assert (
            await ask(service, "/character set sherlock-holmes", **nsfw, is_chat_admin=True)
        ).reply.speaker
        with pytest.raises(InvalidInput, match="/safemode off"):
            await ask(service, "/character set sherlock-holmes", platform="telegram", chat_id="5")
        await ask(service, "/safemode off", platform="telegram", chat_id="5")
        await ask(service, "/character set sherlock-holmes", platform="telegram", chat_id="5")


async def test_only_chat_admins_bind_and_only_bot_admins_make_personas(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(**BOT_ADMINS) as service:
        with pytest.raises(PermissionDenied):
            await ask(service, "/character set alan-watts", **GROUP)
        with pytest.raises(PermissionDenied):
            await ask(service, "/persona create Ada --prompt You are Ada.", platform="telegram", user_id="7")
        await ask(
            service,
            "/persona create Ada --prompt You are Ada, a patient maths tutor. --greeting Hello!",
            **ADMIN,
        )
        listed = await ask(service, "/persona list", platform="telegram", user_id="7")
        assert "Ada" in listed.text


async def test_persona_crud_and_its_voice_for_voice_replies(make_service: Any, venice: FakeVenice) -> None:
    async with make_service(**BOT_ADMINS) as service:
        await ask(
            service,
            "/persona create Ada --prompt You are {{char}}; you talk to {{user}}. "
            "--greeting Hi {{user}}! --voice af_bella",
            **ADMIN,
            user_name="Grace",
        )
        with pytest.raises(InvalidInput, match="already"):
            await ask(service, "/persona create ada --prompt again", **ADMIN)
        with pytest.raises(InvalidInput, match="no voice 'zz'"):
            await ask(service, "/persona edit Ada --voice zz", **ADMIN)
        await ask(service, "/persona edit Ada --greeting Welcome, {{user}}.", **ADMIN)
        greeting = await ask(service, "/character set Ada", **ADMIN, user_name="Grace")
        assert greeting.text == "Welcome, Grace." and greeting.reply.speaker == Speaker("Ada")
        await ask(service, "/voicemode on", **ADMIN)
        await ask(service, "Hello", **ADMIN, user_name="Grace")
        await ask(service, "/persona delete Ada", **ADMIN)
        after = await ask(service, "/character", **ADMIN)
        assert "No character is bound" in after.text
    chat = venice.calls_to("/chat/completions")[0]
    assert "You are Ada; you talk to Grace." in system_of(chat)
    assert venice.calls_to("/audio/speech")[0].body["voice"] == "af_bella"


@pytest.mark.parametrize(
    ("data", "kind"),
    # A JSON card comes as a document from Telegram and Discord (JSON is text the bot reads).
    [(json.dumps(CARD).encode(), "file"), (json.dumps(CARD).encode(), "document"), (card_png(), "image")],
)
async def test_a_card_is_imported_from_json_or_png_and_plays_its_character(
    make_service: Any, venice: FakeVenice, data: bytes, kind: str
) -> None:
    async with make_service(**BOT_ADMINS) as service:
        imported = await ask(service, "/persona import", attachments=card_file(data, kind), **ADMIN)
        assert "Imported Captain Vey" in imported.text and "It has 1 other greeting." in imported.text
        greeting = await ask(service, "/character set Captain Vey", **ADMIN, user_name="Ilo")
        assert greeting.text == "*Captain Vey looks up.* Report, Ilo."
        await ask(service, "Status?", **ADMIN, user_name="Ilo")
    messages = venice.calls_to("/chat/completions")[0].body["messages"]
    system = messages[0]["content"]
    assert "Captain Vey is a weary starship captain who calls Ilo 'cadet'." in system
    assert "Captain Vey's personality: dry, loyal" in system and "Scenario: The bridge" in system
    assert "Engines dead." in system  # room enough: the example dialogue is kept
    assert messages[-2] == {"role": "system", "content": "Answer as Captain Vey in under 80 words."}
    assert messages[-1]["content"] == "Status?"
    assert any(m["role"] == "assistant" and "Report, Ilo." in m["content"] for m in messages)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (card_png(chunk="comment"), "no `chara` text chunk"),
        (card_png(raw="%%% not base64 %%%"), "not valid base64"),
        (b'{"spec": "chara_card_v2", "data": {"description": "x"}}', "has no name"),
        (b'{"data": {"name": "Empty"}}', "says nothing about the character"),
        (b'{"name": "Broken", ', "not valid JSON"),
        (b'{"data": {"name": "Odd", "description": 42}}', "`description` must be text"),
        (b"GIF89a....", "not a character card"),
        (json.dumps({"data": {**CARD["data"], "creator_notes": "x" * (5 * 1024 * 1024)}}).encode(), "5.0 MB"),
    ],
)
async def test_a_broken_card_says_what_is_wrong_and_stores_nothing(
    make_service: Any, venice: FakeVenice, data: bytes, problem: str
) -> None:
    async with make_service(**BOT_ADMINS) as service:
        with pytest.raises(InvalidInput) as info:
            await ask(service, "/persona import", attachments=card_file(data), **ADMIN)
        assert problem in info.value.user_message
        assert "no personas yet" in (await ask(service, "/persona list", **ADMIN)).text


async def test_the_example_dialogue_is_dropped_first_when_the_context_is_tight(
    make_service: Any, venice: FakeVenice
) -> None:
    add_tiny_model(venice)  # 2,048 tokens of context
    async with make_service(**BOT_ADMINS, default_chat_model="tiny", reply_max_tokens=256) as service:
        await ask(service, "/persona import", attachments=card_file(json.dumps(CARD).encode()), **ADMIN)
        await ask(service, "/character set Captain Vey", **ADMIN)
        await ask(service, "Status?", **ADMIN)
    system = system_of(venice.calls_to("/chat/completions")[0])
    assert "Engines dead." not in system  # the example went first…
    assert "weary starship captain" in system and "Scenario:" in system  # …the character stayed


async def test_shared_scene_versus_memory_per_user_in_a_roleplay_channel(
    make_service: Any, venice: FakeVenice
) -> None:
    channel = {**GROUP, "is_chat_admin": True}
    async with make_service() as service:
        await ask(service, "/character set alan-watts", **channel)
        await ask(service, "My name is Bo and I like tea.", user_id="1", user_name="Bo", **channel)
        await ask(service, "What does Bo like?", user_id="2", user_name="Cy", **channel)
        await ask(service, "/memory per-user", **channel)
        await ask(service, "My secret is pumpkin.", user_id="1", user_name="Bo", **channel)
        await ask(service, "What is Bo's secret?", user_id="2", user_name="Cy", **channel)
    calls = venice.calls_to("/chat/completions")
    shared = json.dumps(calls[1].body["messages"])
    assert "[Bo] My name is Bo" in shared and "[Cy] What does Bo like?" in shared  # names reach it
    assert "pumpkin" not in json.dumps(calls[3].body["messages"])  # Cy's own scene
    assert "[Cy] What is Bo's secret?" in json.dumps(calls[3].body["messages"])  # still named
    assert calls[3].body["venice_parameters"]["character_slug"] == "alan-watts"


async def test_the_plain_bot_is_unchanged_without_a_character(make_service: Any, venice: FakeVenice) -> None:
    venice.script.append(ChatScript(content="Plain."))
    async with make_service() as service:
        reply = await ask(service, "Hi")
    assert reply.reply.speaker is None
    assert "character_slug" not in venice.calls_to("/chat/completions")[0].body["venice_parameters"]


async def test_a_cards_other_greetings_can_open_the_scene_instead_until_it_starts(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(**BOT_ADMINS) as service:
        await ask(service, "/persona import", attachments=card_file(json.dumps(CARD).encode()), **ADMIN)
        bound = await ask(service, "/character set Captain Vey", **ADMIN, user_name="Ilo")
        assert [c.command for c in bound.reply.choices] == ["/character greeting"]
        other = await ask(service, "/character greeting", **ADMIN, user_name="Ilo")
        assert other.text == "Cadet. Sit." and other.reply.speaker == Speaker("Captain Vey")
        again = await ask(service, "/character greeting", **ADMIN, user_name="Ilo")
        assert again.text == "*Captain Vey looks up.* Report, Ilo."  # round again
        await ask(service, "/character greeting", **ADMIN, user_name="Ilo")
        await ask(service, "Status?", **ADMIN, user_name="Ilo")
        with pytest.raises(InvalidInput, match="started already"):
            await ask(service, "/character greeting", **ADMIN, user_name="Ilo")
    messages = venice.calls_to("/chat/completions")[0].body["messages"]
    openers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert openers == ["Cadet. Sit."]  # the chosen greeting is the one the model sees


async def test_a_deleted_personas_chats_do_not_pick_up_the_next_persona(
    make_service: Any, venice: FakeVenice
) -> None:
    async with make_service(**BOT_ADMINS) as service:
        await ask(service, "/persona create Ada --prompt You are Ada.", **ADMIN)
        await ask(service, "/character set Ada", **ADMIN)
        await ask(service, "/persona delete Ada", **ADMIN)
        await ask(service, "/persona create Bea --prompt You are Bea.", **ADMIN)
        assert "No character is bound" in (await ask(service, "/character", **ADMIN)).text
