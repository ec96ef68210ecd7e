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
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+")
_ENDINGS = ("ing", "ed", "es", "s")
K1, B = 1.2, 0.75  # BM25's usual constants
COMMON_SHARE = 0.1  # a word in more than this share of the rows is left out of a search…
COMMON_FLOOR = 50  # …once there are enough rows to tell


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
    """An inverted index of rows (chunk positions) for BM25 search; rows are only appended.

    Postings are kept as lists while rows come in and turned into arrays when a search needs
    them, so that a search is a few vector operations per word, not a loop over its rows.
    """

    def __init__(self) -> None:
        self._postings: dict[str, tuple[list[int], list[int]]] = {}  # term -> rows, counts
        self._arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._lengths: list[int] = []
        self._length_array: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self._lengths)

    def append(self, texts: Sequence[str]) -> None:
        """Index the next rows' texts, in order."""
        for text in texts:
            row = len(self._lengths)
            counts = Counter(terms(text))
            self._lengths.append(sum(counts.values()))
            for term, count in counts.items():
                rows, tallies = self._postings.setdefault(term, ([], []))
                rows.append(row)
                tallies.append(count)
                self._arrays.pop(term, None)
        self._length_array = None

    def search(
        self, words: Sequence[str], *, limit: int, allowed: npt.NDArray[np.bool_]
    ) -> list[tuple[int, float]]:
        """The ``limit`` best (row, score) for any of ``words``, best first, among ``allowed`` rows."""
        rows = len(self._lengths)
        if not rows or limit <= 0:
            return []
        if self._length_array is None:
            self._length_array = np.asarray(self._lengths, dtype=np.float64)
        lengths = self._length_array
        norms = K1 * (1 - B + B * lengths / (lengths.mean() or 1.0))
        common = max(COMMON_FLOOR, rows * COMMON_SHARE)
        scores = np.zeros(rows)
        for term in {stem(w.lower()) for w in words}:
            if term not in self._postings:
                continue
            found, counts = self._term(term)
            # A word in many rows ("the", "my") tells little and would cost a pass over most rows.
            if len(found) > common:
                continue
            idf = math.log(1 + (rows - len(found) + 0.5) / (len(found) + 0.5))
            scores[found] += idf * counts * (K1 + 1) / (counts + norms[found])  # a row once per term
        scores[~allowed[:rows]] = 0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        best = sorted(candidates.tolist(), key=lambda r: (-float(scores[r]), r))
        return [(row, float(scores[row])) for row in best]

    def _term(self, term: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        arrays = self._arrays.get(term)
        if arrays is None:
            rows, counts = self._postings[term]
            arrays = self._arrays[term] = (
                np.asarray(rows, dtype=np.int64),
                np.asarray(counts, dtype=np.float64),
            )
        return arrays
