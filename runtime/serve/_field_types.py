"""The type and range of every request field serve passes on (pure).

Each known field has a ``Check``: a function of the value and the field's path that
returns the value (an integral float as an int) or raises the 400 ``invalid_field``
naming the path (``options.num_ctx``, ``stream_options.include_usage``). The tables:

- ``SAMPLING``: the generation knobs both protocols share (OpenAI's top level,
  Ollama's ``options``), with the ranges the runtime's ``parameters`` enforces, so the
  400 names the field where the client wrote it rather than the runtime's name.
- ``OPENAI_CHAT``: OpenAI fields passed on verbatim in ``options`` (``user``,
  ``logit_bias``...); a value of the wrong type would otherwise reach the backend, or be
  dropped by one that ignores it.
- ``OLLAMA_OPTIONS``: Ollama's documented ``options`` (``num_ctx``, ``min_p``...);
  options not listed are passed on unchecked (a newer Ollama may know them).
- ``OLLAMA_TOP``: Ollama's top-level ``keep_alive``, ``think`` and ``truncate``.

``null`` counts as absent everywhere (the checks are not called for it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from runtime.serve._fields import bad_field, kind_of

__all__ = [
    "OLLAMA_OPTIONS",
    "OLLAMA_TOP",
    "OPENAI_CHAT",
    "SAMPLING",
    "Check",
    "boolean",
    "check_fields",
    "duration",
    "integer",
    "number",
    "obj",
    "stop",
    "string",
    "strings",
]

Check = Callable[[Any, str], Any]
"""``check(value, field)``: the value as passed on, or ``HttpError`` 400 naming ``field``."""

INT64: Final = (-(2**63), 2**63 - 1)
"""The range of a backend's integers (Go's ``int``, OpenAI's ``seed``)."""
_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
"""A Go duration (``5m``, ``1h30m``, ``-1s``, ``0``): what Ollama's ``keep_alive`` parses."""


def _span(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{low:g}, {high:g}]"
    if low is not None:
        return f" >= {low:g}"
    return f" <= {high:g}" if high is not None else ""


