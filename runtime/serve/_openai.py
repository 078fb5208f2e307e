"""The OpenAI wire format (pure): chat requests in, completions and SSE chunks out.

``/v1/chat/completions`` takes ``model`` (a role, or a model name or alias the runtime
lists), ``messages`` (passed on as sent: text, image parts, assistant ``tool_calls``,
``tool`` results), ``stream``, ``stream_options.include_usage``, ``max_tokens`` (or
``max_completion_tokens``; none: the models' own defaults), ``temperature``,
``top_p``, ``top_k``, ``seed``, ``stop``, the penalties, ``logprobs``,
``top_logprobs``, ``tools``, ``tool_choice`` and ``response_format``, which become the
runtime's parameters; and, for performance tracking, an optional ``kind`` (top level,
e.g. ``extra_body={"kind": "code"}``, or ``metadata.kind``). Every other field
(``user``, ``parallel_tool_calls``, ``logit_bias``...) is passed on in ``options``:
an OpenAI-compatible backend gets it verbatim, and a call that may reach a backend
unable to take it is refused naming it. Nothing is dropped. ``n`` > 1 and the
deprecated ``functions``/``function_call`` are refused with 400. Every field read here,
and the OpenAI fields passed on (``user``, ``logit_bias``, ``store``...), has its type
and range checked (``_field_types``): a wrong one is a 400 whose ``param`` names it
(``stream_options.include_usage``, ``logit_bias.42``).

A reply's ``message.tool_calls`` are OpenAI's (``content`` null when the model only
called tools, ``finish_reason: "tool_calls"``).

A stream is ``data: {chat.completion.chunk}`` events ending in ``data: [DONE]``; tool
calls arrive whole in one ``tool_calls`` delta before the ``finish_reason`` event; a
failure after the first chunk ends it with ``data: {"error": {...}}`` and no
``[DONE]``, which the official client raises as ``APIError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from actors.endpoint import ToolCall, Usage
from actors.router import Reply, StreamChunk
from runtime.serve._errors import HttpError, openai_type
from runtime.serve._field_types import OPENAI_CHAT, SAMPLING, check_fields
from runtime.serve._fields import bad_field, opt_bool, opt_object, required_str
from runtime.serve._limits import (
    ChatCall,
    check_max_tokens,
    check_tools,
    parse_kind,
    parse_messages,
    reject_backend_fields,
    reject_unsupported,
)
from runtime.serve._settings import ServeSettings

__all__ = [
    "SSE_DONE",
    "chunk_events",
    "completion",
    "error_body",
    "error_event",
    "models_list",
    "openai_logprobs",
    "parse_chat",
    "usage_event",
]

SSE_DONE: Final = b"data: [DONE]\n\n"
_ENCODER: Final = msgspec.json.Encoder()
_REFUSED = ("functions", "function_call")
"""The deprecated function-calling fields: refused (their reply shape differs)."""
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "kind",
        "metadata",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "repeat_penalty",
        "logprobs",
        "top_logprobs",
        "tools",
        "tool_choice",
        "response_format",
    }
)
"""Fields read here; every other (``user``, ``parallel_tool_calls``, ``logit_bias``,
``service_tier``...) is passed on in ``options``."""
_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})


def parse_chat(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check a ``/v1/chat/completions`` body and turn it into a ``ChatCall``.

    Raises:
        HttpError: 400 naming the field at fault.
    """
    reject_backend_fields(body)
    metadata = opt_object(body, "metadata")
    reject_backend_fields(metadata, "metadata.")
    reject_unsupported(body, _REFUSED, "send tools and tool_choice instead")
    checked = check_fields(body, OPENAI_CHAT)
    if checked.get("n", 1) != 1:
        raise HttpError(
            400, "'n' must be 1: one choice per request", code="unsupported_field", param="n"
        )
    limits = [
        check_max_tokens(body.get(name), name, settings.max_tokens_cap, negative_means_none=False)
        for name in ("max_tokens", "max_completion_tokens")
    ]
    given = [n for n in limits if n is not None]
    params = check_fields(body, SAMPLING)
    params.update(_agent_params(body))
    if given:
        params["max_tokens"] = min(given)
    extra = {k: checked.get(k, v) for k, v in body.items() if k not in _KNOWN and v is not None}
    labels = {k: v for k, v in metadata.items() if k != "kind"}
    if labels:  # OpenAI's request metadata: ours is kind, the rest goes on verbatim
        extra["metadata"] = labels
    if extra:
        params["options"] = extra
    stream_options = opt_object(body, "stream_options")
    return ChatCall(
        target=required_str(body, "model"),
        messages=parse_messages(body.get("messages"), settings),
        stream=opt_bool(body, "stream", False),
        params=params,
        kind=parse_kind(body) or parse_kind(metadata, where="metadata."),
        include_usage=opt_bool(stream_options, "include_usage", False, "stream_options."),
    )


