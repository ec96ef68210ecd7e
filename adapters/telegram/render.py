"""Markdown from the model → Telegram HTML, and long answers split into Telegram-sized parts.

Pure functions, no network: they are tested on their own.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from adapters.splitting import FENCE, split_markdown, utf16_len

# Telegram's limit, in UTF-16 units after entity parsing; we count the HTML we send, stricter.
MAX_MESSAGE = 4096

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(((?:https?|tg|mailto):[^\s()]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
# Single * or _ for italics: not inside words (snake_case, 2*3*4), not doubled.
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_ITALIC_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])")
_TAG = re.compile(r"<(/?)([a-z-]+)(?:\s[^>]*)?>")
_PLACEHOLDER = "\x00{}\x00"


def to_html(markdown: str) -> str:
    """Render the Markdown a model writes as Telegram HTML.

    Only balanced markup is converted; anything else stays as literal, escaped text, so a
    broken ``*`` or ``[`` can never make the message unsendable. An unclosed code fence runs
    to the end (what a half-streamed answer needs).
    """
    out: list[str] = []
    lines = markdown.split("\n")
    i = 0
    quote: list[str] = []

    def flush_quote() -> None:
        if quote:
            out.append("<blockquote>" + "\n".join(quote) + "</blockquote>")
            quote.clear()

    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            flush_quote()
            marker, language = fence.group(2), fence.group(3)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end)
            code = html.escape("\n".join(body), quote=False)
            attr = f' class="language-{html.escape(language)}"' if language else ""
            out.append(f"<pre><code{attr}>{code}</code></pre>" if code else "")
            continue
        if line.lstrip().startswith(">"):
            quote.append(_inline(line.lstrip()[1:].lstrip()))
            i += 1
            continue
        flush_quote()
        heading = _HEADING.match(line)
        out.append(f"<b>{_inline(heading.group(1))}</b>" if heading else _inline(line))
        i += 1
    flush_quote()
    rendered = "\n".join(out)
    return rendered if _well_nested(rendered) else html.escape(markdown, quote=False)


def _inline(text: str) -> str:
    """Inline Markdown of one line: code spans first, so nothing inside them is formatted."""
    protected: list[str] = []

    def protect(fragment: str) -> str:
        protected.append(fragment)
        return _PLACEHOLDER.format(len(protected) - 1)

    text = _INLINE_CODE.sub(lambda m: protect(f"<code>{html.escape(m.group(1), quote=False)}</code>"), text)
    text = _LINK.sub(
        lambda m: protect(
            f'<a href="{html.escape(m.group(2), quote=True)}">{_emphasis(html.escape(m.group(1), quote=False))}</a>'
        ),
        text,
    )
    text = _emphasis(html.escape(text, quote=False))
    return re.sub("\x00(\\d+)\x00", lambda m: protected[int(m.group(1))], text)


def _emphasis(text: str) -> str:
    text = _BOLD.sub(r"<b>\2</b>", text)
    text = _STRIKE.sub(r"<s>\1</s>", text)
    text = _ITALIC_STAR.sub(r"<i>\1</i>", text)
    return _ITALIC_UNDER.sub(r"<i>\1</i>", text)


def _well_nested(rendered: str) -> bool:
    """Whether the tags we produced open and close in order (Telegram refuses otherwise)."""
    stack: list[str] = []
    for match in _TAG.finditer(rendered):
        closing, name = match.group(1), match.group(2)
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


@dataclass(frozen=True)
class Part:
    """One Telegram message's worth of an answer: its Markdown and its HTML."""

    markdown: str
    html: str


MAX_HEADING = 64  # characters of a speaker's name shown above an answer


def heading(name: str) -> Part:
    """A speaker's name as the first line of an answer: bold, and a plain line in the fallback.

    Telegram cannot show a bot's message under another name, so in groups a character's
    answers start with its name.
    """
    name = " ".join(name.split())[:MAX_HEADING]
    return Part(f"{name}\n", f"<b>{html.escape(name, quote=False)}</b>\n")


def with_heading(head: Part | None, part: Part) -> Part:
    """The part with the heading above it (the part itself when there is none)."""
    return part if head is None else Part(head.markdown + part.markdown, head.html + part.html)


def split(markdown: str, limit: int = MAX_MESSAGE, head: Part | None = None) -> list[Part]:
    """Split an answer into parts whose HTML fits one message each (see adapters/splitting).

    ``head`` (see ``heading``) goes above the first part; every part leaves room for it.
    """
    room = limit - utf16_len(head.html) if head is not None else limit
    parts = [
        Part(piece, to_html(piece))
        for piece in split_markdown(markdown, room, lambda piece: utf16_len(to_html(piece)))
    ]
    if parts:
        parts[0] = with_heading(head, parts[0])
    return parts
