"""The Ollama wire format (pure): chat/generate requests in, replies and NDJSON out.

``/api/chat`` takes ``model`` (a role, or a configured model name or alias),
``messages``, ``stream`` (default true, as in Ollama), ``options.num_predict``
(negative: no limit, i.e. the server's cap) and ``options.temperature``, plus an
optional ``kind`` for performance tracking. ``/api/generate`` takes ``prompt`` and an
optional ``system`` instead of messages. ``tools``, ``format``, ``images``, ``suffix``
and ``context`` with real values are refused with 400; ``keep_alive``, ``think`` and
other options are accepted and ignored.

A stream is NDJSON objects with ``done: false`` and one final ``done: true``; a
failure after the first line ends it with ``{"error": "..."}`` and no ``done: true``
line, which the official client raises as ``ResponseError``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any, Final, Literal

import msgspec

from actors.endpoint import Usage
from actors.router import Reply, StreamChunk
from runtime.serve._errors import HttpError
from runtime.serve._limits import (
    ChatCall,
    check_max_tokens,
    opt_bool,
    opt_number,
    opt_object,
    opt_str,
    parse_kind,
    parse_messages,
    reject_backend_fields,
    reject_unsupported,
    required_str,
)
from runtime.serve._settings import ServeSettings

__all__ = [
    "Route",
    "error_body",
    "error_line",
    "final_line",
    "load_body",
    "parse_chat",
    "parse_generate",
    "piece_line",
    "reply_body",
    "rfc3339",
    "tags",
]

Route = Literal["chat", "generate"]
_ENCODER: Final = msgspec.json.Encoder()
_UNSUPPORTED = ("tools", "format", "images", "suffix", "context")


def parse_chat(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check an ``/api/chat`` body and turn it into a ``ChatCall``.

    Raises:
        HttpError: 400 naming the field at fault.
    """
    options = _common(body)
    return ChatCall(
        target=required_str(body, "model"),
        messages=parse_messages(body.get("messages"), settings),
        **_knobs(body, options, settings),
    )


def parse_generate(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check an ``/api/generate`` body: ``system`` and ``prompt`` become messages.

    An empty prompt gives a ``ChatCall`` without messages: Ollama's way to load a
    model, answered with an empty ``done_reason: "load"`` reply.
    """
    options = _common(body)
    system = opt_str(body, "system")
    prompt = opt_str(body, "prompt") or ""
    as_messages = [{"role": "system", "content": system}] if system else []
    as_messages.append({"role": "user", "content": prompt})
    messages = parse_messages(as_messages, settings) if prompt else ()
    return ChatCall(
        target=required_str(body, "model"), messages=messages, **_knobs(body, options, settings)
    )


def _common(body: dict[str, Any]) -> dict[str, Any]:
    reject_backend_fields(body)
    options = opt_object(body, "options")
    reject_backend_fields(options, "options.")
    reject_unsupported(body, _UNSUPPORTED)
    return options


def _knobs(body: dict[str, Any], options: dict[str, Any], settings: ServeSettings) -> Any:
    cap = settings.max_tokens_cap
    return {
        "stream": opt_bool(body, "stream", True),
        "max_tokens": check_max_tokens(
            options.get("num_predict"), "options.num_predict", cap, negative_means_none=True
        ),
        "temperature": opt_number(options, "temperature", "options."),
        "kind": parse_kind(body),
    }


def rfc3339(created: float) -> str:
    """A Unix time the way Ollama writes ``created_at`` (UTC, microseconds, ``Z``)."""
    stamp = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _piece(route: Route, model: str, created: float, content: str, done: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"model": model, "created_at": rfc3339(created)}
    if route == "chat":
        obj["message"] = {"role": "assistant", "content": content}
    else:
        obj["response"] = content
    obj["done"] = done
    return obj


def _final(
    route: Route,
    model: str,
    created: float,
    content: str,
    reason: str | None,
    usage: Usage | None,
    latency_s: float | None,
) -> dict[str, Any]:
    obj = _piece(route, model, created, content, True)
    obj["done_reason"] = reason or "stop"
    if latency_s is not None:
        obj["total_duration"] = int(latency_s * 1e9)
    if usage is not None:
        obj["prompt_eval_count"] = usage.prompt_tokens
        obj["eval_count"] = usage.completion_tokens
    return obj


def reply_body(route: Route, reply: Reply, created: float) -> dict[str, Any]:
    """The single object of a ``"stream": false`` reply (``model``: the one that
    answered)."""
    return _final(
        route,
        reply.model,
        created,
        reply.content,
        reply.finish_reason,
        reply.usage,
        reply.latency_s,
    )


def load_body(route: Route, model: str, created: float) -> dict[str, Any]:
    """The reply to a generate call without a prompt (Ollama: "model loaded")."""
    return _final(route, model, created, "", "load", None, None)


def piece_line(route: Route, chunk: StreamChunk, created: float) -> bytes:
    """One NDJSON line with a piece of text (``done: false``)."""
    return _line(_piece(route, chunk.model, created, chunk.content, False))


def final_line(route: Route, chunk: StreamChunk, created: float, latency_s: float) -> bytes:
    """The final NDJSON line (``done: true``, ``done_reason``, counts when known)."""
    return _line(
        _final(
            route, chunk.model, created, chunk.content, chunk.finish_reason, chunk.usage, latency_s
        )
    )


def error_body(error: HttpError) -> dict[str, Any]:
    """Ollama's error shape, ``{"error": "..."}``."""
    return {"error": error.message}


def error_line(error: HttpError) -> bytes:
    """An NDJSON error line ending a stream that broke (no ``done: true`` follows)."""
    return _line(error_body(error))


def tags(entries: Iterable[tuple[str, str]], modified: float) -> dict[str, Any]:
    """``/api/tags``: ``(name, "role" | "model")`` pairs as Ollama models (size 0 and a
    digest of the name: the facade holds no weights)."""
    stamp = rfc3339(modified)
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "modified_at": stamp,
                "size": 0,
                "digest": hashlib.sha256(f"{kind}:{name}".encode()).hexdigest(),
                "details": {
                    "format": "",
                    "family": "",
                    "parameter_size": "",
                    "quantization_level": "",
                },
                "type": kind,
            }
            for name, kind in entries
        ]
    }


def _line(obj: object) -> bytes:
    return _ENCODER.encode(obj) + b"\n"
