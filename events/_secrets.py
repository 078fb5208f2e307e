"""Redaction by exact value: the process-wide registry of the secrets the runtime read.

Patterns (``events._redaction``) catch what *looks* like a secret; a key that is not
shaped like ``sk-...`` passes them. So every secret the runtime reads — API keys from
the environment or files, the facade's key, URL userinfo — is registered here when it is
loaded (``register_secret``), and ``redact_text`` (every log line, ``inspect``, the
facade's bodies), the endpoint layer's error messages and the event codec (before a row
is written) replace it by ``[redacted]`` wherever it appears, in its common encodings
too: URL-encoded, JSON-escaped, base64 (as in ``Authorization: Basic``, with or without
a user name in front).

Values shorter than ``MIN_SECRET_CHARS`` are not registered: masking every ``"admin"``
or ``"ollama"`` in every log line would hide more than it protects (and such a value is
no secret anyway). The registry is process-wide because logs are: a secret read by one
runtime must not show up in a line another writes.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import msgspec

__all__ = [
    "MIN_SECRET_CHARS",
    "mask_secrets_in_json",
    "redact_secrets",
    "register_secret",
]

MIN_SECRET_CHARS = 8
"""Shorter values are not registered (they would mask ordinary words)."""

_MASK = "[redacted]"

_lock = threading.Lock()
_forms: tuple[str, ...] = ()
"""Every registered form, longest first (so a form containing another goes first);
replaced as a whole under the lock, read without it."""
_byte_forms: tuple[bytes, ...] = ()
"""The same, UTF-8 encoded (for the JSON fast path)."""


def register_secret(value: str | None, *, user: str | None = None) -> None:
    """Remember ``value`` (and its encodings) so every sink can mask it by value.

    Args:
        value: The secret (None, empty or shorter than ``MIN_SECRET_CHARS``: ignored).
        user: The user name that goes with it (URL userinfo, Basic auth), for the
            base64 of ``user:value``.
    """
    global _forms, _byte_forms
    if value is None or len(value) < MIN_SECRET_CHARS:
        return
    new = set(_encodings(value, user))
    with _lock:
        if new.issubset(_forms):
            return
        _forms = tuple(sorted(new.union(_forms), key=lambda form: (-len(form), form)))
        _byte_forms = tuple(form.encode() for form in _forms)


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret (in any registered encoding) masked."""
    for form in _forms:
        if form in text:
            text = text.replace(form, _MASK)
    return text


def mask_secrets_in_json(payload: bytes) -> bytes:
    """A JSON document with every registered secret masked in its strings (keys too).

    The fast path is a few ``in`` checks; a hit decodes the document, masks each string
    and encodes it again (so the result is still valid JSON, whatever the secret holds).
    """
    for form in _byte_forms:  # a loop, not any(...): no generator per event
        if form in payload:
            return _json_encoder.encode(_masked(msgspec.json.decode(payload)))
    return payload


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {_masked(key): _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


_json_encoder = msgspec.json.Encoder()


def _encodings(value: str, user: str | None) -> Iterable[str]:
    yield value
    yield quote(value, safe="")
    yield quote_plus(value, safe="")
    yield json.dumps(value)[1:-1]
    prefixes = ["", ":"] + ([f"{user}:"] if user else [])
    for prefix in prefixes:
        # Padded (masked first, being longer) and unpadded (a prefix of the padded one:
        # it also catches the value inside a longer base64 run that starts with it).
        encoded = base64.b64encode(f"{prefix}{value}".encode()).decode("ascii")
        yield encoded
        yield encoded.rstrip("=")
