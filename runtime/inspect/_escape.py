"""Terminal-safe text: control characters from a log or a backend shown, never obeyed.

A model name, an error text or an unknown event's type is data written by someone else;
printed raw, an ESC could recolour the terminal, move the cursor, set its title or hide
what follows, and a U+202E could reorder a line. ``escape`` turns every such character
into a visible escape (``\\x1b``, ``\\n``, ``\\u202e``) and leaves printable text alone.

The viewer escapes data where it enters the text (cells, fields, titles, before our own
colours are added) and ``TerminalSafe`` checks everything again on its way out, letting
through only newlines and, when colour is on, the exact colour codes we emit.

Pure, apart from ``TerminalSafe``, which only forwards text to the stream it wraps.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TextIO

__all__ = [
    "OUR_COLOR_CODES",
    "TerminalSafe",
    "escape",
    "is_unsafe",
    "json_safe",
    "terminal_safe",
]

OUR_COLOR_CODES = ("\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m")
"""The SGR sequences ``runtime.inspect._render.colorize`` emits: the only ESCs allowed out."""

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional marks, embeddings, overrides and isolates: they reorder what follows."""
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""C0, DEL and C1 controls; lone surrogates (undecodable bytes); line/paragraph separators."""
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_OURS = re.compile("(" + "|".join(re.escape(code) for code in OUR_COLOR_CODES) + ")")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What a JSON encoder leaves raw but a terminal may obey (C0 is escaped by JSON itself)."""


def is_unsafe(char: str) -> bool:
    """Whether one character must not reach a terminal raw (controls, bidi, separators)."""
    return char in _BIDI or unicodedata.category(char) in _UNSAFE_CATEGORIES


def _visible(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unsafe character shown as an escape; printable text unchanged.

    ESC becomes ``\\x1b``, a newline ``\\n`` (kept as a line break with
    ``keep_newlines``), U+202E ``\\u202e``. The result never contains an unsafe
    character (other than the kept newlines), so escaping twice changes nothing more.

    Args:
        text: Any text, typically from a log or a backend.
        keep_newlines: Leave ``\\n`` as is, for multi-line views such as stored bodies.
    """
    if text.isprintable():  # the common case, and fast: no control, no bidi, no separator
        return text
    return "".join(
        _visible(c) if is_unsafe(c) and not (keep_newlines and c == "\n") else c for c in text
    )


def json_safe(encoded: str) -> str:
    """JSON text with DEL, C1, bidi and separator characters written as ``\\uXXXX``.

    JSON escapes C0 controls itself but may leave these raw; they can only occur inside
    strings, where ``\\uXXXX`` is a valid escape, so the document decodes the same.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


def terminal_safe(text: str, *, color: bool) -> str:
    """Rendered output made safe: newlines kept, our colour codes kept when ``color``."""
    if not color:
        return escape(text, keep_newlines=True)
    parts = _OURS.split(text)  # odd indices are our colour codes
    return "".join(p if i % 2 else escape(p, keep_newlines=True) for i, p in enumerate(parts))


class TerminalSafe:
    """A writable text stream that escapes whatever ``escape`` would before forwarding it.

    The last line of defence, behind the escaping done where data enters the text: a
    view that forgot to escape a value still cannot move the cursor or set the title.
    """

    def __init__(self, stream: TextIO, *, color: bool) -> None:
        self._stream = stream
        self._color = color

    def write(self, text: str) -> int:
        """Write ``text`` escaped; returns the length of ``text`` (as ``TextIO.write``)."""
        self._stream.write(terminal_safe(text, color=self._color))
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False