def _agent_params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "logprobs": opt_bool(body, "logprobs", None),
        "tools": check_tools(body.get("tools")),
        "tool_choice": body.get("tool_choice"),
    }
    choice = params["tool_choice"]
    if choice is not None and not isinstance(choice, str | dict):
        raise bad_field("tool_choice", "'tool_choice' must be a string or an object")
    if body.get("response_format") is not None:
        params["response_format"] = opt_object(body, "response_format")
    return {name: value for name, value in params.items() if value is not None}


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _finish(reason: str | None, tool_calls: tuple[ToolCall, ...]) -> str:
    if tool_calls and reason in (None, "stop"):
        return "tool_calls"  # Ollama says "stop" after tool calls; OpenAI "tool_calls"
    return reason if reason in _FINISH_REASONS else "stop"


def _tool_calls(calls: tuple[ToolCall, ...], *, indexed: bool) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` (stream deltas also carry each call's ``index``)."""
    return [
        {
            **({"index": i} if indexed else {}),
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for i, call in enumerate(calls)
    ]


def openai_logprobs(raw: Any) -> Any:
    """Log probabilities in OpenAI's ``{"content": [...]}`` shape (Ollama sends the list
    of ``{token, logprob, top_logprobs}`` alone); None when there are none."""
    if raw is None or (isinstance(raw, dict) and "content" in raw):
        return raw
    if isinstance(raw, list):
        return {"content": [_token(entry) for entry in raw], "refusal": None}
    return raw


def _token(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    top = entry.get("top_logprobs") or []
    return {
        "bytes": None,
        **entry,
        "top_logprobs": [{"bytes": None, **t} for t in top if isinstance(t, dict)],
    }


def completion(reply: Reply, created: int) -> dict[str, Any]:
    """The ``chat.completion`` object of a complete reply (``model``: the one that
    answered; ``usage`` only when the backend reported it; ``content`` null when the
    model only called tools)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply.tool_calls, indexed=False)
        if not reply.content:
            message["content"] = None
    body: dict[str, Any] = {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion",
        "created": created,
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": openai_logprobs(reply.logprobs),
                "finish_reason": _finish(reply.finish_reason, reply.tool_calls),
            }
        ],
    }
    usage = _usage(reply.usage)
    if usage is not None:
        body["usage"] = usage
    return body


def chunk_events(chunk: StreamChunk, created: int, *, first: bool) -> list[bytes]:
    """The SSE events of one stream chunk.

    A text chunk is one event. The final chunk ends with the event carrying
    ``finish_reason``; when the model called tools, the calls (assembled by the
    runtime) come before it as one ``tool_calls`` delta.
    """
    delta: dict[str, Any] = {"role": "assistant"} if first else {}
    if chunk.content or (first and not chunk.tool_calls):
        delta["content"] = chunk.content
    head = _chunk_head(chunk, created)
    logprobs = openai_logprobs(chunk.logprobs)
    if not chunk.done:
        return [_sse(head | {"choices": [_choice(delta, logprobs, None)]})]
    events = []
    if chunk.tool_calls:
        if delta:
            events.append(_sse(head | {"choices": [_choice(delta, logprobs, None)]}))
            delta, logprobs = {}, None
        calls = {"tool_calls": _tool_calls(chunk.tool_calls, indexed=True)}
        events.append(_sse(head | {"choices": [_choice(calls, None, None)]}))
    reason = _finish(chunk.finish_reason, chunk.tool_calls)
    events.append(_sse(head | {"choices": [_choice(delta, logprobs, reason)]}))
    return events


def _choice(delta: dict[str, Any], logprobs: Any, reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": reason}


def usage_event(chunk: StreamChunk, created: int) -> bytes:
    """The extra last event ``stream_options.include_usage`` asks for (no choices)."""
    return _sse(_chunk_head(chunk, created) | {"choices": [], "usage": _usage(chunk.usage)})


def _chunk_head(chunk: StreamChunk, created: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{chunk.request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": chunk.model,
    }


def error_body(error: HttpError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": error.message,
            "type": openai_type(error.status),
            "param": error.param,
            "code": error.code,
        }
    }


def error_event(error: HttpError) -> bytes:
    """An SSE error event ending a stream that broke (no ``[DONE]`` follows)."""
    return _sse(error_body(error))


def models_list(entries: Iterable[tuple[str, str]], created: int) -> dict[str, Any]:
    """``/v1/models``: ``(name, "role" | "model")`` pairs as OpenAI model objects."""
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "llm-runtime",
                "type": kind,
            }
            for name, kind in entries
        ],
    }


def _sse(obj: object) -> bytes:
    return b"data: " + _ENCODER.encode(obj) + b"\n\n"
