"""Checks on request bodies shared by both protocols (pure): fields, types, caps.

Every refusal is an ``HttpError`` 400 naming the field at fault (``messages[2].content``,
``options.num_predict``...). Messages are checked against the count and size caps only
and passed on as they came (OpenAI's or Ollama's shape: images, tool calls, tool
results): the runtime's parser checks the rest and names the field at fault.

A client can never choose a backend: a body that carries any of ``BACKEND_FIELDS`` (at
the top level, in Ollama's ``options`` or OpenAI's ``metadata``) is refused, since backend
URLs and keys come from the config only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from typing import Any

import msgspec

from runtime.serve._errors import HttpError
from runtime.serve._fields import bad_field, kind_of, opt_object, opt_str
from runtime.serve._settings import ServeSettings

__all__ = [
    "refuse_unknown",
    "BACKEND_FIELDS",
    "ChatCall",
    "check_max_tokens",
    "check_tools",
    "parse_kind",
    "parse_messages",
    "reject_backend_fields",
    "reject_unsupported",
]

BACKEND_FIELDS = frozenset(
    {
        "api_base",
        "api_key",
        "api_key_env",
        "api_type",
        "api_version",
        "auth",
        "authorization",
        "base_url",
        "baseurl",
        "deployment_url",
        "endpoint",
        "endpoints",
        "extra_headers",
        "headers",
        "host",
        "organization",
        "proxies",
        "proxy",
        "server",
        "server_url",
        "token",
        "url",
    }
)
"""Body fields that would choose a backend or its credentials: always refused."""

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_KIND = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ChatCall(msgspec.Struct, frozen=True, kw_only=True):
    """One chat request, whichever protocol it came in."""

    target: str
    """The ``model`` field: a role name, or a model name or alias the runtime lists."""
    messages: tuple[dict[str, Any], ...]
    """The messages as sent (OpenAI's or Ollama's shape), oldest first."""
    stream: bool
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """``GenerationParams`` for ``rt.chat``/``rt.stream`` (only those the client set;
    ``options`` holds the backend-specific rest)."""
    kind: str | None = None
    """Task kind for performance tracking (default: the role's)."""
    include_usage: bool = False
    """OpenAI ``stream_options.include_usage``: a last chunk carrying the usage."""


def reject_backend_fields(body: Mapping[str, Any], where: str = "") -> None:
    """Refuse a body (or ``options``/``metadata`` object) that sets a backend field.

    Raises:
        HttpError: 400 ``backend_field_refused`` naming the field.
    """
    for name in body:
        if isinstance(name, str) and name.lower().replace("-", "_") in BACKEND_FIELDS:
            field = f"{where}{name}"
            raise HttpError(
                400,
                f"field {field!r} is not allowed: backend URLs and keys come from the "
                "server's configuration only; remove it",
                code="backend_field_refused",
                param=field,
            )


def refuse_unknown(body: Mapping[str, Any], known: Set[str]) -> None:
    """Refuse backend fields (top level and ``options``) and any field not in ``known``
    with a real value: a route that cannot carry a field says so rather than lose it.

    Raises:
        HttpError: 400 ``backend_field_refused`` or ``unsupported_field`` naming it.
    """
    reject_backend_fields(body)
    reject_backend_fields(opt_object(body, "options"), "options.")
    for name, value in body.items():
        if name not in known and value is not None:
            raise HttpError(
                400,
                f"{name!r} is not a field this server reads on this route (it would be "
                "lost); remove it, or put a backend option in 'options'",
                code="unsupported_field",
                param=name,
            )


def reject_unsupported(body: Mapping[str, Any], names: tuple[str, ...], why: str) -> None:
    """Refuse fields this facade cannot carry when they hold a real value.

    Empty or null values (``"suffix": ""`` as some clients send) pass.
    """
    for name in names:
        value = body.get(name)
        if value not in (None, "", [], {}, False):
            raise HttpError(
                400,
                f"{name!r} is not supported by this server: {why}; remove it",
                code="unsupported_field",
                param=name,
            )


def check_max_tokens(value: Any, field: str, cap: int, *, negative_means_none: bool) -> int | None:
    """``value`` as a token limit within ``cap`` (the server never sets one itself).

    Args:
        value: The field's value (None: not set).
        field: Its name, for the message.
        cap: ``ServeSettings.max_tokens_cap``.
        negative_means_none: Ollama's ``num_predict`` uses -1/-2 for "no limit".

    Raises:
        HttpError: 400 for a non-integer, zero, or a value over ``cap``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_field(field, f"{field!r} must be an integer, got {kind_of(value)}")
    if value < 0 and negative_means_none:
        return None
    if value < 1:
        raise bad_field(field, f"{field!r} must be >= 1, got {value}")
    if value > cap:
        raise HttpError(
            400,
            f"{field!r} is {value}, over this server's cap of {cap}; ask for at most {cap}",
            code="max_tokens_over_cap",
            param=field,
        )
    return value


def check_tools(value: Any, field: str = "tools") -> list[dict[str, Any]] | None:
    """``tools``: an array of objects (None when absent; each tool is checked by the
    runtime, which names the one at fault)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise bad_field(
            field, f"{field!r} must be an array of {{'type': 'function', 'function': ...}}"
        )
    return value


def parse_kind(body: Mapping[str, Any], *, where: str = "") -> str | None:
    """The optional task kind (``kind``): 1-64 of letters, digits, ``_.:-``."""
    value = opt_str(body, "kind", where)
    if value is not None and not _KIND.fullmatch(value):
        field = where + "kind"
        raise bad_field(field, f"{field!r} must be 1-64 letters, digits or _.:- characters")
    return value


def parse_messages(value: Any, settings: ServeSettings) -> tuple[dict[str, Any], ...]:
    """The ``messages`` array as sent, within the count and size caps.

    Raises:
        HttpError: 400 for a missing or empty array, too many messages, a message that
            is not an object or has no known role, or text over the size cap.
    """
    if not isinstance(value, list):
        got = "missing" if value is None else f"got {kind_of(value)}"
        raise bad_field("messages", f"'messages' must be an array of messages ({got})")
    if not value:
        raise bad_field("messages", "'messages' is empty; send at least one message")
    if len(value) > settings.max_messages:
        raise HttpError(
            400,
            f"'messages' has {len(value)} messages, over this server's cap of "
            f"{settings.max_messages}",
            code="too_many_messages",
            param="messages",
        )
    return tuple(_message(item, f"messages[{i}]", settings) for i, item in enumerate(value))


def _message(item: Any, where: str, settings: ServeSettings) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_field(where, f"{where!r} must be an object with 'role' and 'content'")
    role = item.get("role")
    if role not in ROLES:
        raise bad_field(
            f"{where}.role",
            f"'{where}.role' must be one of {', '.join(sorted(ROLES))}, got {role!r:.40}",
        )
    content = item.get("content")
    if content is not None and not isinstance(content, str | list):
        raise bad_field(
            f"{where}.content",
            f"'{where}.content' must be a string or an array of parts, got {kind_of(content)}",
        )
    size = _text_size(content)
    if size > settings.max_message_chars:
        raise HttpError(
            400,
            f"'{where}.content' has {size} characters, over this server's cap of "
            f"{settings.max_message_chars}",
            code="message_too_long",
            param=f"{where}.content",
        )
    return item


def _text_size(content: Any) -> int:
    """Characters of text in a content string or parts list (images: the body cap)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0
