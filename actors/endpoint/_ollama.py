"""Ollama's native API: ``/api/chat`` (JSON or NDJSON stream) and ``/api/tags``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from actors.endpoint._classify import classify_error_payload
from actors.endpoint._content import ToolCall
from actors.endpoint._streams import StreamParser, bad_response, decode_json_object
from actors.endpoint._types import (
    ChatRequest,
    ChatResult,
    Chunk,
    HttpRequestSpec,
    Timings,
    sanitize_usage,
)
from actors.endpoint._wire_chat import ollama_chat_body
from actors.endpoint._wire_tools import finish_reason_with_tools, ollama_tool_calls

__all__ = [
    "NdjsonStreamParser",
    "build_ollama_chat",
    "build_ollama_tags",
    "normalize_ollama_model",
    "ollama_model_matches",
    "parse_ollama_chat",
    "parse_ollama_tags",
    "resolve_ollama_model",
]

_API = "ollama"
_DEFAULT_HOST = "registry.ollama.ai"
_DEFAULT_NAMESPACE = "library"
_DEFAULT_TAG = "latest"


def build_ollama_chat(req: ChatRequest) -> HttpRequestSpec:
    """The ``POST /api/chat`` request for ``req`` (body: ``_wire_chat``).

    Raises:
        UnsupportedParameter: a parameter Ollama's API cannot carry.
        ValueError: a malformed response format.
    """
    body = ollama_chat_body(req)
    accept = "application/x-ndjson" if req.stream else "application/json"
    return HttpRequestSpec(
        method="POST",
        path="/api/chat",
        headers=(("Content-Type", "application/json"), ("Accept", accept)),
        body=msgspec.json.encode(body),
    )


def build_ollama_tags() -> HttpRequestSpec:
    """The ``GET /api/tags`` request listing the locally available models."""
    accept = (("Accept", "application/json"),)
    return HttpRequestSpec(method="GET", path="/api/tags", headers=accept)


def parse_ollama_tags(body: bytes) -> tuple[str, ...]:
    """Model names from a 200 ``/api/tags`` body (e.g. ``"llama3:latest"``).

    Raises:
        BackendError: bad_response when the body is not the expected shape.
    """
    obj = decode_json_object(_API, body)
    models = obj.get("models")
    if not isinstance(models, list):
        raise bad_response(_API, "/api/tags without a 'models' list", body)
    names: list[str] = []
    for item in models:
        name = item.get("name", item.get("model")) if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_response(_API, "/api/tags entry without a name", body)
        names.append(name)
    return tuple(names)


def normalize_ollama_model(name: str) -> str:
    """The full form of an Ollama model name, as Ollama itself compares names.

    ``"llama3"`` -> ``"registry.ollama.ai/library/llama3:latest"``; ``"me/m:q4"`` ->
    ``"registry.ollama.ai/me/m:q4"``. Names are case-insensitive; a digest is ignored.
    """
    text = name.strip().lower().split("@", 1)[0]
    parts = text.split("/")
    model = parts[-1]
    if ":" not in model:
        # The tag is after the last "/", so a host:port never looks like a tag.
        model = f"{model}:{_DEFAULT_TAG}"
    namespace = parts[-2] if len(parts) >= 2 else _DEFAULT_NAMESPACE
    host = "/".join(parts[:-2]) if len(parts) >= 3 else _DEFAULT_HOST
    return f"{host}/{namespace}/{model}"


def ollama_model_matches(requested: str, served: str) -> bool:
    """Whether ``requested`` names ``served`` (implicit ``:latest`` tag, defaults)."""
    return normalize_ollama_model(requested) == normalize_ollama_model(served)


def resolve_ollama_model(requested: str, served: Iterable[str]) -> str | None:
    """The served name that ``requested`` refers to, or None.

    Example: ``resolve_ollama_model("llama3", ["llama3:latest"]) == "llama3:latest"``.
    """
    wanted = normalize_ollama_model(requested)
    return next((name for name in served if normalize_ollama_model(name) == wanted), None)


def _timings(obj: Mapping[str, Any]) -> Timings | None:
    def ns(key: str) -> int | None:
        value = obj.get(key)
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return value if ok else None

    timings = Timings(
        total_duration_ns=ns("total_duration"),
        load_duration_ns=ns("load_duration"),
        prompt_eval_duration_ns=ns("prompt_eval_duration"),
        eval_duration_ns=ns("eval_duration"),
    )
    return None if timings == Timings() else timings


def _content(obj: Mapping[str, Any], raw: bytes | str) -> str:
    message = obj.get("message")
    if message is None and obj.get("done") is True:
        return ""
    if not isinstance(message, dict):
        raise bad_response(_API, "object without a 'message'", raw)
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise bad_response(_API, "message content is not a string", raw)
    return content


def _chunk(obj: Mapping[str, Any], raw: bytes | str, *, first_call: int = 0) -> Chunk:
    """One NDJSON object (or the whole non-stream body) as a Chunk.

    Its ``tool_calls`` are the object's own (ids missing numbered from ``first_call``);
    the stream parser gathers them onto the final chunk.
    """
    if "error" in obj:
        raise classify_error_payload(_API, dict(obj), status=200)
    content = _content(obj, raw)
    message = obj.get("message")
    calls = ollama_tool_calls(
        message.get("tool_calls") if isinstance(message, dict) else None, raw, first=first_call
    )
    logprobs = obj.get("logprobs")
    if obj.get("done") is not True:
        return Chunk(content=content, tool_calls=calls, logprobs=logprobs)
    reason = obj.get("done_reason")
    return Chunk(
        content=content,
        done=True,
        finish_reason=reason if isinstance(reason, str) else None,
        usage=sanitize_usage(obj.get("prompt_eval_count"), obj.get("eval_count")),
        timings=_timings(obj),
        tool_calls=calls,
        logprobs=logprobs,
    )


def parse_ollama_chat(body: bytes) -> ChatResult:
    """A ChatResult from a 2xx non-stream ``/api/chat`` body.

    Raises:
        BackendError: bad_response, or the class an ``{"error": ...}`` body names.
    """
    obj = decode_json_object(_API, body)
    chunk = _chunk(obj, body)
    model = obj.get("model")
    return ChatResult(
        content=chunk.content,
        model=model if isinstance(model, str) else "",
        finish_reason=finish_reason_with_tools(chunk.finish_reason, chunk.tool_calls),
        usage=chunk.usage,
        timings=chunk.timings,
        tool_calls=chunk.tool_calls,
        logprobs=chunk.logprobs,
    )


class NdjsonStreamParser(StreamParser):
    """Incremental parser of Ollama's NDJSON chat stream, fed with raw bytes.

    Each line is one JSON object; the last has ``"done": true`` with usage and timings.
    Tool calls arrive whole in some line(s): they are gathered onto the final chunk.
    A line's top-level ``logprobs`` ride on its chunk.
    Blank lines are keep-alives. Lines after the final object are ignored.

    Example::

        parser = NdjsonStreamParser()
        for data in body_chunks:
            for chunk in parser.feed(data):
                ...
        parser.end()  # raises if the stream never said done
    """

    _api = _API

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._calls: tuple[ToolCall, ...] = ()

    def _parse_line(self, line: bytes) -> list[Chunk]:
        if not line.strip():
            return []
        obj = decode_json_object(_API, line)
        chunk = _chunk(obj, line, first_call=len(self._calls))
        self._calls += chunk.tool_calls
        if chunk.done:
            self.done = True
            calls = self._calls
            reason = finish_reason_with_tools(chunk.finish_reason, calls)
            return [msgspec.structs.replace(chunk, tool_calls=calls, finish_reason=reason)]
        if not chunk.content:
            return []  # a keep-alive or tool-call line: its calls go on the final chunk
        return [msgspec.structs.replace(chunk, tool_calls=())]

    def _unfinished(self) -> str:
        return 'stream ended without a final "done": true object (truncated)'
