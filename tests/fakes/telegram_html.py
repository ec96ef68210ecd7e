"""Telegram's formatted text, as the Bot API server treats it: HTML parse_mode, UTF-16 offsets, trimming.

The parser follows tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp): the same tags, attribute rules,
entity decoding and error texts ("Unsupported start tag "br" at byte offset 5", ...). One deliberate
difference: with ``strict=True`` (the fake's default) a bare ``&`` or ``>`` is an error. Telegram shows them
as they are, but its docs require them escaped, and an unescaped ``&`` that happens to start a reference
is silently decoded (user text ``a &lt; b`` would show ``a < b``), so an adapter that forgets to escape
must fail loudly in tests. ``strict=False`` parses exactly as tdlib does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["HtmlParseError", "parse_html", "trim_formatted", "utf16_len"]

_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only with class="tg-spoiler", checked while parsing
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = frozenset(" \t\r\n\v\f")  # tdlib's is_space (it also counts NUL, which ends its C string)
_LINK_SCHEMES = ("http://", "https://", "tg://", "ton://", "tonsite://")


class HtmlParseError(ValueError):
    """The text breaks Telegram's HTML rules; ``reason`` is what follows "can't parse entities: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    text_start: int  # index into the decoded text, for <a> without href
    expandable: bool = False


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of every Telegram offset and length."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(html: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Return the plain text and the MessageEntity dicts of ``html``; raise HtmlParseError as Telegram would."""
    parser = _Parser(html, strict)
    return parser.run()


