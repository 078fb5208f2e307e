"""The Ollama wire format (pure): chat/generate requests in, replies and NDJSON out.

``/api/chat`` takes ``model`` (a role, or a model name or alias the runtime lists),
``messages`` (passed on as sent: ``images``, ``tool_calls``, ``tool`` results),
``stream`` (default true, as in Ollama), ``tools``, ``format`` (``"json"``: a JSON
object; a schema object: JSON following it), ``logprobs``, ``top_logprobs`` and
``options``: ``num_predict`` (negative: no limit) becomes ``max_tokens``;
``temperature``, ``top_p``, ``top_k``, ``seed``, ``stop`` and the penalties the named
parameters; every other option (``num_ctx``, ``min_p``...) and the top-level
``keep_alive`` and ``think`` go to the runtime's ``options``. An optional ``kind``
labels the task kind. ``/api/generate`` takes ``prompt`` (with ``images``) and an
optional ``system`` instead of messages; ``suffix``, ``context``, ``raw`` and
``template`` with real values are refused with 400 (one chat turn cannot carry them).
Any other field is refused with 400 naming it rather than dropped. The documented
options, ``keep_alive`` (seconds or a duration like ``5m``), ``think`` (a boolean or a
level) and the rest have their types and ranges checked (``_field_types``): a wrong one
is a 400 whose message names it (``'options.num_ctx' must be an integer >= 1``); an
option Ollama does not document is passed on unchecked.

A reply's ``message.tool_calls`` are Ollama's (``{"function": {"name", "arguments":
{...}}}``); ``done_reason`` is ``stop`` after tool calls, as Ollama says.

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

from actors.endpoint import ToolCall
from actors.router import Reply, StreamChunk
from runtime.serve._errors import HttpError
from runtime.serve._field_types import (
    OLLAMA_OPTIONS,
    OLLAMA_TOP,
    SAMPLING,
    check_fields,
)
from runtime.serve._fields import bad_field, opt_bool, opt_object, opt_str, required_str
from runtime.serve._limits import (
    ChatCall,
    check_max_tokens,
    check_tools,
    parse_kind,
    parse_messages,
    refuse_unknown,
    reject_unsupported,
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
_DECODER: Final = msgspec.json.Decoder()
_COMMON = frozenset(
    {"model", "stream", "options", "format", "keep_alive", "think", "kind", "logprobs",
     "top_logprobs"}
)  # fmt: skip
_CHAT = _COMMON | {"messages", "tools"}
_GENERATE = _COMMON | {"prompt", "system", "images"}
_NOT_CARRIED = ("suffix", "context", "raw", "template", "width", "height", "steps")
"""Generate fields a chat call cannot carry: refused when they hold a real value."""
_NAMED_OPTIONS = frozenset(
    {"num_predict", "temperature", "top_p", "top_k", "seed", "stop", "frequency_penalty",
     "presence_penalty", "repeat_penalty"}
)  # fmt: skip
_TOP_LEVEL_OPTIONS = ("keep_alive", "think")


def parse_chat(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check an ``/api/chat`` body and turn it into a ``ChatCall``.

    Raises:
        HttpError: 400 naming the field at fault.
    """
    refuse_unknown(body, _CHAT)
    params = _params(body, settings)
    tools = check_tools(body.get("tools"))
    if tools:
        params["tools"] = tools
    return ChatCall(
        target=required_str(body, "model"),
        messages=parse_messages(body.get("messages"), settings),
        stream=opt_bool(body, "stream", True),
        params=params,
        kind=parse_kind(body),
    )


def parse_generate(body: dict[str, Any], settings: ServeSettings) -> ChatCall:
    """Check an ``/api/generate`` body: ``system`` and ``prompt`` (with ``images``)
    become messages.

    An empty prompt gives a ``ChatCall`` without messages: Ollama's way to load a
    model, answered with an empty ``done_reason: "load"`` reply.
    """
    refuse_unknown(body, _GENERATE | set(_NOT_CARRIED))
    reject_unsupported(body, _NOT_CARRIED, "/api/generate is served as one chat turn")
    params = _params(body, settings)
    system = opt_str(body, "system")
    prompt = opt_str(body, "prompt") or ""
    images = body.get("images")
    if images is not None and not (
        isinstance(images, list) and all(isinstance(i, str) for i in images)
    ):
        raise bad_field("images", "'images' must be an array of base64-encoded images")
    as_messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    as_messages.append({"role": "user", "content": prompt})
    if images is not None:
        as_messages[-1]["images"] = images
    messages = parse_messages(as_messages, settings) if prompt or images else ()
    return ChatCall(
        target=required_str(body, "model"),
        messages=messages,
        stream=opt_bool(body, "stream", True),
        params=params,
        kind=parse_kind(body),
    )


