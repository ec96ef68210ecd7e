"""Characters and personas on Telegram end to end: the real python-telegram-bot Application over
HTTP against the fake Bot API, the real core, and the fake Venice's character catalogue."""

from __future__ import annotations

import re
from typing import Any

from adapters.telegram.reading import CARD_AS_PHOTO
from tests.e2e.telegram_support import (
    ALICE,
    BOB,
    GROUP,
    bomb_card,
    card,
    card_json,
    card_png,
    deep_card,
    slow,
    texts,
)
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venice import ChatScript, FakeVenice

PAGE = re.compile(r"\d+/\d+")


def now(tg: FakeTelegram, chat_id: int, message_id: int) -> dict[str, Any]:
    """A message of the chat as it is now (after edits)."""
    message = tg.message(chat_id, message_id)
    assert message is not None, f"message {message_id} is gone"
    return message


def rows(tg: FakeTelegram, chat_id: int, message_id: int) -> list[list[dict[str, Any]]]:
    """A message's inline keyboard as it is now, row by row."""
    keyboard: list[list[dict[str, Any]]] = (
        now(tg, chat_id, message_id).get("reply_markup", {}).get("inline_keyboard", [])
    )
    return keyboard


def choices(tg: FakeTelegram, chat_id: int, message_id: int) -> list[str]:
    """The labels of a message's buttons, without the page navigation."""
    return [
        b["text"]
        for b in tg.buttons(chat_id, message_id)
        if b["text"] not in ("◀", "▶") and not PAGE.fullmatch(b["text"])
    ]


def bold_heading(message: dict[str, Any]) -> str | None:
    """The bold first line of a message (a speaker's name above a group answer), if it has one."""
    for entity in message.get("entities", []):
        if entity["type"] == "bold" and entity["offset"] == 0:
            line = message["text"][: entity["length"]]
            return line if message["text"][entity["length"] :].startswith("\n") else None
    return None


async def answer(tg: FakeTelegram, chat_id: int, text: str, **where: Any) -> dict[str, Any]:
    """Send a message or command and wait for the bot's next text message; return it."""
    before = len(texts(tg, chat_id))
    tg.push_message(text, chat_id=chat_id, **where)
    await tg.wait_for(lambda: len(texts(tg, chat_id)) > before)
    return [m for m in tg.visible(chat_id) if "text" in m][before]


