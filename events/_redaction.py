"""Secret redaction for log lines: by field name and by value pattern (pure).

Two rules (RELIABILITY.md, "Secrets are redacted in logs and exceptions"):

- **By name**: a field whose name says it holds a secret (``api_key``, ``token``,
  ``Authorization``, ``password``, ``cookie``...; case-insensitive, ``-`` same as ``_``,
  at any depth of nested dicts) has its value replaced by ``[redacted]``.
- **By value**: any string anywhere in the line is scanned for secret-looking text —
  ``Bearer``/``Basic`` credentials, ``sk-...`` style keys, ``Authorization: ...`` header
  text, ``api_key=...``/``?key=...`` parameters, ``user:pass@`` in URLs — and those
  parts are masked, the rest kept.
- **By exact value**: every secret the runtime read is registered at load
  (``events._secrets.register_secret``) and masked wherever it appears, in its common
  encodings too, whatever its shape.

Body fields (``prompt``, ``messages``, ``content``, ``completion``...) hold what users
typed; they are dropped unless the entry point opted in (``log_bodies``), and even then
their strings are scanned by value.

It lives in ``events`` (which imports nothing of ours) so that ``events.LogLine`` can
render redacted text for any host's formatter; ``runtime._redaction`` re-exports it and
``runtime._logging`` applies it to every line it writes. No I/O, nothing impure.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from typing import Any

from events._secrets import redact_secrets

__all__ = [
    "BODY_FIELDS",
    "REDACTED",
    "SECRET_FIELDS",
    "is_body_field",
    "is_secret_field",
    "redact_mapping",
    "redact_text",
    "redact_value",
]

REDACTED = "[redacted]"

SECRET_FIELDS = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "token",
        "authorization",
        "proxy_authorization",
        "password",
        "passwd",
        "secret",
        "bearer",
        "cookie",
        "set_cookie",
        "x_api_key",
        "credentials",
        "private_key",
        "client_secret",
    }
)
"""Field names (lower case, ``-`` as ``_``) whose values are always redacted."""

_SECRET_SUFFIXES = ("_api_key", "_apikey", "_token", "_secret", "_password", "_passwd")
"""A name ending with one of these is secret too (``openai_api_key``, ``access_token``);
``_key`` alone is not (``idempotency_key``, ``cache_key`` are ids, not secrets)."""

BODY_FIELDS = frozenset(
    {"prompt", "messages", "content", "completion", "body", "text", "code", "partial"}
)
"""Field names holding prompts or completions: dropped unless bodies are opted in."""

_SCAN_LIMIT = 65_536
"""Strings longer than this are cut before scanning: regexes over megabytes of one log
field would stall the loop; the cut is marked so nobody mistakes it for the value."""

_META = frozenset({"_record", "_from_structlog", "exc_info", "stack_info"})
"""Bookkeeping keys of log pipelines (a stdlib record, unformatted exception info):
passed through untouched, whatever renders after redaction needs them as they are."""

_PLAIN = frozenset({int, float, bool, type(None)})
"""Exact types returned as they are (no text to scan)."""

_CREDENTIAL_CHARS = r"[A-Za-z0-9._~+/=*-]"

_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # (triggers, pattern, replacement): a rule runs only when one of its trigger
    # substrings is in the lower-cased text, so a line without any costs a few ``in``
    # checks instead of ten regex scans.
    #
    # URL userinfo: scheme://user:password@host -> keep the user, mask the password;
    # scheme://token@host -> mask the whole userinfo (a bare token is the secret).
    (
        ("://",),
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/@:]+):([^\s/@]+)@"),
        rf"\1\2:{REDACTED}@",
    ),
    (("://",), re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/@:]+)@"), rf"\1{REDACTED}@"),
    # Header text: "Authorization: Bearer abc", "Cookie: a=b; c=d" (to the end of the line
    # or of the quoted string it sits in).
    (
        ("authorization", "api-key", "cookie"),
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|set-cookie|cookie)"
            r"(\s*:\s*)(?![\s\"']*\[redacted\])[^\r\n\"'\\]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # "Bearer abc", "basic dXNlcjpw" anywhere in text.
    (
        ("bearer", "basic"),
        re.compile(rf"(?i)\b(bearer|basic)(\s+)(?!\[redacted\]){_CREDENTIAL_CHARS}+"),
        rf"\1\2{REDACTED}",
    ),
    # Provider key shapes: OpenAI sk-/sk-proj-, GitHub ghp_/gho_..., Slack xox?-,
    # Google AIza..., AWS access key ids.
    (("sk-",), re.compile(r"\bsk-[A-Za-z0-9_*-]{3,}"), f"sk-{REDACTED}"),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{8,}"),
        REDACTED,
    ),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{8,}"), REDACTED),
    (("aiza",), re.compile(r"\bAIza[A-Za-z0-9_-]{20,}"), REDACTED),
    (("akia",), re.compile(r"\bAKIA[A-Z0-9]{12,}"), REDACTED),
    # name=value / "name": "value" for secret names: query strings (?key=, &api_key=),
    # JSON and reprs of dicts, form bodies, env dumps.
    (
        ("key", "token", "secret", "passw"),
        re.compile(
            r"(?i)(?<![A-Za-z0-9])((?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token"
            r"|refresh[_-]?token|client[_-]?secret|token|secret|password|passwd|key)"
            r"[\"']?\s*[:=]\s*[\"']?)(?!\[redacted\])([^\s\"'&,;})\]]+)"
        ),
        rf"\1{REDACTED}",
    ),
)


_ANY_TRIGGER = re.compile("|".join(re.escape(t) for triggers, _, _ in _RULES for t in triggers))
"""One scan of the lower-cased text for every rule's triggers (case-sensitive matching
is several times faster than ``re.IGNORECASE``): most values match none and return."""


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def is_secret_field(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``API-Key``, ``openai_token``...)."""
    normal = _normal(name)
    return normal in SECRET_FIELDS or normal.endswith(_SECRET_SUFFIXES)


