"""Tool calls: the scripted value type and its Ollama / OpenAI wire shapes (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

_ARGUMENT_FRAGMENT: Final = 8
"""Characters of ``arguments`` per streamed OpenAI delta (OpenAI sends a few tokens)."""


@dataclass(frozen=True)
class ScriptedToolCall:
    """One function call the fake model makes, e.g. ``ScriptedToolCall("get_weather", {"city":
    "Paris"})``.

    Rendered as OpenAI ``tool_calls`` (``arguments`` as a JSON string, an id
    ``call_...``) or Ollama ``tool_calls`` (``arguments`` as an object).
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject an empty name and arguments that are not a JSON object."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a tool call needs a function name, got {self.name!r}")
        if not isinstance(self.arguments, Mapping):
            raise ValueError(f"tool call arguments must be a mapping, got {self.arguments!r}")
        try:
            msgspec.json.encode(dict(self.arguments))
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValueError(f"tool call arguments must be JSON-encodable: {exc}") from exc

    @property
    def arguments_json(self) -> str:
        """The arguments as the compact JSON text OpenAI sends."""
        return msgspec.json.encode(dict(self.arguments)).decode()


ToolCallLike = ScriptedToolCall | tuple[str, Mapping[str, Any]]
"""A `ScriptedToolCall` or its ``(name, arguments)`` shorthand."""


def as_tool_call(value: ToolCallLike) -> ScriptedToolCall:
    """Normalise the ``(name, arguments)`` shorthand to a `ScriptedToolCall`."""
    if isinstance(value, ScriptedToolCall):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return ScriptedToolCall(value[0], value[1])
    raise ValueError(f"expected a ScriptedToolCall or a (name, arguments) pair, got {value!r}")


def call_id(ident: str, index: int) -> str:
    """The OpenAI id of the `index`-th call of the reply with id suffix `ident`."""
    return f"call_{ident}{index:02d}"


def tool_tokens(calls: tuple[ScriptedToolCall, ...]) -> int:
    """A plausible token count for generating `calls` (~4 characters per token)."""
    return sum(math.ceil((len(c.name) + len(c.arguments_json)) / 4) for c in calls)


def openai_tool_calls(calls: tuple[ScriptedToolCall, ...], ident: str) -> list[dict[str, Any]]:
    """``message.tool_calls`` of a non-streamed OpenAI chat completion."""
    return [
        {
            "id": call_id(ident, i),
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments_json},
        }
        for i, c in enumerate(calls)
    ]


def openai_tool_deltas(calls: tuple[ScriptedToolCall, ...], ident: str) -> list[dict[str, Any]]:
    """Streamed ``delta`` objects, as OpenAI sends them, for `calls`.

    Per call: one delta with index, id, type, name and empty arguments, then deltas
    that each append a fragment of the arguments JSON.
    """
    deltas: list[dict[str, Any]] = []
    for i, c in enumerate(calls):
        head = {
            "index": i,
            "id": call_id(ident, i),
            "type": "function",
            "function": {"name": c.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        text = c.arguments_json
        for start in range(0, len(text), _ARGUMENT_FRAGMENT):
            fragment = text[start : start + _ARGUMENT_FRAGMENT]
            deltas.append({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
    return deltas


def ollama_tool_calls(calls: tuple[ScriptedToolCall, ...]) -> list[dict[str, Any]]:
    """``message.tool_calls`` of an Ollama chat reply (arguments as an object)."""
    return [{"function": {"name": c.name, "arguments": dict(c.arguments)}} for c in calls]
