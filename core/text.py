"""Text handling shared by the core: input cleaning, token estimates, citation markers, counts."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from core.venice.types import Citation

# C0/C1 control characters other than tab and newline, and the DEL character.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
# Venice marks citations as [REF]0[/REF] (0-based, docs) or ^1^ / ^1,2^ (1-based, spec).
_REF = re.compile(r"\[REF\]\s*(\d+(?:\s*,\s*\d+)*)\s*\[/REF\]")
_CARET = re.compile(r"\^(\d+(?:\s*,\s*\d+)*)\^")
_MAX_MARKER = 40  # the longest marker text that could still be completed by the next delta


def clean_text(text: str) -> str:
    """Make user text safe to store and send: valid UTF-8, no control characters.

    Lone surrogates (bytes that were not UTF-8, decoded with ``surrogateescape``) become U+FFFD;
    ``\\r\\n`` becomes ``\\n``; other control characters are dropped.
    """
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = re.sub("\ufffd+", "\ufffd", text)
    return unicodedata.normalize("NFC", text).strip()


def clip(text: str, limit: int, *, one_line: bool = False) -> str:
    """The text cut to ``limit`` characters with an ellipsis (``one_line``: its runs of
    whitespace, newlines included, first made single spaces)."""
    if one_line:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utc_minute(stamp: float) -> str:
    """A Unix time as people read it in listings: ``2026-12-07 15:13`` (UTC)."""
    return f"{datetime.fromtimestamp(stamp, UTC):%Y-%m-%d %H:%M}"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """A count with its noun in the right number: "1 conversation", "2 conversations", "0 entries"."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural_noun or noun + 's'}"


def or_list(words: tuple[str, ...] | list[str]) -> str:
    """Words joined for a sentence: "a", "a or b", "a, b or c"."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def estimate_tokens(text: str) -> int:
    """Estimate tokens from characters: about 4 per token for English, never zero."""
    return max(1, (len(text) + 3) // 4)


def find_urls(text: str) -> list[str]:
    """Return the distinct http(s) links in a text, in order."""
    seen: dict[str, None] = {}
    for match in _URL.finditer(text):
        seen.setdefault(match.group(0).rstrip(".,;:!?)]}"), None)
    return list(seen)


def _numbers(group: str, offset: int) -> str:
    return "".join(f"[{int(n) + offset}]" for n in re.split(r"\s*,\s*", group.strip()))


def number_citations(text: str) -> str:
    """Rewrite Venice's citation markers as [1], [2]…"""
    text = _REF.sub(lambda m: _numbers(m.group(1), 1), text)
    return _CARET.sub(lambda m: _numbers(m.group(1), 0), text)


class CitationRewriter:
    """``number_citations`` for a stream: holds back text that may be half a marker."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, delta: str) -> str:
        """Return the text that can be shown now."""
        text = number_citations(self._held + delta)
        cut = _pending_marker_start(text)
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        """Return whatever is still held at the end."""
        held, self._held = self._held, ""
        return number_citations(held)


_PARTIAL_REF = re.compile(r"\[(R(E(F(\](\s*\d+(\s*,\s*\d*)*\s*(\[(/(R(E(F)?)?)?)?)?)?)?)?)?)?")
_PARTIAL_CARET = re.compile(r"\^(\d+(\s*,\s*\d*)*)?")


def _pending_marker_start(text: str) -> int:
    """Index where an unfinished marker may begin at the end of text, else len(text)."""
    start = max(0, len(text) - _MAX_MARKER)
    # Only a "[" or "^" can start a marker: look at those, earliest first.
    for i in (i for i in range(start, len(text)) if text[i] in "[^"):
        pattern = _PARTIAL_REF if text[i] == "[" else _PARTIAL_CARET
        if pattern.fullmatch(text, i):
            return i
    return len(text)


def format_sources(citations: tuple[Citation, ...]) -> str:
    """Numbered source list to put after an answer."""
    if not citations:
        return ""
    lines = [f"[{i}] {c.title} — {c.url}" for i, c in enumerate(citations, start=1)]
    return "Sources:\n" + "\n".join(lines)
