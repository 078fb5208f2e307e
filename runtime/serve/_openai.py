"""The OpenAI wire format (pure): chat requests in, completions and SSE chunks out.

``/v1/chat/completions`` takes ``model`` (a role, or a configured model name or alias),
``messages``, ``stream``, ``max_tokens`` (or ``max_completion_tokens``),
``temperature``, ``stream_options.include_usage`` and, for performance tracking, an
optional ``kind`` (top level, e.g. ``extra_body={"kind": "code"}``, or
``metadata.kind``). Other standard sampling fields are accepted and ignored; ``tools``,
``functions``, ``n`` > 1 and a JSON ``response_format`` are refused with 400.

A stream is ``data: {chat.completion.chunk}`` events ending in ``data: [DONE]``; a
failure after the first chunk ends it with ``data: {"error": {...}}`` and no
``[DONE]``, which the official client raises as ``APIError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from actors.endpoint import Usage
from actors.router import Reply, StreamChunk
from runtime.serve._errors import HttpError, openai_type
from runtime.serve._limits import (
    ChatCall,
    check_max_tokens,
    opt_bool,
    opt_number,
    opt_object,
    parse_kind,
    parse_messages,
    reject_backend_fields,
    reject_unsupported,
    required_str,
)
from runtime.serve._settings import ServeSettings

__all__ = [
    "SSE_DONE",
    "chunk_event",
    "completion",
    "error_body",
    "error_event",
    "models_list",
    "parse_chat",
    "usage_event",
]

SSE_DONE: Final = b"data: [DONE]\n\n"
_ENCODER: Final = msgspec.json.Encoder()
_UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "prediction")


def parse_chat(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check a ``/v1/chat/completions`` body and turn it into a ``ChatCall``.

    Raises:
        HttpError: 400 naming the field at fault.
    """
    reject_backend_fields(body)
    metadata = opt_object(body, "metadata")
    reject_backend_fields(metadata, "metadata.")
    reject_unsupported(body, _UNSUPPORTED)
    _check_n_and_format(body)
    limits = [
        check_max_tokens(body.get(name), name, settings.max_tokens_cap, negative_means_none=False)
        for name in ("max_tokens", "max_completion_tokens")
    ]
    given = [n for n in limits if n is not None]
    stream_options = opt_object(body, "stream_options")
    return ChatCall(
        target=required_str(body, "model"),
        messages=parse_messages(body.get("messages"), settings),
        stream=opt_bool(body, "stream", False),
        max_tokens=min(given) if given else None,
        temperature=opt_number(body, "temperature"),
        kind=parse_kind(body) or parse_kind(metadata, where="metadata."),
        include_usage=opt_bool(stream_options, "include_usage", False),
    )


def _check_n_and_format(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise HttpError(
            400, "'n' must be 1: one choice per request", code="unsupported_field", param="n"
        )
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise HttpError(
            400,
            "'response_format' must be text; JSON modes are not supported",
            code="unsupported_field",
            param="response_format",
        )


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def completion(reply: Reply, created: int) -> dict[str, Any]:
    """The ``chat.completion`` object of a complete reply (``model``: the one that
    answered; ``usage`` only when the backend reported it)."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion",
        "created": created,
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "logprobs": None,
                "finish_reason": _finish(reply.finish_reason),
            }
        ],
    }
    usage = _usage(reply.usage)
    if usage is not None:
        body["usage"] = usage
    return body


def chunk_event(chunk: StreamChunk, created: int, *, first: bool) -> bytes:
    """The SSE event of one stream chunk (the final one carries ``finish_reason``)."""
    delta: dict[str, str] = {"role": "assistant"} if first else {}
    if chunk.content or first:
        delta["content"] = chunk.content
    choice = {
        "index": 0,
        "delta": delta,
        "logprobs": None,
        "finish_reason": _finish(chunk.finish_reason) if chunk.done else None,
    }
    return _sse(_chunk_head(chunk, created) | {"choices": [choice]})


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
