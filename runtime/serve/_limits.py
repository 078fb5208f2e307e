"""Checks on request bodies shared by both protocols (pure): fields, types, caps.

Every refusal is an ``HttpError`` 400 naming the field at fault (``messages[2].content``,
``options.num_predict``...). A client can never choose a backend: a body that carries
any of ``BACKEND_FIELDS`` (at the top level, in Ollama's ``options`` or OpenAI's
``metadata``) is refused, since backend URLs and keys come from the config only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from runtime.serve._errors import HttpError
from runtime.serve._settings import ServeSettings

__all__ = [
    "BACKEND_FIELDS",
    "ChatCall",
    "check_max_tokens",
    "opt_bool",
    "opt_number",
    "opt_object",
    "opt_str",
    "parse_kind",
    "parse_messages",
    "reject_backend_fields",
    "reject_unsupported",
    "required_str",
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

ROLES = frozenset({"system", "user", "assistant"})
_ROLE_ALIASES = {"developer": "system"}
"""OpenAI's ``developer`` role is its newer name for ``system``."""
_KIND = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ChatCall(msgspec.Struct, frozen=True, kw_only=True):
    """One chat request, whichever protocol it came in."""

    target: str
    """The ``model`` field: a role name, or a configured model name or alias."""
    messages: tuple[dict[str, str], ...]
    """``{"role", "content"}`` pairs, oldest first."""
    stream: bool
    max_tokens: int | None = None
    """None: the models' defaults, capped at ``max_tokens_cap``."""
    temperature: float | None = None
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


def reject_unsupported(body: Mapping[str, Any], names: tuple[str, ...]) -> None:
    """Refuse fields this facade cannot honour when they carry a real value.

    Empty or null values (``"tools": []`` as the Ollama client always sends) pass.
    """
    for name in names:
        value = body.get(name)
        if value not in (None, "", [], {}, False):
            raise HttpError(
                400,
                f"{name!r} is not supported by this server (plain chat only); remove it",
                code="unsupported_field",
                param=name,
            )


def required_str(body: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        got = "missing" if value is None else f"got {_kind_of(value)}"
        raise _bad(name, f"{name!r} must be a non-empty string ({got})")
    return value


def opt_str(body: Mapping[str, Any], name: str, where: str = "") -> str | None:
    """An optional string field (null counts as absent)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(where + name, f"{where + name!r} must be a string, got {_kind_of(value)}")
    return value


def opt_bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    """An optional boolean field."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(name, f"{name!r} must be true or false, got {_kind_of(value)}")
    return value


def opt_number(body: Mapping[str, Any], name: str, where: str = "") -> float | None:
    """An optional number field (booleans are not numbers)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where + name, f"{where + name!r} must be a number, got {_kind_of(value)}")
    return float(value)


def opt_object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """An optional JSON object field ({} when absent)."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(name, f"{name!r} must be an object, got {_kind_of(value)}")
    return value


def check_max_tokens(value: Any, field: str, cap: int, *, negative_means_none: bool) -> int | None:
    """``value`` as a token limit within ``cap``.

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
        raise _bad(field, f"{field!r} must be an integer, got {_kind_of(value)}")
    if value < 0 and negative_means_none:
        return None
    if value < 1:
        raise _bad(field, f"{field!r} must be >= 1, got {value}")
    if value > cap:
        raise HttpError(
            400,
            f"{field!r} is {value}, over this server's cap of {cap}; ask for at most {cap}",
            code="max_tokens_over_cap",
            param=field,
        )
    return value


def parse_kind(body: Mapping[str, Any], *, where: str = "") -> str | None:
    """The optional task kind (``kind``): 1-64 of letters, digits, ``_.:-``."""
    value = opt_str(body, "kind", where)
    if value is not None and not _KIND.fullmatch(value):
        field = where + "kind"
        raise _bad(field, f"{field!r} must be 1-64 letters, digits or _.:- characters")
    return value


def parse_messages(value: Any, settings: ServeSettings) -> tuple[dict[str, str], ...]:
    """The ``messages`` array as role/content pairs, within the count and size caps.

    Content may be a string or OpenAI's list of ``{"type": "text", "text": ...}`` parts;
    images and tool messages are refused (the runtime relays plain chat).
    """
    if not isinstance(value, list):
        got = "missing" if value is None else f"got {_kind_of(value)}"
        raise _bad("messages", f"'messages' must be an array of messages ({got})")
    if not value:
        raise _bad("messages", "'messages' is empty; send at least one message")
    if len(value) > settings.max_messages:
        raise HttpError(
            400,
            f"'messages' has {len(value)} messages, over this server's cap of "
            f"{settings.max_messages}",
            code="too_many_messages",
            param="messages",
        )
    return tuple(_message(item, f"messages[{i}]", settings) for i, item in enumerate(value))


def _message(item: Any, where: str, settings: ServeSettings) -> dict[str, str]:
    if not isinstance(item, dict):
        raise _bad(where, f"{where!r} must be an object with 'role' and 'content'")
    role = item.get("role")
    role = _ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
    if role not in ROLES:
        raise _bad(
            f"{where}.role",
            f"'{where}.role' must be one of system, user, assistant, got {role!r:.40}",
        )
    if item.get("images"):
        raise _bad(f"{where}.images", f"'{where}.images': images are not supported")
    content = _content(item.get("content"), f"{where}.content")
    if len(content) > settings.max_message_chars:
        raise HttpError(
            400,
            f"'{where}.content' has {len(content)} characters, over this server's cap of "
            f"{settings.max_message_chars}",
            code="message_too_long",
            param=f"{where}.content",
        )
    return {"role": role, "content": content}


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""  # an assistant turn that only called tools has no content
    if isinstance(value, list):
        texts = []
        for i, part in enumerate(value):
            if not (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                raise _bad(
                    f"{where}[{i}]",
                    f"'{where}[{i}]' must be a text part "
                    "({'type': 'text', 'text': ...}); other parts are not supported",
                )
            texts.append(part["text"])
        return "".join(texts)
    raise _bad(where, f"{where!r} must be a string or an array of text parts")


def _bad(field: str, message: str) -> HttpError:
    return HttpError(400, message, code="invalid_field", param=field)


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
