"""Deterministic reply text and token counts (pure).

The same (seed, model, prompt) always yields the same words, so tests can compare
replies across retries, fallbacks and restarts.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

_VOCABULARY: Final[tuple[str, ...]] = (
    "the", "model", "answer", "is", "a", "reliable", "stream", "of", "tokens", "that",
    "arrives", "in", "order", "and", "every", "request", "gets", "one", "reply", "with",
    "clear", "words", "about", "local", "servers", "which", "sometimes", "fail", "but",
    "recover", "after", "short", "pause", "so", "callers", "retry", "patiently", "while",
    "health", "checks", "watch", "latency", "quota", "budget", "fallback", "works",
    "quietly", "behind", "scenes", "for", "you", "today", "here", "simple", "test",
    "output", "from", "chaos", "backend", "fine", "good", "yes", "indeed", "done",
)  # fmt: skip

_MIN_WORDS: Final = 8
_MAX_WORDS: Final = 40


def _digest(seed: int, model: str, prompt: str) -> bytes:
    """Hash the inputs that make a reply unique (length-prefixed against collisions)."""
    h = hashlib.sha256()
    for part in (str(seed), model, prompt):
        raw = part.encode()
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.digest()


def generate_words(seed: int, model: str, prompt: str) -> list[str]:
    """Return the deterministic words of the natural (untruncated) reply."""
    stream = _digest(seed, model, prompt)
    while len(stream) < 2 * (_MAX_WORDS + 1):
        stream += hashlib.sha256(stream).digest()
    n_words = _MIN_WORDS + stream[0] % (_MAX_WORDS - _MIN_WORDS + 1)
    pairs = (int.from_bytes(stream[1 + 2 * i : 3 + 2 * i], "big") for i in range(n_words))
    return [_VOCABULARY[p % len(_VOCABULARY)] for p in pairs]


def split_words(text: str) -> list[str]:
    """Split a scripted reply into word-tokens (whitespace separated)."""
    return text.split()


def word_pieces(words: list[str]) -> list[str]:
    """Return the stream pieces for `words`: the first bare, the rest space-prefixed."""
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


def exact_pieces(text: str, size: int = 6) -> list[str]:
    """Split `text` into token-sized stream pieces that join back to exactly `text`
    (for JSON, whose whitespace must survive)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def prompt_tokens(prompt: str) -> int:
    """Estimate prompt tokens like a real tokenizer would: ~1.3 tokens per word."""
    return max(1, math.ceil(len(prompt.split()) * 1.3))


def limit(words: list[str], max_tokens: int | None) -> tuple[list[str], bool]:
    """Cut `words` to `max_tokens`; return the words and whether the limit cut them."""
    if max_tokens is None or max_tokens < 0 or len(words) <= max_tokens:
        return words, False
    return words[:max_tokens], True