def _params(body: dict[str, Any], settings: ServeSettings) -> dict[str, Any]:
    """``options``, ``format``, ``keep_alive``, ``think`` and the logprob fields as the
    runtime's parameters."""
    options = opt_object(body, "options")
    checked = check_fields(options, OLLAMA_OPTIONS, "options.")
    params = {k: v for k, v in checked.items() if k in _NAMED_OPTIONS}
    limit = check_max_tokens(
        options.get("num_predict"),
        "options.num_predict",
        settings.max_tokens_cap,
        negative_means_none=True,
    )
    if limit is not None:
        params["max_tokens"] = limit
    extra = {
        k: checked.get(k, v)
        for k, v in options.items()
        if k not in _NAMED_OPTIONS and v is not None
    }
    extra.update(check_fields(body, {k: OLLAMA_TOP[k] for k in _TOP_LEVEL_OPTIONS}))
    if extra:
        params["options"] = extra
    fmt = _response_format(body.get("format"))
    if fmt is not None:
        params["response_format"] = fmt
    logprobs = opt_bool(body, "logprobs", None)
    if logprobs is not None:
        params["logprobs"] = logprobs
    params.update(check_fields(body, {"top_logprobs": SAMPLING["top_logprobs"]}))
    return params


def _response_format(value: Any) -> dict[str, Any] | None:
    """Ollama's ``format``: ``"json"`` or a JSON schema object, as OpenAI's shape."""
    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "json_object"}
    if isinstance(value, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    raise bad_field(
        "format", f"'format' must be \"json\" or a JSON schema object, got {value!r:.40}"
    )


def rfc3339(created: float) -> str:
    """A Unix time the way Ollama writes ``created_at`` (UTC, microseconds, ``Z``)."""
    stamp = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _piece(route: Route, answer: Reply | StreamChunk, created: float, done: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"model": answer.model, "created_at": rfc3339(created)}
    if route == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": answer.content}
        if answer.tool_calls:
            message["tool_calls"] = [_tool_call(call) for call in answer.tool_calls]
        obj["message"] = message
    else:
        obj["response"] = answer.content
    logprobs = ollama_logprobs(answer.logprobs)
    if logprobs is not None:
        obj["logprobs"] = logprobs
    obj["done"] = done
    return obj


def _tool_call(call: ToolCall) -> dict[str, Any]:
    """A tool call as Ollama sends it: ``arguments`` as an object."""
    try:
        arguments = _DECODER.decode(call.arguments or "{}")
    except msgspec.DecodeError:
        arguments = call.arguments  # not JSON: hand it over as the model wrote it
    return {"function": {"name": call.name, "arguments": arguments}}


def ollama_logprobs(raw: Any) -> Any:
    """Log probabilities as Ollama's list (OpenAI's ``{"content": [...]}`` unwrapped)."""
    if isinstance(raw, dict) and "content" in raw:
        return raw["content"]
    return raw


def _final(
    route: Route, answer: Reply | StreamChunk, created: float, latency_s: float
) -> dict[str, Any]:
    obj = _piece(route, answer, created, True)
    reason = answer.finish_reason
    obj["done_reason"] = "stop" if reason in (None, "tool_calls") else reason
    obj["total_duration"] = int(latency_s * 1e9)
    if answer.usage is not None:
        obj["prompt_eval_count"] = answer.usage.prompt_tokens
        obj["eval_count"] = answer.usage.completion_tokens
    return obj


def reply_body(route: Route, reply: Reply, created: float) -> dict[str, Any]:
    """The single object of a ``"stream": false`` reply (``model``: the one that
    answered; ``message.tool_calls`` when the model called tools)."""
    return _final(route, reply, created, reply.latency_s)


def load_body(model: str, created: float) -> dict[str, Any]:
    """The reply to a generate call without a prompt (Ollama: "model loaded")."""
    return {
        "model": model,
        "created_at": rfc3339(created),
        "response": "",
        "done": True,
        "done_reason": "load",
    }


def piece_line(route: Route, chunk: StreamChunk, created: float) -> bytes:
    """One NDJSON line with a piece of text (``done: false``)."""
    return _line(_piece(route, chunk, created, False))


def final_line(route: Route, chunk: StreamChunk, created: float, latency_s: float) -> bytes:
    """The final NDJSON line (``done: true``, ``done_reason``, the tool calls of the
    whole stream, counts when known)."""
    return _line(_final(route, chunk, created, latency_s))


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
