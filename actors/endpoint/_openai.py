"""The OpenAI-compatible API (OpenAI, vLLM, llama.cpp server, LM Studio, Ollama's /v1).

``/v1/chat/completions`` (JSON, or a Server-Sent Events stream ending in
``data: [DONE]``) and ``/v1/models``. Paths are relative to the server root.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from actors.endpoint._classify import classify_error_payload
from actors.endpoint._streams import StreamParser, bad_response, decode_json_object
from actors.endpoint._types import (
    ChatRequest,
    ChatResult,
    Chunk,
    HttpRequestSpec,
    Timings,
    Usage,
    sanitize_usage,
)
from actors.endpoint._wire_chat import openai_chat_body
from actors.endpoint._wire_tools import (
    ToolCallAssembler,
    finish_reason_with_tools,
    openai_tool_calls,
)

__all__ = [
    "is_error_object",
    "SseStreamParser",
    "auth_headers",
    "build_openai_chat",
    "build_openai_models",
    "parse_openai_chat",
    "parse_openai_models",
]

_API = "openai"


def auth_headers(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The ``Authorization: Bearer`` header for ``api_key`` (none without a key).

    Raises:
        ValueError: an empty key or one with control characters.
    """
    if api_key is None:
        return ()
    if not api_key or any(c in api_key for c in "\r\n\0"):
        # A newline in a header value would let the config inject headers.
        raise ValueError("api_key is empty or contains control characters; fix it in the config")
    return (("Authorization", f"Bearer {api_key}"),)


def build_openai_chat(req: ChatRequest, *, api_key: str | None) -> HttpRequestSpec:
    """The ``POST /v1/chat/completions`` request for ``req`` (body: ``_wire_chat``).

    Raises:
        UnsupportedParameter: a parameter this API cannot carry.
        ValueError: ``options`` try to set a reserved field, or the key is bad.
    """
    body = openai_chat_body(req)
    accept = "text/event-stream" if req.stream else "application/json"
    headers = (("Content-Type", "application/json"), ("Accept", accept))
    return HttpRequestSpec(
        method="POST",
        path="/v1/chat/completions",
        headers=headers + auth_headers(api_key),
        body=msgspec.json.encode(body),
    )


def build_openai_models(*, api_key: str | None = None) -> HttpRequestSpec:
    """The ``GET /v1/models`` request."""
    return HttpRequestSpec(
        method="GET",
        path="/v1/models",
        headers=(("Accept", "application/json"), *auth_headers(api_key)),
    )


def parse_openai_models(body: bytes) -> tuple[str, ...]:
    """Model ids from a 200 ``/v1/models`` body.

    Raises:
        BackendError: bad_response when the body is not the expected shape.
    """
    obj = decode_json_object(_API, body)
    data = obj.get("data")
    if not isinstance(data, list):
        raise bad_response(_API, "/v1/models without a 'data' list", body)
    ids: list[str] = []
    for item in data:
        model_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise bad_response(_API, "/v1/models entry without an id", body)
        ids.append(model_id)
    return tuple(ids)


def _usage(obj: Mapping[str, Any]) -> Usage | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    return sanitize_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))


def _timings(obj: Mapping[str, Any]) -> Timings | None:
    """llama.cpp's ``timings`` (milliseconds, floats) as nanoseconds."""
    timings = obj.get("timings")
    if not isinstance(timings, dict):
        return None

    def ns(key: str) -> int | None:
        value = timings.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value * 1e6) if 0 <= value < 1e12 else None

    result = Timings(prompt_eval_duration_ns=ns("prompt_ms"), eval_duration_ns=ns("predicted_ms"))
    return None if result == Timings() else result


def _first_choice(obj: Mapping[str, Any], raw: bytes) -> dict[str, Any] | None:
    choices = obj.get("choices")
    if choices is None or choices == []:
        return None
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise bad_response(_API, "'choices' is not a list of objects", raw)
    return next((c for c in choices if isinstance(c, dict) and c.get("index") == 0), choices[0])


def _text(container: object, raw: bytes) -> str:
    """The ``content`` of a message/delta; None (tool calls, role-only deltas) is ""."""
    content = container.get("content") if isinstance(container, dict) else None
    if content is None:
        return ""
    if not isinstance(content, str):
        raise bad_response(_API, "content is not a string", raw)
    return content


