"""The generation parameters a call may set, checked into ``Parameters`` (pure).

``chat``/``stream`` take them as keywords (``GenerationParams`` lists them); each is
checked here, with an ``InvalidRequest`` naming it when its type or range is wrong.
What reaches a backend, and what a backend's API cannot carry (refused with
``UnsupportedParameter``, never dropped), is the wire translation's business
(``actors.endpoint``); the README has the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from actors.endpoint import Parameters, ResponseFormat
from runtime._errors import InvalidRequest

__all__ = ["GenerationParams", "parameters"]


class GenerationParams(TypedDict, total=False):
    """Keyword arguments of ``chat``/``stream`` that say how to generate."""

    max_tokens: int | None
    """Cap on generated tokens (Ollama ``num_predict``)."""
    temperature: float | None
    top_p: float | None
    top_k: int | None
    seed: int | None
    stop: str | Sequence[str] | None
    """One stop sequence or several."""
    frequency_penalty: float | None
    presence_penalty: float | None
    repeat_penalty: float | None
    logprobs: bool | None
    top_logprobs: int | None
    tools: Sequence[Mapping[str, Any]] | None
    """OpenAI tool definitions: ``{"type": "function", "function": {"name", ...}}``."""
    tool_choice: str | Mapping[str, Any] | None
    response_format: Mapping[str, Any] | ResponseFormat | None
    """``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema":
    {"name", "schema", "strict"}}`` (OpenAI's shape); Ollama's ``format`` is the same
    thing."""
    options: Mapping[str, Any] | None
    """Backend-specific options (``num_ctx``, ``keep_alive``, ``min_p``...)."""


_NUMBERS = {
    "temperature": (0.0, 100.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
    "repeat_penalty": (0.0, 100.0),
}
_COUNTS = {"max_tokens": 1, "top_k": 0, "top_logprobs": 0}
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_NONE_GIVEN = Parameters()
_NAMES = frozenset(GenerationParams.__annotations__)


def parameters(given: Mapping[str, Any]) -> Parameters:
    """``given`` (keyword arguments of a call) as ``Parameters``.

    Raises:
        InvalidRequest: An unknown name, or a value of the wrong type or range.
    """
    if not given:
        return _NONE_GIVEN
    unknown = sorted(given.keys() - _NAMES)
    if unknown:
        raise InvalidRequest(
            f"unknown parameter(s) {', '.join(unknown)}; the parameters are "
            f"{', '.join(GenerationParams.__annotations__)} (backend-specific ones go in "
            "options={...})"
        )
    values: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name in _NUMBERS:
            values[name] = _number(name, value, *_NUMBERS[name])
        elif name in _COUNTS:
            values[name] = _count(name, value, _COUNTS[name])
        elif name == "seed":
            values[name] = _count(name, value, -(2**63))
        elif name == "logprobs":
            if not isinstance(value, bool):
                raise InvalidRequest(f"logprobs must be true or false, got {value!r:.40}")
            values[name] = value
        else:
            values[name] = _CHECKS[name](value)
    return Parameters(**values)


def _number(name: str, value: object, low: float, high: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or not low <= float(value) <= high:  # type: ignore[arg-type]
        raise InvalidRequest(f"{name} must be a number in [{low:g}, {high:g}], got {value!r:.40}")
    return float(value)  # type: ignore[arg-type]


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequest(f"{name} must be an integer >= {low}, got {value!r:.40}")
    return value


def _stop(value: object) -> tuple[str, ...]:
    stops = (value,) if isinstance(value, str) else value
    if not isinstance(stops, Sequence) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidRequest("stop must be a string or a list of non-empty strings")
    if len(stops) > 16:
        raise InvalidRequest(f"stop has {len(stops)} sequences; send at most 16")
    return tuple(stops)


def _tools(value: object) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidRequest("tools must be a list of {'type': 'function', 'function': {...}}")
    tools: list[dict[str, Any]] = []
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            raise InvalidRequest(f"tools[{index}] must be {{'type': 'function', 'function': ...}}")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"tools[{index}].function.name must be a non-empty string")
        parameters = function.get("parameters") if isinstance(function, Mapping) else None
        if parameters is not None and not isinstance(parameters, Mapping):
            raise InvalidRequest(f"tools[{index}].function.parameters must be a JSON schema object")
        tools.append({"type": "function", "function": dict(function)})  # type: ignore[arg-type]
    return tuple(tools)


def _tool_choice(value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value in _TOOL_CHOICES:
        return value
    function = value.get("function") if isinstance(value, Mapping) else None
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return {"type": "function", "function": {"name": function["name"]}}
    raise InvalidRequest(
        "tool_choice must be 'auto', 'none', 'required' or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {value!r:.60}"
    )


def _response_format(value: object) -> ResponseFormat:
    if isinstance(value, ResponseFormat):
        return value
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text" or kind == "json_object":
        return ResponseFormat(type=kind)
    if kind == "json_schema" and isinstance(value, Mapping):
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(spec, Mapping) or not isinstance(schema, Mapping):
            raise InvalidRequest(
                "response_format json_schema needs {'json_schema': {'name': ..., 'schema': {...}}}"
            )
        name, strict = spec.get("name", "response"), spec.get("strict")
        if not isinstance(name, str) or (strict is not None and not isinstance(strict, bool)):
            raise InvalidRequest(
                "response_format.json_schema: name must be a string, strict a bool"
            )
        return ResponseFormat(type="json_schema", schema=dict(schema), name=name, strict=strict)
    raise InvalidRequest(
        "response_format must be {'type': 'text'}, {'type': 'json_object'} or "
        f"{{'type': 'json_schema', 'json_schema': {{...}}}}, got {value!r:.60}"
    )


def _options(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidRequest("options must be a mapping of option names to values")
    return dict(value)


_CHECKS: dict[str, Any] = {
    "stop": _stop,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "options": _options,
}
