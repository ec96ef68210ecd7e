"""The fake Telegram's HTML parse_mode follows tdlib's parser: entities, offsets and error texts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.telegram_html import (
    HtmlParseError,
    parse_html,
    trim_formatted,
    utf16_len,
)


def entities(html: str) -> list[tuple[Any, ...]]:
    return [tuple(e.values()) for e in parse_html(html)[1]]


def test_every_tag_and_its_aliases() -> None:
    text, found = parse_html(
        "<b>b</b><strong>b</strong><i>i</i><em>i</em><u>u</u><ins>u</ins><s>s</s><strike>s</strike><del>s</del>"
        '<tg-spoiler>p</tg-spoiler><span class="tg-spoiler">p</span><code>c</code><blockquote>q</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert text == "bbiiuusssppcq👍"
    assert [e["type"] for e in found] == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "code",
        "blockquote",
        "custom_emoji",
    ]
    assert found[-1] == {
        "type": "custom_emoji",
        "offset": 13,
        "length": 2,
        "custom_emoji_id": "5368324170671202286",
    }


def test_nesting_sorts_by_offset_then_longest_first() -> None:
    assert entities("<b>bold <i>both</i></b> <u>u</u>") == [
        ("bold", 0, 9),
        ("italic", 5, 4),
        ("underline", 10, 1),
    ]
    assert entities("<B>upper case tags</B>") == [("bold", 0, 15)]
    assert entities("<b><i>same span</i></b>") == [("bold", 0, 9), ("italic", 0, 9)]


def test_pre_with_a_language_and_nothing_inside_code() -> None:
    assert entities('<pre><code class="language-python">print(1)</code></pre>') == [("pre", 0, 8, "python")]
    assert entities("<pre><code>x</code></pre>") == [("pre", 0, 1)]
    assert entities("<code>a <b>b</b></code>") == [("code", 0, 3)]  # Telegram allows no entity in code
    assert entities("<blockquote expandable><pre>x</pre></blockquote>") == [
        ("expandable_blockquote", 0, 1),
        ("pre", 0, 1),
    ]


def test_links() -> None:
    assert entities('<a href="https://venice.ai/docs?a=1&amp;b=2">d</a>') == [
        ("text_link", 0, 1, "https://venice.ai/docs?a=1&b=2")
    ]
    assert entities("<a href='https://venice.ai'>x</a>") == [("text_link", 0, 1, "https://venice.ai/")]
    assert entities("<a>venice.ai</a>") == [("text_link", 0, 9, "http://venice.ai/")]  # no href: the text
    assert entities('<a href="tg://user?id=42">Alice</a>') == [("text_link", 0, 5, "tg://user?id=42")]
    assert parse_html('<a href="javascript:alert(1)">x</a>') == ("x", [])  # dropped, text kept


def test_character_references() -> None:
    assert parse_html("&lt;&gt;&amp;&quot; &#65;&#x42; &lt no semicolon")[0] == '<>&" AB < no semicolon'
    with pytest.raises(HtmlParseError, match='"&" at byte offset 0'):
        parse_html("&nbsp;")  # only the four named references exist
    assert parse_html("&nbsp; &#0; & x", strict=False)[0] == "&nbsp; &#0; & x"


def test_offsets_count_utf16_and_errors_count_utf8_bytes() -> None:
    assert utf16_len("a😀é") == 4
    assert entities("😀 <b>x</b>") == [("bold", 3, 1)]
    with pytest.raises(HtmlParseError) as caught:
        parse_html("😀é <x>")
    assert caught.value.reason == 'Unsupported start tag "x" at byte offset 7'


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 9"),
        (
            "<a href>x</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
        ("<a href=x/y>z</a>", "Unexpected end of name token at byte offset 8"),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("R&D", 'Character "&" at byte offset 1 must be escaped as "&amp;"'),
        ("1 > 0", 'Character ">" at byte offset 2 must be escaped as "&gt;"'),
    ],
)
def test_errors_say_what_telegram_says(html: str, reason: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(html)
    assert caught.value.reason == reason


def test_lenient_mode_accepts_what_telegram_accepts() -> None:
    bold = {"type": "bold", "offset": 10, "length": 1}
    assert parse_html("R&D 1 > 0 <b>x</b>", strict=False) == ("R&D 1 > 0 x", [bold])


def test_empty_entities_vanish_and_closing_tags_may_be_anonymous() -> None:
    assert parse_html("<b></b>x<i>y</>") == ("xy", [{"type": "italic", "offset": 1, "length": 1}])


def test_trimming_moves_and_clips_entities() -> None:
    text, found = parse_html("\n <b> hi 😀</b> <i>x </i>\n")
    assert trim_formatted(text, found) == (
        "hi 😀 x",
        [{"type": "bold", "offset": 0, "length": 5}, {"type": "italic", "offset": 6, "length": 1}],
    )
    assert trim_formatted("  ", [{"type": "bold", "offset": 0, "length": 2}]) == ("", [])
