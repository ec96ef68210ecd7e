"""A character's name above its answers in Telegram groups, without sockets: headings, splitting, captions."""

from __future__ import annotations

from adapters.telegram.media import MAX_CAPTION, caption
from adapters.telegram.reading import imports_card
from adapters.telegram.render import MAX_HEADING, MAX_MESSAGE, heading, split
from tests.fakes.telegram_html import parse_html
from tests.fakes.telegram_state import TelegramState


def test_a_heading_is_the_name_in_bold_on_its_own_line() -> None:
    [part] = split("Elementary.", head=heading("Sherlock Holmes"))
    assert part.html == "<b>Sherlock Holmes</b>\nElementary."
    assert part.markdown == "Sherlock Holmes\nElementary."  # the plain-text fallback keeps the name
    text, entities = parse_html(part.html)
    assert text == "Sherlock Holmes\nElementary."
    assert entities == [{"type": "bold", "offset": 0, "length": 15}]


def test_a_name_with_markup_characters_is_escaped_and_kept_short() -> None:
    head = heading("Tom & <Jerry>\n  the   *cat*" + "x" * 100)
    assert head.html.startswith("<b>Tom &amp; &lt;Jerry&gt; the *cat*")
    assert len(head.markdown) == MAX_HEADING + 1
    text, _ = parse_html(head.html + "hi")  # Telegram's strict parser takes it
    assert text.startswith("Tom & <Jerry> the *cat*")


def test_only_the_first_part_of_a_long_answer_has_the_heading_and_every_part_fits() -> None:
    answer = "\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(12))
    parts = split(answer, head=heading("Ada Lovelace"))
    assert len(parts) > 1
    assert parts[0].html.startswith("<b>Ada Lovelace</b>\nParagraph 0.")
    assert not any("Ada Lovelace" in p.html for p in parts[1:])
    assert all(len(p.html) <= MAX_MESSAGE for p in parts)
    assert split("x" * 10_000, head=heading("A"))[0].html.count("x") == MAX_MESSAGE - len("<b>A</b>\n")


def test_no_text_gets_no_heading_alone() -> None:
    assert split("", head=heading("Socrates")) == []


def test_a_caption_carries_the_heading_and_counts_it() -> None:
    shown = caption("A sketch of the Nautilus.", heading("Captain Nemo"))
    assert shown is not None and shown.html == "<b>Captain Nemo</b>\nA sketch of the Nautilus."
    assert caption("y" * (MAX_CAPTION - 3), heading("Captain Nemo")) is None  # fits alone, not with the name
    assert caption("y" * (MAX_CAPTION - 3)) is not None


def test_only_persona_import_counts_as_a_card_import() -> None:
    assert imports_card("persona", "import")
    assert imports_card("persona", "IMPORT extra words")
    assert not imports_card("persona", "")
    assert not imports_card("persona", "list")
    assert not imports_card("edit", "import")


def test_the_fake_presses_a_button_by_its_label() -> None:
    state = TelegramState(bot_id=1, bot_username="b_bot", bot_first_name="B")
    state.add_chat(42)
    sent = state._new_message(
        state.chats[42],
        state.bot_user(),
        {
            "text": "Pick one",
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": "Socrates", "callback_data": "c:/character set socrates"}],
                    [{"text": "Docs", "url": "https://example.com"}],
                ]
            },
        },
        thread_id=None,
        reply_to=None,
        by_bot=True,
    )
    update = state.press("Socrates", chat_id=42, message_id=sent["message_id"], queue=False)
    assert update["callback_query"]["data"] == "c:/character set socrates"
    assert update["callback_query"]["from"]["id"] == 42
    try:
        state.press("Docs", chat_id=42, message_id=sent["message_id"], queue=False)
    except ValueError as exc:
        assert "'Socrates', 'Docs'" in str(exc)
    else:
        raise AssertionError("a URL button cannot be pressed")
