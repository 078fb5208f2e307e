"""Scripted replies: exact texts, tool calls and tool round trips per model (pure).

A model's answer is chosen in this order: the next queued `ScriptedReply` (FIFO), then
its `ToolRoundTrip` rule (chat routes only), then JSON output when the request asks
for it, then deterministic generated words.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from runtime.testing._tools import ScriptedToolCall, ToolCallLike, as_tool_call

RESULT_PLACEHOLDER: Final = "{result}"
"""Replaced, in a `ToolRoundTrip`'s final text, by the content of the tool message."""


@dataclass(frozen=True, init=False)
class ScriptedReply:
    """One scripted answer: text, tool calls, or both.

    Example: ``ScriptedReply(tool_calls=[("get_weather", {"city": "Paris"})])`` makes
    the next chat answer a tool call: OpenAI ``finish_reason: "tool_calls"`` with
    ``content: null``, Ollama ``message.tool_calls`` with ``done_reason: "stop"``.
    On ``/api/generate`` and ``/v1/completions`` only the text is sent.
    """

    text: str
    """Reply text, split on whitespace into streamed word-tokens ("" for none)."""
    tool_calls: tuple[ScriptedToolCall, ...]
    """Function calls, in order."""

    def __init__(self, text: str = "", *, tool_calls: Iterable[ToolCallLike] = ()) -> None:
        """Build a reply; `tool_calls` items are `ScriptedToolCall` or ``(name, arguments)``.

        Raises:
            ValueError: `text` is not a string, or a tool call is invalid.
        """
        if not isinstance(text, str):
            raise ValueError(f"scripted text must be a string, got {text!r}")
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "tool_calls", tuple(as_tool_call(c) for c in tool_calls))


Scripted = str | ScriptedReply
"""What `ChaosServer.script` accepts per reply: a text or a `ScriptedReply`."""


def as_reply(item: Scripted) -> ScriptedReply:
    """Normalise a plain text to a `ScriptedReply`."""
    if isinstance(item, ScriptedReply):
        return item
    if isinstance(item, str):
        return ScriptedReply(item)
    raise ValueError(f"expected a reply text or a ScriptedReply, got {item!r}")


def decode_reply(data: object) -> ScriptedReply:
    """A reply from admin JSON: ``"text"`` or ``{"text"?, "tool_calls"?: [{"name",
    "arguments"?}]}``; raises ValueError when malformed."""
    if isinstance(data, str):
        return ScriptedReply(data)
    if not isinstance(data, dict) or not set(data) <= {"text", "tool_calls"}:
        raise ValueError(f'expected "text" or {{"text", "tool_calls"}}, got {data!r}')
    calls = data.get("tool_calls", [])
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise ValueError('tool_calls must be a list of {"name", "arguments"} objects')
    return ScriptedReply(
        data.get("text", ""),
        tool_calls=[ScriptedToolCall(c.get("name", ""), c.get("arguments", {})) for c in calls],
    )


@dataclass(frozen=True)
class ToolRoundTrip:
    """A standing rule answering a whole tool round trip, whatever the call order.

    For each chat request: when the current turn (the messages after the last ``user``
    message) already holds a ``tool`` message, answer `final_text` with
    ``{result}`` replaced by that message's content; otherwise, when the request
    offers ``tools``, answer with `call`; otherwise the rule does not apply.
    """

    call: ScriptedToolCall
    final_text: str = "The tool returned: {result}"

    def answer(self, *, has_tools: bool, tool_result: str | None) -> ScriptedReply | None:
        """The reply for a request, or None when the rule does not apply."""
        if tool_result is not None:
            return ScriptedReply(self.final_text.replace(RESULT_PLACEHOLDER, tool_result))
        if has_tools:
            return ScriptedReply(tool_calls=[self.call])
        return None


class ScriptBook:
    """Queued replies and round-trip rules per model key."""

    def __init__(self) -> None:
        """Start with nothing scripted."""
        self._queues: dict[str, deque[ScriptedReply]] = {}
        self._rules: dict[str, ToolRoundTrip] = {}

    def clear(self) -> None:
        """Forget every queued reply and rule."""
        self._queues.clear()
        self._rules.clear()

    def queue(self, key: str, replies: Iterable[Scripted]) -> int:
        """Append `replies` to the queue of `key`; return how many were queued."""
        checked = [as_reply(r) for r in replies]
        self._queues.setdefault(key, deque()).extend(checked)
        return len(checked)

    def set_round_trip(self, key: str, rule: ToolRoundTrip | None) -> None:
        """Install (or with None remove) the round-trip rule of `key`."""
        if rule is None:
            self._rules.pop(key, None)
        else:
            self._rules[key] = rule

    def next(
        self, key: str, *, chat: bool, has_tools: bool, tool_result: str | None
    ) -> ScriptedReply | None:
        """The scripted answer for one request on `key`, or None to generate one."""
        queue = self._queues.get(key)
        if queue:
            return queue.popleft()
        rule = self._rules.get(key)
        if rule is None or not chat:
            return None
        return rule.answer(has_tools=has_tools, tool_result=tool_result)


def round_trip(name: str, arguments: Mapping[str, Any], final_text: str) -> ToolRoundTrip:
    """Build a validated `ToolRoundTrip`."""
    if not isinstance(final_text, str):
        raise ValueError(f"final_text must be a string, got {final_text!r}")
    return ToolRoundTrip(ScriptedToolCall(name, arguments), final_text)
