"""Markdown to Telegram HTML, and splitting long answers."""

import html
import re

from adapters.splitting import split_markdown
from adapters.telegram.render import MAX_MESSAGE, heading, split, to_html


def test_common_markdown() -> None:
    md = (
        "# Title\n**bold** and *it* and _it2_ and ~~gone~~ and `x < y` and [site](https://a.example/?q=1&b=2)"
    )
    assert to_html(md) == (
        "<b>Title</b>\n<b>bold</b> and <i>it</i> and <i>it2</i> and <s>gone</s> and "
        '<code>x &lt; y</code> and <a href="https://a.example/?q=1&amp;b=2">site</a>'
    )


def test_code_block_keeps_its_language_and_nothing_inside_is_formatted() -> None:
    md = "Look:\n```python\nprint(a**b * c_d_e)  # <tag> & more\n```\nDone"
    assert to_html(md) == (
        'Look:\n<pre><code class="language-python">print(a**b * c_d_e)  # &lt;tag&gt; &amp; more'
        "</code></pre>\nDone"
    )


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert to_html("```\ncode so far") == "<pre><code>code so far</code></pre>"


def test_broken_markdown_stays_literal() -> None:
    md = "2*3 = 6, snake_case_name, an [unclosed link, a lone * star and _ under **bold"
    assert to_html(md) == html.escape(md, quote=False)


def test_badly_interleaved_emphasis_falls_back_to_plain_escaped_text() -> None:
    md = "**bold _both** tail_"
    rendered = to_html(md)
    assert "<b>" not in rendered or rendered.index("</b>") > rendered.index("<b>")
    # whatever it chose, the tags are well nested
    stack = []
    for closing, name in re.findall(r"<(/?)([a-z]+)", rendered):
        if closing:
            assert stack.pop() == name
        else:
            stack.append(name)


def test_blockquote_lines_are_grouped() -> None:
    assert to_html("> one\n> two\nafter") == "<blockquote>one\ntwo</blockquote>\nafter"


def test_long_answer_splits_on_paragraphs_and_every_part_fits() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 150 for i in range(20)]
    parts = split("\n\n".join(paragraphs))
    assert len(parts) > 1
    assert all(len(p.html) <= MAX_MESSAGE for p in parts)
    assert all(p.markdown.rstrip().endswith("word") for p in parts)  # cut between paragraphs
    assert "".join(p.markdown.replace("\n", "") for p in parts).count("Paragraph") == 20


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"line_{i} = {i} * 2  # comment" for i in range(400))
    parts = split(f"Intro text.\n\n```python\n{code}\n```\n\nOutro.")
    assert len(parts) >= 3
    assert all(len(p.html) <= MAX_MESSAGE for p in parts)
    code_parts = [p for p in parts if "line_" in p.markdown]
    for p in code_parts:
        assert p.markdown.count("```") % 2 == 0  # each part has whole fences
        assert '<code class="language-python">' in p.html
    rebuilt = "\n".join(
        line for p in code_parts for line in p.markdown.split("\n") if line.startswith("line_")
    )
    assert rebuilt == code  # no line lost or broken


def test_escaping_growth_is_accounted_for() -> None:
    parts = split("&<>" * 3000)
    assert all(len(p.html) <= MAX_MESSAGE for p in parts)
    assert "".join(p.markdown for p in parts) == "&<>" * 3000


def test_text_without_any_break_is_cut_anyway() -> None:
    parts = split("x" * 10_000)
    assert [len(p.markdown) for p in parts] == [4096, 4096, 1808]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_telegram_parts_are_measured_in_utf16_units_and_nothing_is_lost() -> None:
    for answer in ("😀" * 3000, "👍🏽 and 🇫🇷 é 中文 & <b> " * 700, "a😀" * 2500):
        parts = split(answer)
        assert len(parts) > 1
        assert all(utf16(p.html) <= MAX_MESSAGE for p in parts)
        assert "".join(p.markdown for p in parts) == answer
    assert len(split("😀" * 3000)[0].markdown) > 1900  # parts stay full, not shrunk at random
    head = heading("🦊" * 10)
    parts = split("😀" * 2040, head=head)
    assert all(utf16(p.html) <= MAX_MESSAGE for p in parts) and parts[0].html.startswith(head.html)


def test_discord_keeps_counting_characters() -> None:
    assert [len(p) for p in split_markdown("😀" * 3000, 2000)] == [2000, 1000]
