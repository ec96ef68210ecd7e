"""The fake Venice's prompt cache and embeddings: cached tokens as providers report them, and
deterministic bag-of-words vectors, so cost benchmarks and recall tests run offline."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections import deque
from typing import Any

from tests.fakes.venice_catalogue import EMBEDDING_DIMENSIONS
from tests.fakes.venice_chat import estimate_prompt_tokens, estimate_tokens

REMEMBERED_REQUESTS = 256  # per model: the prompts a later request's prefix may be served from
CACHE_MIN_TOKENS = 1024  # providers cache nothing shorter
_WORD = re.compile(r"\w+")

# One message as the cache compares it: its role and its content, byte for byte.
_Message = tuple[str, str]


def _cache_form(message: Any) -> _Message:
    if not isinstance(message, dict):
        return ("", json.dumps(message, sort_keys=True))
    content = message.get("content")
    if isinstance(content, list):
        # A cache_control marker says where to cache, it is not prompt text: moving it keeps the prefix.
        content = [
            {k: v for k, v in part.items() if k != "cache_control"} if isinstance(part, dict) else part
            for part in content
        ]
        # One text part is the same prompt as that text given as a string (marking a message
        # turns its string into a part; unmarked on the next turn, it is a string again).
        only = content[0] if len(content) == 1 else None
        if isinstance(only, dict) and only.keys() == {"type", "text"} and only["type"] == "text":
            content = only["text"]
    text = content if isinstance(content, str) else json.dumps(content, sort_keys=True, ensure_ascii=False)
    return (str(message.get("role", "")), text)


def _marked(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content)


def cache_write_tokens(messages: list[Any], cached: int, min_tokens: int) -> int:
    """The prompt tokens written to the cache by a provider that charges for writes: the prompt up
    to its last ``cache_control`` breakpoint (without one, all but the newest message, roughly where
    Venice puts its own), less what was read from the cache; nothing under ``min_tokens``."""
    marked = [i for i, message in enumerate(messages) if _marked(message)]
    end = marked[-1] + 1 if marked else len(messages) - 1
    prefix = estimate_prompt_tokens(messages[:end])
    return prefix - cached if prefix >= min_tokens and prefix > cached else 0


class PrefixCache:
    """Remember recent prompts per model and report how much of a new one they already hold.

    A request's cached part is the longest run of whole leading messages (role and content identical,
    in order) it shares with a remembered request of the same model and ``prompt_cache_key`` (requests
    without a key share one pool), counted with the fake's token estimate; under ``min_tokens`` it is 0.
    """

    def __init__(self, size: int = REMEMBERED_REQUESTS) -> None:
        """Create an empty cache remembering the last ``size`` prompts of each model."""
        self._prompts: dict[str, deque[tuple[str, tuple[_Message, ...]]]] = {}
        self._size = size

    def lookup_and_store(self, model_id: str, key: str | None, messages: list[Any], min_tokens: int) -> int:
        """Return the cached tokens of this prompt, then remember it for the requests after it."""
        wanted = tuple(_cache_form(m) for m in messages)
        remembered = self._prompts.setdefault(model_id, deque(maxlen=self._size))
        longest = 0
        for pool, prompt in remembered:
            if pool != (key or ""):
                continue
            shared = 0
            for mine, theirs in zip(wanted, prompt, strict=False):
                if mine != theirs:
                    break
                shared += 1
            longest = max(longest, shared)
        remembered.append((key or "", wanted))
        tokens = estimate_prompt_tokens(messages[:longest])
        return tokens if tokens >= min_tokens else 0

    def clear(self) -> None:
        """Forget every remembered prompt."""
        self._prompts.clear()


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Embed text as a unit-length hashed bag of lower-cased words: texts sharing words point alike."""
    counts = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        counts[int.from_bytes(digest, "big") % dimensions] += 1.0
    norm = math.sqrt(sum(c * c for c in counts))
    if norm == 0:
        counts[0], norm = 1.0, 1.0  # no words at all: still a unit vector, like a real model's
    return [c / norm for c in counts]


def embedding_tokens(text: str) -> int:
    """Count an input's tokens as the fake bills them (at least one for any non-empty text)."""
    return max(1, estimate_tokens(text))


def encode_embedding(vector: list[float], encoding_format: str) -> list[float] | str:
    """Return the vector as floats, or as base64 of little-endian float32 (OpenAI's ``base64`` format)."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