def _shown(value: Any) -> str:
    """``value`` for a message: its start, or its size for a huge integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return f"{value!r:.40}"


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An integer in ``[low, high]`` (``3.0`` counts as 3; booleans are not integers)."""
    lo, hi = INT64[0] if low is None else low, INT64[1] if high is None else high

    def check(value: Any, field: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            expected = f"an integer{_span(low, high) or _span(*INT64)}"
            raise bad_field(field, f"{field!r} must be {expected}, got {_shown(value)}")
        return value

    return check


def number(low: float | None = None, high: float | None = None) -> Check:
    """A finite number in ``[low, high]`` (booleans are not numbers)."""

    def check(value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_field(
                field, f"{field!r} must be a number{_span(low, high)}, got {kind_of(value)}"
            )
        # a 400-digit integer is valid JSON, and float() of it raises OverflowError
        big = isinstance(value, int) and value.bit_length() > 1000
        given = math.inf if big else float(value)
        if (
            math.isfinite(given)
            and (low is None or given >= low)
            and (high is None or given <= high)
        ):
            return given
        raise bad_field(field, f"{field!r} must be a number{_span(low, high)}, got {_shown(value)}")

    return check


def boolean(value: Any, field: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise bad_field(field, f"{field!r} must be true or false, got {kind_of(value)}")
    return value


def string(*choices: str) -> Check:
    """A string (one of ``choices`` when given)."""

    def check(value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise bad_field(field, f"{field!r} must be a string, got {kind_of(value)}")
        if choices and value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise bad_field(field, f"{field!r} must be one of {listed}, got {value!r:.40}")
        return value

    return check


def strings(value: Any, field: str) -> list[str]:
    """An array of strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_field(field, f"{field!r} must be an array of strings")
    return value


def stop(value: Any, field: str) -> str | list[str]:
    """A stop sequence or an array of 1-16 non-empty ones (the runtime's limits)."""
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad_field(field, f"{field!r} must be a non-empty string or an array of them")
    if len(stops) > 16:
        raise bad_field(field, f"{field!r} has {len(stops)} sequences; send at most 16")
    return value  # type: ignore[no-any-return]


def obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise bad_field(field, f"{field!r} must be an object, got {kind_of(value)}")
    return value


def _logit_bias(value: Any, field: str) -> dict[str, Any]:
    """OpenAI ``logit_bias``: token id (a string of digits) to a bias in [-100, 100]."""
    bias = number(-100, 100)
    for token, weight in obj(value, field).items():
        if not token.isdigit():
            raise bad_field(field, f"{field!r} keys must be token ids (digits), got {token!r:.40}")
        bias(weight, f"{field}.{token}")
    return value  # type: ignore[no-any-return]


def _labels(value: Any, field: str) -> dict[str, Any]:
    """OpenAI ``metadata``: string values."""
    for key, label in obj(value, field).items():
        string()(label, f"{field}.{key}")
    return value  # type: ignore[no-any-return]


def duration(value: Any, field: str) -> str | float:
    """Ollama's ``keep_alive``: seconds as a number, or a Go duration string (``5m``)."""
    if isinstance(value, str) and _DURATION.fullmatch(value):
        return value
    if not isinstance(value, bool) and isinstance(value, int | float):
        return number()(value, field)  # type: ignore[no-any-return]
    raise bad_field(field, f'{field!r} must be seconds or a duration like "5m", got {value!r:.40}')


def _think(value: Any, field: str) -> bool | str:
    """Ollama's ``think``: true/false, or a level for the models that take one."""
    if isinstance(value, bool):
        return value
    if value in ("high", "medium", "low"):
        return value  # type: ignore[no-any-return]
    raise bad_field(field, f"{field!r} must be true, false, 'high', 'medium' or 'low'")


SAMPLING: Final[Mapping[str, Check]] = {
    "temperature": number(0, 100),
    "top_p": number(0, 1),
    "frequency_penalty": number(-2, 2),
    "presence_penalty": number(-2, 2),
    "repeat_penalty": number(0, 100),
    "top_k": integer(0),
    "seed": integer(),
    "top_logprobs": integer(0, 20),
    "stop": stop,
}
"""The shared generation knobs; the ranges are ``runtime._params``' (a test checks)."""

OPENAI_CHAT: Final[Mapping[str, Check]] = {
    "n": integer(1),
    "logprobs": boolean,
    "user": string(),
    "parallel_tool_calls": boolean,
    "store": boolean,
    "service_tier": string(),
    "reasoning_effort": string(),
    "logit_bias": _logit_bias,
    "metadata": _labels,
    "modalities": strings,
    "prediction": obj,
    "audio": obj,
    "web_search_options": obj,
    "stream_options": obj,
}
"""OpenAI chat fields besides the sampling knobs, ``messages``, ``tools`` and
``max_tokens`` (checked where they are read)."""

OLLAMA_OPTIONS: Final[Mapping[str, Check]] = {
    **SAMPLING,
    "num_ctx": integer(1),
    "num_batch": integer(1),
    "num_gpu": integer(-1),
    "main_gpu": integer(0),
    "num_thread": integer(0),
    "num_keep": integer(-1),
    "repeat_last_n": integer(-1),
    "min_p": number(0, 1),
    "typical_p": number(0, 1),
    "tfs_z": number(0),
    "mirostat": integer(0, 2),
    "mirostat_tau": number(0),
    "mirostat_eta": number(0),
    "penalize_newline": boolean,
    "numa": boolean,
    "low_vram": boolean,
    "f16_kv": boolean,
    "logits_all": boolean,
    "vocab_only": boolean,
    "use_mmap": boolean,
    "use_mlock": boolean,
}
"""Ollama's documented options (``num_predict`` is checked as ``max_tokens``)."""

OLLAMA_TOP: Final[Mapping[str, Check]] = {
    "keep_alive": duration,
    "think": _think,
    "truncate": boolean,
}


def check_fields(
    body: Mapping[str, Any], table: Mapping[str, Check], where: str = ""
) -> dict[str, Any]:
    """The fields of ``body`` that ``table`` lists and that are not null, checked.

    Raises:
        HttpError: 400 ``invalid_field`` naming the first field at fault (its path).
    """
    return {
        name: table[name](value, where + name)
        for name, value in body.items()
        if name in table and value is not None
    }