async def test_a_dm_binds_a_character_from_the_paged_search_buttons(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    slug_of = {c["name"]: c["slug"] for c in venice.characters}
    adult = {c["name"] for c in venice.characters if c["adult"]}
    venice.script.append(ChatScript(content="A pleasure to talk."))
    async with start_bot():
        results = await answer(tg, ALICE, "/character search")
        menu = results["message_id"]
        first = choices(tg, ALICE, menu)
        assert len(first) == 8 and [b["text"] for b in rows(tg, ALICE, menu)[-1]] == ["1/2", "▶"]

        tg.press("▶", chat_id=ALICE, message_id=menu)  # "next page": the same message shows the rest
        await tg.wait_for_call("editMessageReplyMarkup", message_id=menu)
        second = choices(tg, ALICE, menu)
        assert [b["text"] for b in rows(tg, ALICE, menu)[-1]] == ["◀", "2/2"]
        assert second and not set(first) & set(second)
        assert set(first) | set(second) == set(slug_of) - adult  # every character but the adult ones

        chosen = second[0]
        tg.press(chosen, chat_id=ALICE, message_id=menu)
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        greeting = tg.visible(ALICE)[-1]
        assert greeting["text"].startswith(f"{chosen} is here.")
        assert bold_heading(greeting) is None  # a DM shows no name above the answer

        reply = await answer(tg, ALICE, "Hello there")
    assert reply["text"] == "A pleasure to talk." and bold_heading(reply) is None
    request = venice.calls_to("/chat/completions")[-1].body
    assert request["venice_parameters"]["character_slug"] == slug_of[chosen]
    assert all(c.params.get("text") is None for c in tg.calls_to("answerCallbackQuery"))  # no error toast


async def test_in_a_group_only_admins_bind_and_answers_carry_the_characters_name(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    content = "The pearl was never stolen: " + " ".join(f"clue{i}" for i in range(30)) + "."
    venice.script.append(slow(content))
    async with start_bot():
        refused = await answer(
            tg, GROUP, "/character set sherlock-holmes", chat_type="supergroup", user_id=BOB
        )
        assert refused["text"].startswith("⚠️ Only admins of this chat")

        tg.admins.add((GROUP, ALICE))
        greeting = await answer(tg, GROUP, "/character set sherlock-holmes", user_id=ALICE)
        assert bold_heading(greeting) == "Sherlock Holmes"
        assert greeting["text"].startswith("Sherlock Holmes\nSherlock Holmes is here.")

        # Any member talks to it; the answer shows the name from its first edit on.
        reply = await answer(tg, GROUP, "@venice_test_bot who stole the pearl?", user_id=BOB)
        await tg.wait_for(lambda: now(tg, GROUP, reply["message_id"])["text"].endswith(content))
        # A bound group is a scene: a message that does not mention the bot is answered too.
        unaddressed = await answer(tg, GROUP, "And the butler, Holmes?", user_id=ALICE)
        assert unaddressed["text"].startswith("Sherlock Holmes\n")
    final = now(tg, GROUP, reply["message_id"])
    assert final["text"] == f"Sherlock Holmes\n{content}" and bold_heading(final) == "Sherlock Holmes"
    edits = tg.edits_of(GROUP, reply["message_id"])
    assert len(edits) >= 2 and all(e.startswith("Sherlock Holmes\n") for e in edits)
    request = venice.calls_to("/chat/completions")[0].body
    assert request["venice_parameters"]["character_slug"] == "sherlock-holmes"
    assert request["messages"][-1]["content"].endswith("who stole the pearl?")
    assert (
        venice.calls_to("/chat/completions")[1].body["messages"][-1]["content"]
        == "[Alice] And the butler, Holmes?"
    )


async def test_a_json_card_document_is_imported_and_its_persona_bound(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    venice.script.append(ChatScript(content="Hold on to something."))
    async with start_bot(admin_user_ids=f"telegram:{ALICE}"):
        tg.push_document(
            card_json(card()),
            chat_id=ALICE,
            file_name="captain_mira.json",
            mime_type="application/json",
            caption="/persona import",
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        imported = tg.visible(ALICE)[0]
        assert imported["text"].startswith("Imported Captain Mira.")

        tg.press("Use Captain Mira here", chat_id=ALICE, message_id=imported["message_id"])
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        assert texts(tg, ALICE)[1] == "Welcome aboard the Kestrel, Alice. I am Captain Mira."

        reply = await answer(tg, ALICE, "Where are we headed?")
    assert reply["text"] == "Hold on to something."
    [got_file] = tg.calls_to("getFile")
    assert got_file.status == 200
    request = venice.calls_to("/chat/completions")[-1].body
    system = request["messages"][0]
    assert system["role"] == "system"
    assert "Captain Mira commands the airship Kestrel and trusts Alice with the maps." in system["content"]
    assert "character_slug" not in request.get("venice_parameters", {})


async def test_a_png_card_sent_as_a_file_is_imported_and_as_a_photo_explained(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    png = card_png(card("Lady Quill", first_mes="{{user}}, ink or blood?"))
    async with start_bot(admin_user_ids=f"telegram:{ALICE}"):
        tg.push_photo(png, "/persona import", chat_id=ALICE)  # Telegram re-encodes it as JPEG
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 1)
        assert texts(tg, ALICE)[0] == f"⚠️ {CARD_AS_PHOTO}"
        assert tg.calls_to("getFile") == []  # refused before downloading

        tg.push_document(
            png, chat_id=ALICE, file_name="lady_quill.png", mime_type="image/png", caption="/persona import"
        )
        await tg.wait_for(lambda: len(texts(tg, ALICE)) == 2)
        assert texts(tg, ALICE)[1].startswith("Imported Lady Quill.")

        greeting = await answer(tg, ALICE, "/character set Lady Quill")
    assert greeting["text"] == "Alice, ink or blood?"


async def test_broken_cards_are_refused_with_what_is_wrong(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    broken = [
        (card_json(card())[:-20], "application/json", "card.json", "The card is not valid JSON (line 1"),
        (card_png(None), "image/png", "card.png", "That PNG has no character card in it"),
        (card_png(None, chunk=b"not base64 at all!"), "image/png", "card.png", "not valid base64"),
        (card_json(card(name="")), "application/json", "card.json", "The card has no name"),
        (bomb_card(), "image/png", "bomb.png", "The card inside the PNG unpacks to more than 4 MB"),
        (deep_card(100_000), "application/json", "deep.json", "nested more than 64 levels deep"),
    ]
    async with start_bot(admin_user_ids=f"telegram:{ALICE}"):
        for number, (data, mime, name, _) in enumerate(broken, start=1):
            tg.push_document(data, chat_id=ALICE, file_name=name, mime_type=mime, caption="/persona import")
            await tg.wait_for(lambda n=number: len(texts(tg, ALICE)) == n)  # type: ignore[misc]
        tg.push_document(
            card_json(card()),
            chat_id=BOB,
            file_name="card.json",
            mime_type="application/json",
            caption="/persona import",
        )
        await tg.wait_for(lambda: len(texts(tg, BOB)) == 1)
    for shown, (_, _, _, says) in zip(texts(tg, ALICE), broken, strict=True):
        assert shown.startswith("⚠️ ") and says in shown, shown
    assert texts(tg, BOB)[0].startswith("⚠️ Only the bot's admins")  # importing is for the bot's admins


async def test_adult_characters_need_a_group_whose_admin_turned_safe_mode_off(
    tg: FakeTelegram, venice: FakeVenice, start_bot: Any
) -> None:
    tg.admins.add((GROUP, ALICE))
    async with start_bot():
        refused = await answer(
            tg, GROUP, "/character set velvet-lounge-host", chat_type="supergroup", user_id=ALICE
        )
        assert refused["text"].startswith("⚠️ Velvet, Lounge Host is an adult character")
        hidden = await answer(tg, GROUP, "/character search roleplay", user_id=ALICE)
        assert "Velvet, Lounge Host" not in choices(tg, GROUP, hidden["message_id"])

        await answer(tg, GROUP, "/safemode off", user_id=ALICE)
        shown = await answer(tg, GROUP, "/character search roleplay", user_id=ALICE)
        assert {"Velvet, Lounge Host", "Lilith"} <= set(choices(tg, GROUP, shown["message_id"]))
        tg.press("Lilith", chat_id=GROUP, message_id=shown["message_id"], user_id=ALICE)
        await tg.wait_for(lambda: bold_heading(tg.visible(GROUP)[-1]) == "Lilith")
    assert texts(tg, GROUP)[-1].startswith("Lilith\nLilith is here.")
