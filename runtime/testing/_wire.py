"""Ollama and OpenAI wire bodies: JSON, NDJSON lines and SSE events (pure).

Nothing here touches sockets or clocks: times and ids are passed in, so every byte a
route sends can be checked in unit tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Final, Literal

import msgspec

from runtime.testing import _tools
from runtime.testing._tools import ScriptedToolCall

Dialect = Literal["ollama", "openai"]
Route = Literal["chat", "generate", "completions"]

_ENCODER: Final = msgspec.json.Encoder()
SSE_DONE: Final = b"data: [DONE]\n\n"
OLLAMA_VERSION: Final = "0.12.0"
_KEEP_ALIVE: Final = 300.0  # seconds a model stays "loaded" in /api/ps
_NS_PER_TOKEN: Final = 20_000_000  # a plausible 50 tokens/s for the fake durations
_LOAD_NS: Final = 3_000_000
_CONTEXT_LENGTH: Final = 8192


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to render one generated reply in either dialect."""

    model: str
    """The model name exactly as the client sent it (real servers echo it)."""
    pieces: list[str]
    """Text pieces, one per streamed chunk (one word-token each)."""
    prompt_tokens: int
    finish_reason: Literal["stop", "length", "tool_calls"]
    created: float
    """Unix time of the reply."""
    ident: str
    """Unique suffix for OpenAI ids."""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    """Function calls made after the text (chat routes only)."""

    @property
    def text(self) -> str:
        """The full reply text."""
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        """Generated tokens: one per piece, plus an estimate for the tool calls."""
        return len(self.pieces) + _tools.tool_tokens(self.tool_calls)


def encode(obj: object) -> bytes:
    """Encode `obj` as compact JSON."""
    return _ENCODER.encode(obj)


def ndjson_line(obj: object) -> bytes:
    """Frame `obj` as one NDJSON line."""
    return _ENCODER.encode(obj) + b"\n"


def sse_event(obj: object) -> bytes:
    """Frame `obj` as one SSE ``data:`` event."""
    return b"data: " + _ENCODER.encode(obj) + b"\n\n"


def rfc3339(created: float) -> str:
    """Format a Unix time the way Ollama does (UTC, microseconds, ``Z``)."""
    stamp = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Ollama -------------------------------------------------------------------------


def _ollama_piece(route: Route, c: Completion, piece: str, done: bool) -> dict[str, Any]:
    """One Ollama chat/generate object carrying `piece`."""
    obj: dict[str, Any] = {"model": c.model, "created_at": rfc3339(c.created)}
    if route == "chat":
        obj["message"] = {"role": "assistant", "content": piece}
    else:
        obj["response"] = piece
    obj["done"] = done
    return obj


def _ollama_final(route: Route, c: Completion, content: str) -> dict[str, Any]:
    """The final Ollama object with ``done: true`` and the timing/usage fields."""
    obj = _ollama_piece(route, c, content, True)
    eval_ns = c.completion_tokens * _NS_PER_TOKEN
    prompt_ns = c.prompt_tokens * _NS_PER_TOKEN // 10
    obj["done_reason"] = "stop" if c.finish_reason == "tool_calls" else c.finish_reason
    if route == "generate":
        obj["context"] = list(range(1, min(c.prompt_tokens + c.completion_tokens, 64) + 1))
    obj.update(
        total_duration=_LOAD_NS + prompt_ns + eval_ns,
        load_duration=_LOAD_NS,
        prompt_eval_count=c.prompt_tokens,
        prompt_eval_duration=prompt_ns,
        eval_count=c.completion_tokens,
        eval_duration=eval_ns,
    )
    return obj


def _with_tool_calls(obj: dict[str, Any], c: Completion) -> dict[str, Any]:
    """`obj` whose chat ``message`` carries the completion's tool calls."""
    obj["message"]["tool_calls"] = _tools.ollama_tool_calls(c.tool_calls)
    return obj


def ollama_stream(route: Route, c: Completion) -> list[bytes]:
    """NDJSON lines of an Ollama stream: one per piece, a line with the tool calls
    (if any), then the final ``done`` object."""
    lines = [ndjson_line(_ollama_piece(route, c, p, False)) for p in c.pieces]
    if route == "chat" and c.tool_calls:
        lines.append(ndjson_line(_with_tool_calls(_ollama_piece(route, c, "", False), c)))
    lines.append(ndjson_line(_ollama_final(route, c, "")))
    return lines


def ollama_body(route: Route, c: Completion) -> bytes:
    """The single JSON object of a ``"stream": false`` Ollama reply."""
    obj = _ollama_final(route, c, c.text)
    if route == "chat" and c.tool_calls:
        _with_tool_calls(obj, c)
    return encode(obj)


def _digest(name: str) -> str:
    """A stable fake sha256 digest for a model name."""
    return hashlib.sha256(name.encode()).hexdigest()


def _details(name: str) -> dict[str, Any]:
    """The ``details`` object Ollama attaches to a model."""
    family = name.split(":", 1)[0].rstrip("0123456789.") or "llama"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": "8.0B",
        "quantization_level": "Q4_K_M",
    }


