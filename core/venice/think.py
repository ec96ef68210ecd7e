"""Separate ``<think>…</think>`` blocks that some reasoning models put inline in the answer."""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed answer text piece by piece; get (answer, reasoning) pieces back.

    Only a block at the very start of the answer counts, as reasoning models emit it; a
    ``<think>`` later in the text is the model talking about the tag and stays in the answer.
    """

    def __init__(self) -> None:
        self._state = "start"
        self._buffer = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Return the answer and reasoning text that can be released now."""
        if self._state == "answer":
            return text, ""
        self._buffer += text
        if self._state == "start":
            head = self._buffer.lstrip()
            if OPEN.startswith(head):
                return "", ""  # could still become "<think>"
            if not head.startswith(OPEN):
                self._state = "answer"
                out, self._buffer = self._buffer, ""
                return out, ""
            self._state = "thinking"
            self._buffer = head[len(OPEN) :]
        end = self._buffer.find(CLOSE)
        if end < 0:
            return "", ""
        reasoning = self._buffer[:end]
        answer = self._buffer[end + len(CLOSE) :].lstrip("\n")
        self._state, self._buffer = "answer", ""
        return answer, reasoning

    def flush(self) -> tuple[str, str]:
        """Release what is held back at the end of the stream."""
        held, self._buffer = self._buffer, ""
        if self._state == "thinking":
            return "", held  # an unclosed block is all thinking
        return held, ""


def split_think(text: str) -> tuple[str, str]:
    """Split a whole answer into (answer, reasoning)."""
    splitter = ThinkSplitter()
    answer, reasoning = splitter.feed(text)
    rest_answer, rest_reasoning = splitter.flush()
    return answer + rest_answer, reasoning + rest_reasoning
