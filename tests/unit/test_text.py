"""Cleaning user text, citation markers (also when split across stream chunks), links."""

from core.text import CitationRewriter, clean_text, find_urls, format_sources, number_citations
from core.venice.think import ThinkSplitter, split_think
from core.venice.types import Citation


def test_control_characters_are_dropped_and_newlines_kept() -> None:
    assert clean_text("a\x00b\x1b[31mc\r\nd\te\x7f") == "ab[31mc\nd\te"


def test_invalid_utf8_becomes_replacement_characters() -> None:
    raw = b"caf\xe9 ok".decode("utf-8", "surrogateescape")
    cleaned = clean_text(raw)
    assert cleaned == "caf\ufffd ok"
    cleaned.encode("utf-8")  # storable


def test_both_marker_styles_are_numbered() -> None:
    text = "Paris[REF]0[/REF] is old^2^ and big [REF]0, 1[/REF]."
    assert number_citations(text) == "Paris[1] is old[2] and big [1][2]."


def test_rewriter_gives_the_same_text_whatever_the_chunking() -> None:
    text = "A [REF]0[/REF] b ^2^ c [x] 2^3 [REF]1[/REF]"
    for size in (1, 2, 3, 7, 100):
        rewriter = CitationRewriter()
        out = "".join(rewriter.feed(text[i : i + size]) for i in range(0, len(text), size))
        out += rewriter.flush()
        assert out == "A [1] b [2] c [x] 2^3 [2]", size


def test_sources_are_listed_numbered() -> None:
    sources = format_sources((Citation("One", "https://a.example"), Citation("Two", "https://b.example")))
    assert sources == "Sources:\n[1] One — https://a.example\n[2] Two — https://b.example"


def test_urls_found_once_without_trailing_punctuation() -> None:
    text = "see https://a.example/x, and (https://b.example) and https://a.example/x."
    assert find_urls(text) == ["https://a.example/x", "https://b.example"]


def test_inline_think_block_is_split_from_the_answer() -> None:
    assert split_think("<think>hmm</think>\n\nHello") == ("Hello", "hmm")
    assert split_think("Hello <think>not reasoning</think>") == ("Hello <think>not reasoning</think>", "")


def test_think_splitter_streaming() -> None:
    splitter = ThinkSplitter()
    pieces = ["<th", "ink>let me", " see</th", "ink>An", "swer"]
    answer = reasoning = ""
    for piece in pieces:
        a, r = splitter.feed(piece)
        answer, reasoning = answer + a, reasoning + r
    a, r = splitter.flush()
    assert (answer + a, reasoning + r) == ("Answer", "let me see")