def ollama_tags(models: list[str], modified: float) -> bytes:
    """``GET /api/tags``: the local models."""
    entries = [
        {
            "name": m,
            "model": m,
            "modified_at": rfc3339(modified),
            "size": 4_661_224_676 + i,
            "digest": _digest(m),
            "details": _details(m),
        }
        for i, m in enumerate(models)
    ]
    return encode({"models": entries})


def ollama_show(name: str, modified: float) -> bytes:
    """``POST /api/show``: model metadata."""
    details = _details(name)
    arch = details["family"]
    return encode(
        {
            "modelfile": f"# Modelfile generated by the chaos backend\nFROM {name}\n",
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": details,
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": 8_030_261_248,
                f"{arch}.context_length": _CONTEXT_LENGTH,
            },
            "capabilities": ["completion", "tools"],
            "modified_at": rfc3339(modified),
        }
    )


def ollama_version() -> bytes:
    """``GET /api/version``."""
    return encode({"version": OLLAMA_VERSION})


def ollama_ps(models: list[str], now: float) -> bytes:
    """``GET /api/ps``: every served model, as if loaded fully into VRAM."""
    entries = [
        {
            "name": m,
            "model": m,
            "size": 5_137_025_024 + i,
            "digest": _digest(m),
            "details": _details(m),
            "expires_at": rfc3339(now + _KEEP_ALIVE),
            "size_vram": 5_137_025_024 + i,
            "context_length": _CONTEXT_LENGTH,
        }
        for i, m in enumerate(models)
    ]
    return encode({"models": entries})


# --- OpenAI -------------------------------------------------------------------------


def _usage(c: Completion) -> dict[str, int]:
    """The OpenAI ``usage`` object."""
    total = c.prompt_tokens + c.completion_tokens
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": total,
    }


def _openai_head(route: Route, c: Completion, stream: bool) -> dict[str, Any]:
    """Fields shared by every OpenAI object of one reply."""
    if route == "chat":
        prefix, obj = "chatcmpl-", "chat.completion.chunk" if stream else "chat.completion"
    else:
        prefix, obj = "cmpl-", "text_completion"
    return {"id": prefix + c.ident, "object": obj, "created": int(c.created), "model": c.model}


def openai_body(route: Route, c: Completion) -> bytes:
    """The JSON body of a non-streaming chat or text completion."""
    choice: dict[str, Any] = {"index": 0}
    if route == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": c.text}
        if c.tool_calls:
            message["content"] = c.text or None
            message["tool_calls"] = _tools.openai_tool_calls(c.tool_calls, c.ident)
        choice["message"] = message
    else:
        choice.update(text=c.text, logprobs=None)
    choice["finish_reason"] = c.finish_reason
    obj = _openai_head(route, c, False)
    obj.update(choices=[choice], usage=_usage(c), system_fingerprint="fp_chaos")
    return encode(obj)


def _openai_chunk(route: Route, c: Completion, delta: dict[str, Any], finish: str | None) -> bytes:
    """One SSE event of a streaming completion."""
    choice: dict[str, Any] = {"index": 0}
    if route == "chat":
        choice["delta"] = delta
    else:
        choice.update(text=delta.get("content", ""), logprobs=None)
    choice["finish_reason"] = finish
    obj = _openai_head(route, c, True)
    obj.update(choices=[choice], system_fingerprint="fp_chaos")
    return sse_event(obj)


def openai_stream(route: Route, c: Completion, include_usage: bool) -> list[bytes]:
    """SSE events of a stream: role, pieces, finish, optional usage, then ``[DONE]``."""
    events = []
    if route == "chat":
        first = "" if c.pieces or not c.tool_calls else None
        events.append(_openai_chunk(route, c, {"role": "assistant", "content": first}, None))
    events.extend(_openai_chunk(route, c, {"content": p}, None) for p in c.pieces)
    if route == "chat":
        deltas = _tools.openai_tool_deltas(c.tool_calls, c.ident)
        events.extend(_openai_chunk(route, c, d, None) for d in deltas)
    events.append(_openai_chunk(route, c, {}, c.finish_reason))
    if include_usage:
        obj = _openai_head(route, c, True)
        obj.update(choices=[], usage=_usage(c))
        events.append(sse_event(obj))
    events.append(SSE_DONE)
    return events


def openai_models(models: list[str], created: float) -> bytes:
    """``GET /v1/models``."""
    data = [
        {"id": m, "object": "model", "created": int(created), "owned_by": "library"} for m in models
    ]
    return encode({"object": "list", "data": data})


# --- Errors and junk ----------------------------------------------------------------


def error_body(
    flavor: Literal["ollama", "openai", "llamacpp"],
    message: str,
    *,
    status: int,
    err_type: str = "api_error",
    code: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """An error body as Ollama, OpenAI or llama.cpp's server would send it."""
    if flavor == "ollama":
        return encode({"error": message})
    if flavor == "openai":
        return encode(
            {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        )
    body: dict[str, Any] = {"code": status, "message": message, "type": err_type}
    body.update(extra or {})
    return encode({"error": body})


def html_error_page(status_text: str = "502 Bad Gateway") -> bytes:
    """The kind of HTML page a reverse proxy serves in place of the API."""
    return (
        f"<html>\r\n<head><title>{status_text}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status_text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
