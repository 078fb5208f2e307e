"""A small, pure generator of minimal JSON instances for a JSON Schema.

Covers what structured-output requests use: ``type`` (also lists, with ``null``),
``enum``, ``const``, objects (``required`` properties only), arrays (``minItems``,
``prefixItems``, ``uniqueItems``), strings (``minLength``/``maxLength`` and common
``format`` values), numbers and integers (bounds, ``multipleOf``), booleans, ``$ref``
to ``#/$defs/...`` or ``#/definitions/...``, ``anyOf``/``oneOf`` (first branch) and
``allOf`` (merged). ``pattern`` is not honoured.
"""

from __future__ import annotations

import math
from typing import Any, Final

_MAX_DEPTH: Final = 32
_FORMATS: Final = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "chaos@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


class SchemaError(ValueError):
    """The schema cannot be instantiated (unsupported or contradictory)."""


def instance(schema: dict[str, Any]) -> Any:
    """A small JSON value that validates against `schema`.

    Raises:
        SchemaError: a ``$ref`` cannot be resolved or nesting is too deep.
    """
    return _Generator(schema).value(schema, 0, 0)


class _Generator:
    """Walks one schema; `root` resolves local ``$ref`` pointers."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root

    def value(self, schema: object, depth: int, variant: int) -> Any:
        """An instance of `schema`; `variant` > 0 asks for a different value."""
        if depth > _MAX_DEPTH:
            raise SchemaError("schema nesting too deep (recursive without an exit?)")
        if schema is True or not isinstance(schema, dict):
            return {}
        schema = self._flatten(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            choices = schema["enum"]
            return choices[variant % len(choices)]
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth, variant)
        if kind == "string":
            return _string(schema, variant)
        if kind in ("number", "integer"):
            return _number(schema, kind == "integer", variant)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return {}

    def _flatten(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """Resolve ``$ref``, merge ``allOf`` and take the first ``anyOf``/``oneOf``."""
        if depth > _MAX_DEPTH:
            raise SchemaError("schema nesting too deep (recursive without an exit?)")
        ref = schema.get("$ref")
        if isinstance(ref, str):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self._flatten({**self._resolve(ref), **rest}, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                branch = _preferred(branches)
                return self._flatten({**rest, **self._flatten(branch, depth + 1)}, depth + 1)
        parts = schema.get("allOf")
        if isinstance(parts, list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                if isinstance(part, dict):
                    flat = self._flatten(part, depth + 1)
                    required = [*merged.get("required", []), *flat.get("required", [])]
                    props = {**merged.get("properties", {}), **flat.get("properties", {})}
                    merged = {**merged, **flat, "required": required, "properties": props}
            return merged
        return schema

    def _resolve(self, ref: str) -> dict[str, Any]:
        """The schema a local JSON pointer (``#/...``) refers to."""
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref pointers are supported, got {ref!r}")
        node: Any = self._root
        for raw in filter(None, ref[1:].split("/")):
            key = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise SchemaError(f"unresolvable $ref {ref!r}")
            node = node[key]
        if not isinstance(node, dict):
            raise SchemaError(f"$ref {ref!r} does not point at a schema object")
        return node

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """An object holding only the required properties."""
        props = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for name in schema.get("required") or []:
            out[name] = self.value(props.get(name, {}), depth + 1, 0)
        return out

    def _array(self, schema: dict[str, Any], depth: int, variant: int) -> list[Any]:
        """``minItems`` items (distinct ones when ``uniqueItems``)."""
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        count = max(int(schema.get("minItems", 0)), len(prefix))
        unique = bool(schema.get("uniqueItems"))
        out = []
        for i in range(count):
            item = prefix[i] if i < len(prefix) else items
            out.append(self.value(item, depth + 1, i if unique else variant))
        return out


def _kind(schema: dict[str, Any]) -> str | None:
    """The JSON type to produce (a non-null one when ``type`` is a list)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [k for k in kind if k != "null"]
        return real[0] if real else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _preferred(branches: list[Any]) -> dict[str, Any]:
    """The first branch that is not just ``{"type": "null"}`` (else the first)."""
    dicts = [b for b in branches if isinstance(b, dict)]
    for branch in dicts:
        if branch.get("type") != "null":
            return branch
    return dicts[0] if dicts else {}


def _string(schema: dict[str, Any], variant: int) -> str:
    """A string of an allowed length (a sample of the ``format`` when known)."""
    text = _FORMATS.get(str(schema.get("format")), "chaos")
    if variant:
        text = f"{text}{variant}"
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if len(text) < low:
        text += "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high] if variant == 0 else text[-high:]
    return text


def _number(schema: dict[str, Any], integer: bool, variant: int) -> int | float:
    """A number within the bounds, as close to 0 (+ `variant`) as they allow."""
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    # Draft 4 spells exclusivity as booleans next to minimum / maximum.
    if ex_low is True:
        ex_low, low = low, None
    if ex_high is True:
        ex_high, high = high, None
    lower = _bound(low, ex_low, integer, step, up=True)
    upper = _bound(high, ex_high, integer, step, up=False)
    value: float = variant
    if lower is not None:
        value = max(value, lower)
    if upper is not None:
        value = min(value, upper)
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
    return int(value) if integer else float(value)


def _bound(
    inclusive: object, exclusive: object, integer: bool, step: object, *, up: bool
) -> float | None:
    """The tightest usable bound from an inclusive and an exclusive limit."""
    found: list[float] = []
    if isinstance(inclusive, int | float) and not isinstance(inclusive, bool):
        found.append(math.ceil(inclusive) if integer and up else inclusive)
        if integer and not up:
            found[-1] = math.floor(inclusive)
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        nudge = step if isinstance(step, int | float) and step > 0 else (1 if integer else 0.5)
        nudge = min(nudge, 1) if not integer else max(1, nudge)
        found.append(exclusive + nudge if up else exclusive - nudge)
    if not found:
        return None
    return max(found) if up else min(found)
