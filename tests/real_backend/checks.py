"""Checkers for structured output and embeddings, reusable by runtime-level tests.

``validate_against_schema`` is a deliberately tiny JSON Schema checker for the subset
the real-backend tests use (``jsonschema`` is importable in some environments only as a
transitive dependency of unrelated tools, so the tests do not rely on it). Supported
keywords: ``type`` (object, array, string, integer, number, boolean, null, or a list of
them), ``properties``, ``required``, ``additionalProperties`` (bool or schema),
``items``, ``enum``, ``const``, ``minLength``/``maxLength``, ``minimum``/``maximum``.
Any other keyword raises ``ValueError`` so a schema outside the subset cannot pass
silently.

Schemas and ``response_format`` bodies the lead can reuse:

- ``PERSON_SCHEMA``: object with a required string ``name`` (at most 8 characters) and a
  required integer ``age`` (0..150), no other keys. The bounds are what makes the tiny
  random model reliable: without ``maxLength`` it rambles inside the string until
  ``max_tokens`` runs out (observed: still inside ``"name"`` after 200 tokens); the
  ``maximum`` keeps ``age`` to 3 digits (llama.cpp allows 16 otherwise). With them the
  whole answer is bounded (35-49 tokens observed), so ``max_tokens=PERSON_MAX_TOKENS``
  lets the grammar close the object. ``additionalProperties: false`` changes nothing in
  llama.cpp's grammar (observed: it emits exactly the listed members either way) but
  makes the schema mean the same on backends that honour extra keys, and OpenAI's
  ``strict`` mode requires it.
- ``CHOICE_SCHEMA``: ``enum`` string + boolean; bounded by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

PERSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
"""Bounded person schema (see the module docstring for why each bound is there)."""

PERSON_MAX_TOKENS: Final = 200
"""``max_tokens`` for ``PERSON_SCHEMA`` requests on the tiny model (server ctx 256).

The grammar bounds the answer: the string is at most 8 characters, the integer at most
3 digits, and each of the grammar's optional whitespace runs (nothing, one space, or
one or two newlines plus up to 20 spaces/tabs) at most 22 characters; the optional
```` ```json ```` fence adds about 10. Observed answers (5 prompts, greedy and
temperature 1 with several seeds) take 35-49 tokens, so 200 is a wide margin that
still fits a 256-token context with a short prompt. Only a model that picked the
longest whitespace run at most of the ~11 optional places could exceed it.
"""

CHOICE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "color": {"enum": ["red", "green", "blue"]},
        "ok": {"type": "boolean"},
    },
    "required": ["color", "ok"],
    "additionalProperties": False,
}

_KNOWN_KEYWORDS: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        # annotations, no effect on validity
        "title",
        "description",
    }
)


def json_schema_format(schema: Mapping[str, Any], name: str = "x") -> dict[str, Any]:
    """The OpenAI ``response_format`` body for ``schema``."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}


JSON_OBJECT_FORMAT: Final[dict[str, Any]] = {"type": "json_object"}


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "null":
        return value is None
    if type_name == "integer":  # bool is an int subclass in Python, not in JSON
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    raise ValueError(f"unsupported type {type_name!r}")


def validate_against_schema(obj: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Return the list of violations of ``schema`` by ``obj`` (empty list: valid).

    Raises ``ValueError`` for a keyword outside the supported subset.
    """
    unknown = set(schema) - _KNOWN_KEYWORDS
    if unknown:
        raise ValueError(f"{path}: unsupported schema keywords {sorted(unknown)}")
    errors: list[str] = []
    if "type" in schema:
        types = schema["type"]
        names: Sequence[str] = [types] if isinstance(types, str) else types
        if not any(_type_ok(obj, t) for t in names):
            return [f"{path}: expected type {types}, got {type(obj).__name__} {obj!r}"]
    if "enum" in schema and obj not in schema["enum"]:
        errors.append(f"{path}: {obj!r} not in enum {schema['enum']}")
    if "const" in schema and obj != schema["const"]:
        errors.append(f"{path}: {obj!r} != const {schema['const']!r}")
    if isinstance(obj, str):
        if "minLength" in schema and len(obj) < schema["minLength"]:
            errors.append(f"{path}: length {len(obj)} < minLength {schema['minLength']}")
        if "maxLength" in schema and len(obj) > schema["maxLength"]:
            errors.append(f"{path}: length {len(obj)} > maxLength {schema['maxLength']}")
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        if "minimum" in schema and obj < schema["minimum"]:
            errors.append(f"{path}: {obj} < minimum {schema['minimum']}")
        if "maximum" in schema and obj > schema["maximum"]:
            errors.append(f"{path}: {obj} > maximum {schema['maximum']}")
    if isinstance(obj, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in obj:
                errors.append(f"{path}: required property {key!r} missing")
        additional = schema.get("additionalProperties", True)
        for key, value in obj.items():
            if key in properties:
                errors += validate_against_schema(value, properties[key], f"{path}.{key}")
            elif additional is False:
                errors.append(f"{path}: additional property {key!r} not allowed")
            elif isinstance(additional, Mapping):
                errors += validate_against_schema(value, additional, f"{path}.{key}")
    if isinstance(obj, list) and "items" in schema:
        for i, item in enumerate(obj):
            errors += validate_against_schema(item, schema["items"], f"{path}[{i}]")
    return errors


def assert_valid(obj: Any, schema: Mapping[str, Any]) -> None:
    """``assert`` that ``obj`` satisfies ``schema``, listing every violation."""
    errors = validate_against_schema(obj, schema)
    assert not errors, f"{obj!r} violates the schema: {errors}"


def embedding_problems(vector: Any, dim: int) -> list[str]:
    """Why ``vector`` is not a list of ``dim`` finite floats (empty list: it is)."""
    if not isinstance(vector, list):
        return [f"expected a list, got {type(vector).__name__}"]
    problems: list[str] = []
    if len(vector) != dim:
        problems.append(f"expected {dim} components, got {len(vector)}")
    bad = [
        i
        for i, x in enumerate(vector)
        if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x)
    ]
    if bad:
        problems.append(f"non-finite or non-numeric components at {bad[:10]}")
    return problems


def l2_norm(vector: Sequence[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))
