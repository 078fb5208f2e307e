"""Secret redaction and short body snippets for error messages.

Error bodies from backends and proxies sometimes echo the request's headers or a
configured key back ("Incorrect API key provided: sk-abc..."). Everything that ends up
in a ``BackendError`` (and so in logs and in the event log) goes through :func:`redact`
first. Redaction is by *exact value* (every key the runtime read is registered in
``events._secrets``) and by *value pattern* here; redaction by field name happens in the
logging processor owned by the runtime.
"""

from __future__ import annotations

import re

from events._secrets import redact_secrets

__all__ = ["MAX_SNIPPET_CHARS", "REDACTED", "redact", "snippet"]

REDACTED = "[REDACTED]"
MAX_SNIPPET_CHARS = 500

# Only this much of a body is ever scanned: snippets are short, and scanning a 1 MiB body
# with several regexes on every failure would be wasted work.
_SCAN_CHARS = 4096

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer abc", "bearer abc" anywhere in text.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{REDACTED}"),
    # OpenAI-style keys: sk-..., sk-proj-..., also when truncated by the provider
    # ("sk-abc*****xyz").
    (re.compile(r"\bsk-[A-Za-z0-9_*-]{3,}"), f"sk-{REDACTED}"),
    # key=value / "key": "value" for names that hold secrets (query strings, JSON,
    # form bodies, env dumps).
    (
        re.compile(
            r"(?i)\b((?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|secret"
            r"|password|passwd|authorization|x-api-key|key)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"'&,;}]+)"
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str) -> str:
    """Replace secret-looking values in ``text`` with ``[REDACTED]``.

    Args:
        text: Any text that may reach a log line or an exception message.

    Returns:
        The text with Bearer/Basic credentials, ``sk-...`` keys and ``api_key=...``-style
        values replaced, and every secret the runtime registered (``events._secrets``)
        masked by exact value, whatever its shape.
    """
    text = redact_secrets(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def snippet(body: bytes | str, limit: int = MAX_SNIPPET_CHARS) -> str:
    """A redacted, whitespace-collapsed prefix of a response body, at most ``limit`` chars.

    Redaction runs *before* truncation, so a secret cut in half by the limit cannot leak
    its first half unredacted.

    Args:
        body: The raw body (bytes are decoded as UTF-8 with replacement characters).
        limit: Maximum length of the result; an ellipsis marks a cut.

    Returns:
        A printable one-line snippet, safe to put in messages and events.
    """
    text = body[:_SCAN_CHARS].decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(redact(text[:_SCAN_CHARS]).split())
    if len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text
