"""Typed readers of request-body fields (pure): each refusal is a 400 naming the field.

The generation parameters' types and ranges are ``_field_types``' tables.

``where`` is the prefix of the field's path in the body (``options.``, ``metadata.``),
so a message says ``'options.top_p' must be a number`` rather than ``top_p``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.serve._errors import HttpError

__all__ = [
    "bad_field",
    "kind_of",
    "opt_bool",
    "opt_object",
    "opt_str",
    "required_str",
]


def bad_field(field: str, message: str) -> HttpError:
    """The 400 ``invalid_field`` naming ``field``."""
    return HttpError(400, message, code="invalid_field", param=field)


def kind_of(value: Any) -> str:
    """``value``'s JSON type, for messages (``a string``, ``an array``...)."""
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


def required_str(body: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        got = "missing" if value is None else f"got {kind_of(value)}"
        raise bad_field(name, f"{name!r} must be a non-empty string ({got})")
    return value


def opt_str(body: Mapping[str, Any], name: str, where: str = "") -> str | None:
    """An optional string field (null counts as absent)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_field(where + name, f"{where + name!r} must be a string, got {kind_of(value)}")
    return value


def opt_bool(body: Mapping[str, Any], name: str, default: bool | None, where: str = "") -> Any:
    """An optional boolean field (``default`` when absent or null)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        field = where + name
        raise bad_field(field, f"{field!r} must be true or false, got {kind_of(value)}")
    return value


def opt_object(body: Mapping[str, Any], name: str, where: str = "") -> dict[str, Any]:
    """An optional JSON object field ({} when absent)."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        field = where + name
        raise bad_field(field, f"{field!r} must be an object, got {kind_of(value)}")
    return value
