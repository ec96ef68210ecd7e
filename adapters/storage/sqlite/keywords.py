"""Keyword search over one conversation's chunks: BM25 on an inverted index kept beside its vectors.

Embeddings blur what must match exactly (a name, a number, a lock code); BM25 finds it. The
index is built in the process from the chunk texts the vector cache already holds, so it needs
no extension and no second copy on disk, and it serves ephemeral conversations alike. Words are
lower-cased Unicode words with a light stemming (a plural's or a tense's ending), enough for
"nights" to find "night"; the inverse document frequency makes common words count for little.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\w+")
_ENDINGS = ("ing", "ed", "es", "s")
K1, B = 1.2, 0.75  # BM25's usual constants


def stem(word: str) -> str:
    """A word without a plural or tense ending, when enough of it is left."""
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def terms(text: str) -> list[str]:
    """The stemmed, lower-cased words of a text."""
    return [stem(word) for word in _WORD.findall(text.lower())]


class KeywordIndex:
    """An inverted index of rows (chunk positions) for BM25 search; rows are only appended."""

    def __init__(self) -> None:
        self._postings: dict[str, list[tuple[int, int]]] = {}  # term -> (row, count in row)
        self._lengths: list[int] = []

    def __len__(self) -> int:
        return len(self._lengths)

    def append(self, texts: Sequence[str]) -> None:
        """Index the next rows' texts, in order."""
        for text in texts:
            row = len(self._lengths)
            counts = Counter(terms(text))
            self._lengths.append(sum(counts.values()))
            for term, count in counts.items():
                self._postings.setdefault(term, []).append((row, count))

    def search(
        self, words: Sequence[str], *, limit: int, allowed: Callable[[int], bool]
    ) -> list[tuple[int, float]]:
        """The ``limit`` best (row, score) for any of ``words``, best first, among allowed rows."""
        rows = len(self._lengths)
        if not rows or limit <= 0:
            return []
        average = sum(self._lengths) / rows or 1.0
        scores: dict[int, float] = {}
        for term in {stem(w.lower()) for w in words}:
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = math.log(1 + (rows - len(postings) + 0.5) / (len(postings) + 0.5))
            for row, count in postings:
                norm = K1 * (1 - B + B * self._lengths[row] / average)
                scores[row] = scores.get(row, 0.0) + idf * count * (K1 + 1) / (count + norm)
        ranked = sorted((row for row in scores if allowed(row)), key=lambda r: (-scores[r], r))
        return [(row, scores[row]) for row in ranked[:limit]]
