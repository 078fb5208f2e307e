"""Tool calls in replies: parsing both APIs' shapes and assembling streamed deltas (pure).

OpenAI sends ``tool_calls: [{"id", "type": "function", "function": {"name",
"arguments": <JSON text>}}]``; in a stream, deltas keyed by ``index`` (the first
carries id, type and name, later ones append ``arguments`` fragments). Ollama sends
``tool_calls: [{"function": {"name", "arguments": <object>}}]``, whole, sometimes
without an id: such calls get ``call_<n>`` (n counting the reply's calls from 0).
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.endpoint._content import ToolCall
from actors.endpoint._streams import bad_response

__all__ = [
    "ToolCallAssembler",
    "finish_reason_with_tools",
    "ollama_tool_calls",
    "openai_tool_calls",
]


def finish_reason_with_tools(reason: str | None, calls: tuple[ToolCall, ...]) -> str | None:
    """``tool_calls`` when a reply with tool calls says ``stop`` or nothing."""
    if calls and reason in (None, "stop"):
        return "tool_calls"
    return reason


def _arguments(api: str, value: object, raw: bytes | str) -> str:
    """Arguments as JSON text (an object some servers send is encoded)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    if value is None:
        return "{}"
    raise bad_response(api, "tool call arguments are neither JSON text nor an object", raw)


def _function(api: str, item: object, raw: bytes | str) -> dict[str, Any]:
    function = item.get("function") if isinstance(item, dict) else None
    if not isinstance(function, dict):
        raise bad_response(api, "tool call without a 'function' object", raw)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise bad_response(api, "tool call without a function name", raw)
    return function


def openai_tool_calls(value: object, raw: bytes | str) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of an OpenAI message (None or [] is no calls).

    Raises:
        BackendError: bad_response for a malformed list or entry.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_response("openai", "'tool_calls' is not a list", raw)
    calls: list[ToolCall] = []
    for n, item in enumerate(value):
        function = _function("openai", item, raw)
        call_id = item.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise bad_response("openai", "tool call id is not a string", raw)
        kind = item.get("type")
        calls.append(
            ToolCall(
                id=call_id or f"call_{n}",
                name=function["name"],
                arguments=_arguments("openai", function.get("arguments"), raw),
                type=kind if isinstance(kind, str) and kind else "function",
            )
        )
    return tuple(calls)


def ollama_tool_calls(value: object, raw: bytes | str, *, first: int = 0) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of an Ollama message; ids missing become ``call_<first+n>``.

    Raises:
        BackendError: bad_response for a malformed list or entry (arguments must be an
            object, or JSON text from some versions).
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_response("ollama", "'tool_calls' is not a list", raw)
    calls: list[ToolCall] = []
    for n, item in enumerate(value, start=first):
        function = _function("ollama", item, raw)
        call_id = item.get("id") if isinstance(item, dict) else None
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{n}",
                name=function["name"],
                arguments=_arguments("ollama", function.get("arguments"), raw),
            )
        )
    return tuple(calls)


class _Partial:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.type = "function"
        self.arguments: list[str] = []


class ToolCallAssembler:
    """Assembles OpenAI streamed tool-call deltas into whole calls, by ``index``."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def add(self, deltas: object, raw: bytes | str) -> None:
        """Take one delta's ``tool_calls`` list (None: nothing).

        Raises:
            BackendError: bad_response for a malformed delta.
        """
        if deltas is None:
            return
        if not isinstance(deltas, list):
            raise bad_response("openai", "delta 'tool_calls' is not a list", raw)
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                raise bad_response("openai", "tool call delta is not an object", raw)
            index = delta.get("index", position)
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise bad_response("openai", "tool call delta with a bad index", raw)
            partial = self._calls.setdefault(index, _Partial())
            self._merge(partial, delta, raw)

    @staticmethod
    def _merge(partial: _Partial, delta: dict[str, Any], raw: bytes | str) -> None:
        call_id, kind, function = delta.get("id"), delta.get("type"), delta.get("function")
        if isinstance(call_id, str) and call_id:
            partial.id = call_id
        if isinstance(kind, str) and kind:
            partial.type = kind
        if function is None:
            return
        if not isinstance(function, dict):
            raise bad_response("openai", "tool call delta 'function' is not an object", raw)
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and name:
            partial.name = name
        if arguments is None:
            return
        if not isinstance(arguments, str):
            raise bad_response("openai", "tool call delta arguments are not text", raw)
        partial.arguments.append(arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        """The assembled calls in index order.

        Raises:
            BackendError: bad_response when a call never got a function name.
        """
        out: list[ToolCall] = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            if partial.name is None:
                raise bad_response("openai", f"streamed tool call {index} has no function name")
            out.append(
                ToolCall(
                    id=partial.id or f"call_{index}",
                    name=partial.name,
                    arguments="".join(partial.arguments),
                    type=partial.type,
                )
            )
        return tuple(out)