def _reason(choice: Mapping[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    return reason if isinstance(reason, str) else None


def parse_openai_chat(body: bytes) -> ChatResult:
    """A ChatResult from a 2xx non-stream ``/v1/chat/completions`` body.

    Raises:
        BackendError: bad_response, or the class an ``{"error": ...}`` body names.
    """
    obj = decode_json_object(_API, body)
    if is_error_object(obj):
        raise classify_error_payload(_API, obj, status=200)
    choice = _first_choice(obj, body)
    if choice is None:
        raise bad_response(_API, "completion without choices", body)
    model = obj.get("model")
    message = choice.get("message")
    raw_calls = message.get("tool_calls") if isinstance(message, dict) else None
    calls = openai_tool_calls(raw_calls, body)
    return ChatResult(
        content=_text(message, body),
        model=model if isinstance(model, str) else "",
        finish_reason=finish_reason_with_tools(_reason(choice), calls),
        usage=_usage(obj),
        timings=_timings(obj),
        tool_calls=calls,
        logprobs=choice.get("logprobs"),
    )


class SseStreamParser(StreamParser):
    """Incremental parser of an OpenAI-style SSE chat stream, fed with raw bytes.

    Follows the SSE framing rules: ``field: value`` lines, a blank line ends an event,
    several ``data:`` lines join with "\\n", ``:`` starts a comment (keep-alive pings),
    ``event:``/``id:``/``retry:`` are accepted. Content chunks come out as they arrive;
    ``data: [DONE]`` yields the final ``done`` chunk with the finish reason and the
    usage of the (choice-less) usage event, and the tool calls assembled from the
    deltas (see ``ToolCallAssembler``). A delta's ``logprobs`` ride on its chunk (a
    delta without text is not a chunk). Errors: ``data: {"error": ...}``, an
    ``event: error`` event and older llama.cpp's non-standard ``error: {...}`` line.
    Line endings are LF or CRLF (a lone CR is not treated as a line end).
    """

    _api = _API

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data: list[bytes] = []
        self._event = b""
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._timings: Timings | None = None
        self._tools = ToolCallAssembler()

    def _parse_line(self, line: bytes) -> list[Chunk]:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return []
        if line.lstrip().startswith(b"{"):
            # A bare JSON body where SSE was expected: usually an error object.
            obj = decode_json_object(_API, line)
            if is_error_object(obj):
                raise classify_error_payload(_API, obj, status=200)
            raise bad_response(_API, "expected SSE 'data:' lines, got bare JSON", line)
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"data":
            self._data.append(value)
            self._splitter.reserved += len(value) + 1
            if self.buffered > self._splitter.max_line:
                raise bad_response(_API, "SSE event too large", value[:120])
        elif name == b"event":
            self._event = value
        elif name == b"error":
            raise classify_error_payload(_API, {"error": _loose_json(value)}, status=200)
        return []

    def _dispatch(self) -> list[Chunk]:
        data, event = b"\n".join(self._data), self._event
        self._data, self._event, self._splitter.reserved = [], b"", 0
        if not data:
            return []
        if data.strip() == b"[DONE]":
            self.done = True
            calls = self._tools.calls()
            final = Chunk(
                content="",
                done=True,
                finish_reason=finish_reason_with_tools(self._finish, calls),
                usage=self._usage,
                timings=self._timings,
                tool_calls=calls,
            )
            return [final]
        obj = decode_json_object(_API, data)
        if event == b"error":
            raise classify_error_payload(_API, {"error": obj.get("error", obj)}, status=200)
        return self._handle(obj, data)

    def _handle(self, obj: dict[str, Any], raw: bytes) -> list[Chunk]:
        if is_error_object(obj):
            raise classify_error_payload(_API, obj, status=200)
        if "usage" in obj and obj["usage"] is not None:
            self._usage = _usage(obj)
        self._timings = _timings(obj) or self._timings
        choice = _first_choice(obj, raw)
        if choice is None:
            if "usage" not in obj:
                raise bad_response(_API, "SSE event without choices or usage", raw)
            return []
        delta = choice.get("delta")
        content, reason = _text(delta, raw), _reason(choice)
        if isinstance(delta, dict):
            self._tools.add(delta.get("tool_calls"), raw)
        self._finish = reason or self._finish
        if not (content or reason):
            return []  # a role-only, tool-call or usage delta: nothing to show yet
        return [Chunk(content=content, finish_reason=reason, logprobs=choice.get("logprobs"))]

    def _unfinished(self) -> str:
        return "stream ended without 'data: [DONE]' (truncated)"


def is_error_object(obj: Mapping[str, Any]) -> bool:
    """An error object: ``{"error": ...}`` or vLLM's flat ``{"object": "error", ...}``."""
    return "error" in obj or obj.get("object") == "error"


def _loose_json(value: bytes) -> object:
    try:
        return msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError):
        return value.decode("utf-8", "replace")
