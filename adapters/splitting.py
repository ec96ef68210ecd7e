"""Split a long Markdown answer into parts that fit a platform's message size.

Cuts at a paragraph break if it can, else a line break, a sentence end, a space, and only as
a last resort anywhere. A cut inside a fenced code block closes the fence and reopens it,
with its language, at the start of the next part, so every part renders on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})\s*([\w+#.-]*)\s*$")


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def split_markdown(markdown: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Parts of the text, each with ``measure(part) <= limit`` (``len`` by default).

    ``measure`` lets a platform count what it really limits (Telegram: the HTML we send, in
    UTF-16 units); Discord counts characters, the default.
    """
    parts: list[str] = []
    rest = markdown.strip("\n")
    budget = limit
    while rest:
        piece, remainder = _cut(rest, budget)
        piece, remainder = _balance_fence(piece, remainder)
        size = measure(piece)
        if size > limit and budget > 200:
            # Markup or wide characters made it longer than counted: cut shorter, in proportion.
            budget = max(1, min(budget - 1, int(len(piece) * limit / size * 0.98)))
            continue
        while measure(piece) > limit and len(piece) > 1:  # pathological: shrink until it fits
            cut = len(piece) // 2
            piece, remainder = piece[:cut], piece[cut:] + remainder
        parts.append(piece)
        rest, budget = remainder.lstrip("\n"), limit
    return parts


def _cut(text: str, limit: int) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    window = text[:limit]
    floor = limit // 2  # never cut so early that parts become tiny
    for pattern in ("\n\n", "\n"):
        at = window.rfind(pattern)
        if at >= floor:
            return text[:at], text[at:]
    sentence = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
    if sentence >= floor:
        return text[: sentence + 1], text[sentence + 1 :]
    space = window.rfind(" ")
    if space >= floor:
        return text[:space], text[space:]
    return window, text[limit:]


def _balance_fence(piece: str, remainder: str) -> tuple[str, str]:
    """Close a code fence left open by a cut, and reopen it in the remainder."""
    open_fence: tuple[str, str] | None = None
    for line in piece.split("\n"):
        match = FENCE.match(line)
        if not match:
            continue
        if open_fence is None:
            open_fence = (match.group(2), match.group(3))
        elif line.strip().startswith(open_fence[0]):
            open_fence = None
    if open_fence is None or not remainder.strip():
        return piece, remainder
    marker, language = open_fence
    # The closing fence costs characters: make room for it within the same limit.
    return f"{piece}\n{marker}", f"{marker}{language}\n{remainder.lstrip(chr(10))}"