def trim_formatted(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading and trailing whitespace as Telegram does before storing a message, moving the entities."""
    stripped = text.strip("".join(_SPACES))
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip("".join(_SPACES)))])
    end = utf16_len(stripped)
    moved: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            moved.append({**entity, "offset": start, "length": stop - start})
    return stripped, moved


class _Parser:
    """One pass over the HTML, index for index like tdlib (which walks UTF-8 bytes; errors quote byte offsets)."""

    def __init__(self, html: str, strict: bool) -> None:
        self.html = html
        self.strict = strict
        self.pos = 0
        self.out: list[str] = []
        self.out_len = 0  # characters in self.out, for <a> without href
        self.utf16 = 0
        self.entities: list[dict[str, Any]] = []
        self.open: list[_OpenTag] = []

    def char(self, index: int) -> str:
        """Return the character at ``index``, or NUL past the end (tdlib reads a NUL-terminated string)."""
        return self.html[index] if index < len(self.html) else "\0"

    def byte_offset(self, index: int) -> int:
        return len(self.html[:index].encode("utf-8"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.out_len += len(text)
        self.utf16 += utf16_len(text)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        html = self.html
        while self.pos < len(html):
            c = html[self.pos]
            if c == "&":
                decoded, end = _decode_entity(html, self.pos)
                if decoded is not None:
                    self.emit(decoded)
                    self.pos = end
                    continue
                if self.strict:
                    offset = self.byte_offset(self.pos)
                    raise HtmlParseError(f'Character "&" at byte offset {offset} must be escaped as "&amp;"')
            elif c == ">" and self.strict:
                offset = self.byte_offset(self.pos)
                raise HtmlParseError(f'Character ">" at byte offset {offset} must be escaped as "&gt;"')
            if c != "<":
                self.emit(c)
                self.pos += 1
                continue
            if self.char(self.pos + 1) == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.open:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.open[-1].name}"')
        text = "".join(self.out)
        return text, _finish_entities(self.entities)

    def start_tag(self) -> None:
        begin = self.pos
        i = begin + 1
        while self.char(i) not in _SPACES and self.char(i) not in ">\0":
            i += 1
        if i >= len(self.html):
            raise HtmlParseError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        name = self.html[begin + 1 : i].lower()
        if name not in _TAG_TYPES:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}')
        argument, expandable = "", False
        while self.char(i) != ">":
            while i < len(self.html) and self.html[i] in _SPACES:
                i += 1
            if self.char(i) == ">":
                break
            attr_begin = i
            while self.char(i) not in _SPACES and self.char(i) not in "=>\0":
                i += 1
            attr_name = self.html[attr_begin:i]
            if not attr_name:
                offset = self.byte_offset(begin)
                raise HtmlParseError(f'Empty attribute name in the tag "{name}" at byte offset {offset}')
            while i < len(self.html) and self.html[i] in _SPACES:
                i += 1
            if self.char(i) != "=":
                if name == "blockquote" and attr_name == "expandable":
                    expandable = True
                    continue
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
            i += 1
            while i < len(self.html) and self.html[i] in _SPACES:
                i += 1
            if i >= len(self.html):
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {self.byte_offset(begin)}')
            value, i = self.attribute_value(i)
            if name == "a" and attr_name == "href":
                argument = value
            elif name == "code" and attr_name == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif name == "span" and attr_name == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif name == "tg-emoji" and attr_name == "emoji-id":
                argument = value
            elif name == "blockquote" and attr_name == "expandable":
                expandable = True
        if name == "span" and argument != "spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        if name == "tg-emoji" and not argument.isdigit():
            raise HtmlParseError("Invalid custom emoji identifier specified")
        self.open.append(_OpenTag(name, argument, self.utf16, self.out_len, expandable))
        self.pos = i + 1

    def attribute_value(self, i: int) -> tuple[str, int]:
        html = self.html
        if html[i] not in "'\"":
            # An unquoted name token: letters, digits, periods and hyphens; case-insensitive.
            token_begin = i
            while i < len(html) and ((html[i].isascii() and html[i].isalnum()) or html[i] in ".-"):
                i += 1
            if self.char(i) not in _SPACES and self.char(i) not in ">\0":
                raise HtmlParseError(
                    f"Unexpected end of name token at byte offset {self.byte_offset(token_begin)}"
                )
            return html[token_begin:i].lower(), i
        quote = html[i]
        i += 1
        value_begin = i
        chars: list[str] = []
        while i < len(html) and html[i] != quote:
            if html[i] == "&":
                decoded, end = _decode_entity(html, i)
                if decoded is not None:
                    chars.append(decoded)
                    i = end
                    continue
            chars.append(html[i])
            i += 1
        if i < len(html):
            i += 1  # the closing quote
        if i >= len(html):
            raise HtmlParseError(f"Unclosed start tag at byte offset {self.byte_offset(value_begin)}")
        return "".join(chars), i

    def end_tag(self) -> None:
        begin = self.pos
        if not self.open:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        i = begin + 2
        while self.char(i) not in _SPACES and self.char(i) not in ">\0":
            i += 1
        end_name = self.html[begin + 2 : i]
        while i < len(self.html) and self.html[i] in _SPACES:
            i += 1
        if self.char(i) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        tag = self.open.pop()
        if end_name and end_name.lower() != tag.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {self.byte_offset(begin)}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        self.pos = i + 1
        if self.utf16 > tag.utf16_offset:  # empty entities are dropped, as Telegram does
            self.add_entity(tag)

    def add_entity(self, tag: _OpenTag) -> None:
        offset, length = tag.utf16_offset, self.utf16 - tag.utf16_offset
        entity: dict[str, Any] = {"type": _TAG_TYPES[tag.name], "offset": offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and last["offset"] == offset and last["length"] == length
        if tag.name == "a":
            url = _check_link(tag.argument or "".join(self.out)[tag.text_start :])
            if url is None:
                return  # Telegram drops a link it cannot use and keeps the text
            entity["url"] = url
        elif tag.name == "pre" and same_span and last is not None and last["type"] == "code":
            # <pre><code class="language-x">: one pre entity that knows its language.
            self.entities.pop()
            if last.get("_language"):
                entity["language"] = last["_language"]
        elif tag.name == "code" and same_span and last is not None and last["type"] == "pre":
            return  # <code><pre>: the pre already covers it
        elif tag.name == "code" and tag.argument:
            entity["_language"] = tag.argument  # used only if a <pre> around it closes on the same span
        elif tag.name == "blockquote" and tag.expandable:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        self.entities.append(entity)


def _decode_entity(html: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at ``pos`` like tdlib; return (None, pos) when it is not one."""
    end = pos + 1
    value = 0
    if end < len(html) and html[end] == "#":
        end += 1
        if end < len(html) and html[end] == "x":
            end += 1
            while end < len(html) and html[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(html[end], 16)
                end += 1
                if value >= 0x10FFFF:
                    return None, pos
        else:
            while end < len(html) and html[end].isascii() and html[end].isdigit():
                value = value * 10 + int(html[end])
                end += 1
                if value >= 0x10FFFF:
                    return None, pos
        if value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None, pos
        decoded = chr(value)
    else:
        while end < len(html) and html[end].isascii() and html[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(html[pos + 1 : end])
        if named is None:
            return None, pos
        decoded = named
    if end < len(html) and html[end] == ";":
        end += 1
    return decoded, end


def _check_link(url: str) -> str | None:
    """Return the URL Telegram would store for an <a href>, or None where it drops the link."""
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith(_LINK_SCHEMES):
        scheme, _, rest = url.partition("://")
        if not rest:
            return None
        if scheme.lower() in ("http", "https") and not any(c in rest for c in "/?#"):
            url += "/"  # Telegram normalises a bare host to "host/"
        return url
    if not url or ":" in url.split("/")[0]:
        return None  # javascript:, mailto:, unknown schemes
    host = url.split("/")[0].split("?")[0].split("#")[0]
    if "." not in host or not all(
        part and all(c.isalnum() or c == "-" for c in part) for part in host.split(".")
    ):
        return None
    return "http://" + url + ("" if any(c in url for c in "/?#") else "/")


def _finish_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop entities nested in code and pre (Telegram allows none there) and sort as Telegram returns them."""
    for entity in entities:
        entity.pop("_language", None)
    blocks = [e for e in entities if e["type"] in ("code", "pre")]
    kept = [
        e
        for e in entities
        if e["type"] in ("blockquote", "expandable_blockquote")
        or not any(
            b is not e
            and b["offset"] <= e["offset"]
            and e["offset"] + e["length"] <= b["offset"] + b["length"]
            for b in blocks
        )
    ]
    # On the same span the outer tag (closed later, so appended later) comes first, as Telegram orders them.
    order = {id(e): index for index, e in enumerate(kept)}
    return sorted(kept, key=lambda e: (e["offset"], -e["length"], -order[id(e)]))