def is_body_field(name: str) -> bool:
    """Whether a field called ``name`` holds a prompt or completion body."""
    return _normal(name) in BODY_FIELDS


def redact_text(text: str) -> str:
    """``text`` with every secret-looking part masked by ``[redacted]``.

    Example: ``redact_text("GET /v1?key=abc123")`` is ``"GET /v1?key=[redacted]"``.
    """
    text = redact_secrets(text)  # by exact value first, before a cut could split one
    if len(text) > _SCAN_LIMIT:
        text = text[:_SCAN_LIMIT] + "…[truncated]"
    low = text.lower()
    if _ANY_TRIGGER.search(low) is None:
        return text
    for triggers, pattern, replacement in _RULES:
        if any(trigger in low for trigger in triggers):
            text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, *, log_bodies: bool = False) -> Any:
    """``value`` with secrets masked: strings scanned, containers walked.

    Dicts are redacted by key name too (see ``redact_mapping``); lists, tuples, sets and
    frozensets are rebuilt element by element; numbers, booleans and None are returned
    unchanged; any other object becomes its redacted ``repr`` (what a renderer would
    print for it anyway), so a secret inside an object's repr is masked too.
    """
    if type(value) in _PLAIN:  # the common case first: exact type, no ABC machinery
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict | Mapping):
        return redact_mapping(value, log_bodies=log_bodies)
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact_value(item, log_bodies=log_bodies) for item in value]
        return items if isinstance(value, list) else type(value)(items)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if value is None or isinstance(value, int | float):
        return value
    return redact_text(repr(value))


def redact_mapping(fields: Mapping[Any, Any], *, log_bodies: bool = False) -> dict[Any, Any]:
    """A copy of ``fields`` with secret fields masked and body fields dropped.

    Args:
        fields: A log line's fields (or a nested dict inside one).
        log_bodies: Keep body fields (their strings are still scanned by value).

    Returns:
        A new dict; secret-named values become ``[redacted]`` (None and booleans are
        kept: "no key configured" is worth seeing), other values go through
        ``redact_value``.
    """
    clean: dict[Any, Any] = {}
    for name, value in fields.items():
        kind = _field_kind(str(name))
        if kind is _Kind.META:
            clean[name] = value
        elif kind is _Kind.SECRET:
            clean[name] = value if value is None or isinstance(value, bool) else REDACTED
        elif kind is _Kind.BODY and not log_bodies:
            continue
        else:
            clean[name] = redact_value(value, log_bodies=log_bodies)
    return clean


class _Kind(enum.Enum):
    PLAIN = "plain"
    SECRET = "secret"
    BODY = "body"
    META = "meta"


@functools.lru_cache(maxsize=4096)
def _field_kind(name: str) -> _Kind:
    # Cached: field names come from code and config, a small set seen over and over.
    if name in _META:
        return _Kind.META
    if is_secret_field(name):
        return _Kind.SECRET
    return _Kind.BODY if is_body_field(name) else _Kind.PLAIN
