"""What the server sends for one request, and how each fault bends it (pure).

A `Reply` is a plan: status, headers, body frames and the timing/abort instructions
the connection shell executes byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Literal

from runtime.testing import _wire
from runtime.testing._faults import Fault, Flavor

JSON: Final = "application/json; charset=utf-8"
NDJSON: Final = "application/x-ndjson"
SSE: Final = "text/event-stream"
HTML: Final = "text/html"
_HUGE_PIECE: Final = 65_536  # bytes per chunk of a huge body: bounded memory


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A response plan for the connection shell."""

    status: int
    content_type: str
    frames: Iterable[bytes]
    """Body pieces; a non-streamed body must be a list (its length is announced)."""
    streaming: bool = False
    """Send with chunked transfer encoding, one chunk per frame."""
    terminal: int = 0
    """How many trailing frames form the stream's proper ending (done / [DONE])."""
    headers: tuple[tuple[str, str], ...] = ()
    before: float = 0.0
    """Seconds to wait before sending anything."""
    first_frame_delay: float = 0.0
    """Seconds between the headers and the first body frame."""
    between: float = 0.0
    """Seconds between body frames."""
    abort_after: int | None = None
    """Reset the connection (RST) after this many frames."""
    hang: bool = False
    """Never answer: keep the connection open until the client gives up."""
    fault: str | None = None
    """The fault kind injected, for the statistics."""


@dataclass(frozen=True, kw_only=True)
class ReplyContext:
    """What a fault needs to know about the request it bends."""

    dialect: _wire.Dialect
    model: str | None
    streaming: bool
    prompt_tokens: int = 0


def json_reply(status: int, body: bytes, *, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A plain JSON response."""
    return Reply(status=status, content_type=JSON, frames=[body], headers=headers)


def error_reply(
    ctx: ReplyContext,
    status: int,
    message: str,
    *,
    flavor: Flavor | None = None,
    err_type: str | None = None,
    code: str | None = None,
) -> Reply:
    """An error response in the body style of `flavor` (default: the route's dialect)."""
    style = flavor or ctx.dialect
    default_type = "invalid_request_error" if status < 500 else "server_error"
    if style == "ollama":
        default_type = "api_error"
    body = _wire.error_body(
        style, message, status=status, err_type=err_type or default_type, code=code
    )
    return json_reply(status, body)


def not_found_reply(ctx: ReplyContext, model: str, *, detail: str | None = None) -> Reply:
    """404 for a model the server does not have, as Ollama / OpenAI word it (``detail``
    appended)."""
    message = f'model "{model}" not found, try pulling it first'
    if ctx.dialect == "openai":
        message = f"The model `{model}` does not exist or you do not have access to it."
    if detail:
        message = f"{message} ({detail})"
    return error_reply(ctx, 404, message, err_type="invalid_request_error", code="model_not_found")


def apply_fault(fault: Fault, normal: Reply, ctx: ReplyContext) -> Reply:
    """Return `normal` bent by `fault`: the bytes a misbehaving server would send."""
    kind = fault.kind
    if kind in _ERRORS:
        reply = _ERRORS[kind](fault, ctx)
    elif kind == "latency":
        reply = dataclasses.replace(normal, before=fault.delay)
    elif kind == "slow_first_byte":
        reply = dataclasses.replace(normal, first_frame_delay=fault.delay)
    elif kind == "slow_trickle":
        reply = dataclasses.replace(normal, between=fault.delay)
    elif kind == "hang":
        reply = dataclasses.replace(normal, hang=True)
    elif kind == "html_200":
        page = _wire.html_error_page(*(() if fault.message is None else (fault.message,)))
        reply = Reply(status=200, content_type=HTML, frames=[page])
    elif kind == "huge":
        reply = _huge(fault, normal)
    else:
        reply = _bend_body(fault, normal, ctx)
    return dataclasses.replace(reply, fault=kind)


def _http_error(fault: Fault, ctx: ReplyContext) -> Reply:
    """An HTTP error status with the dialect's error body."""
    status = fault.status or 500
    message = fault.message or _default_message(status, ctx)
    return error_reply(ctx, status, message, flavor=fault.flavor)


def _default_message(status: int, ctx: ReplyContext) -> str:
    """The message a real server of this dialect tends to send with `status`."""
    if status == 503 and ctx.dialect == "ollama":
        return "server busy, please try again.  maximum pending requests exceeded"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"error {status}"


def _rate_limit(fault: Fault, ctx: ReplyContext) -> Reply:
    """429 with a ``Retry-After`` header (verbatim, so garbage stays garbage)."""
    reply = error_reply(
        ctx,
        429,
        fault.message or "too many requests",
        flavor=fault.flavor,
        err_type="rate_limit_error",
        code="rate_limit_exceeded",
    )
    if fault.retry_after is None:
        return reply
    return dataclasses.replace(reply, headers=(("Retry-After", fault.retry_after),))


def _model_not_found(fault: Fault, ctx: ReplyContext) -> Reply:
    """404 as if the model had been deleted (``fault.message``, if set, added to it)."""
    return not_found_reply(ctx, ctx.model or "unknown", detail=fault.message)


def _out_of_memory(fault: Fault, ctx: ReplyContext) -> Reply:
    """500 as Ollama (system memory) or llama.cpp (CUDA allocation) reports OOM."""
    flavor = fault.flavor or ctx.dialect
    if flavor == "llamacpp":
        message = fault.message or "cudaMalloc failed: out of memory"
    else:
        message = fault.message or (
            "model requires more system memory (5.3 GiB) than is available (3.3 GiB)"
        )
    return error_reply(ctx, 500, message, flavor=flavor)


def _context_overflow(fault: Fault, ctx: ReplyContext) -> Reply:
    """400 because the prompt does not fit the context window."""
    flavor = fault.flavor or ctx.dialect
    n_ctx = 4096
    n_prompt = max(ctx.prompt_tokens, n_ctx + 1)
    if flavor == "llamacpp":
        message = fault.message or (
            f"request ({n_prompt} tokens) exceeds the available context size ({n_ctx} tokens)"
        )
        extra = {"n_prompt_tokens": n_prompt, "n_ctx": n_ctx}
        body = _wire.error_body(
            "llamacpp", message, status=400, err_type="exceed_context_size_error", extra=extra
        )
        return json_reply(400, body)
    if flavor == "openai":
        message = fault.message or (
            f"This model's maximum context length is {n_ctx} tokens. However, your messages "
            f"resulted in {n_prompt} tokens. Please reduce the length of the messages."
        )
        return error_reply(
            ctx,
            400,
            message,
            flavor="openai",
            err_type="invalid_request_error",
            code="context_length_exceeded",
        )
    message = fault.message or "the input length exceeds the context length"
    return error_reply(ctx, 400, message, flavor="ollama")


_ERRORS: Final = {
    "http_error": _http_error,
    "rate_limit": _rate_limit,
    "model_not_found": _model_not_found,
    "out_of_memory": _out_of_memory,
    "context_overflow": _context_overflow,
}


def _huge(fault: Fault, normal: Reply) -> Reply:
    """A 200 whose body is `fault.size` bytes of one line that never ends."""
    return Reply(
        status=200,
        content_type=normal.content_type,
        frames=_huge_frames(fault.size),
        streaming=True,
    )


def _huge_frames(size: int) -> Iterator[bytes]:
    """Yield `size` bytes of an unterminated JSON string, piece by piece."""
    head = b'{"response":"'
    yield head
    left = size - len(head)
    piece = b"a" * _HUGE_PIECE
    while left > 0:
        yield piece[: min(left, _HUGE_PIECE)]
        left -= _HUGE_PIECE


def _bend_body(fault: Fault, normal: Reply, ctx: ReplyContext) -> Reply:
    """Faults that damage the body: reset, truncate, malformed, error_in_stream."""
    frames = list(normal.frames)
    if not normal.streaming:
        return _bend_whole(fault.kind, frames, normal)
    content = frames[: len(frames) - normal.terminal]
    cut = min(fault.after_chunks, len(content))
    if fault.kind == "reset":
        return dataclasses.replace(normal, frames=frames, abort_after=fault.after_chunks)
    if fault.kind == "truncate":
        kept = content[:cut] if fault.after_chunks else content
        return dataclasses.replace(normal, frames=kept, terminal=0)
    if fault.kind == "malformed":
        bad = _malformed_frame(ctx.dialect)
        return dataclasses.replace(normal, frames=[*frames[:cut], bad, *frames[cut:]])
    message = fault.message or "an error was encountered while running the model"
    line = _stream_error(ctx.dialect, message)
    return dataclasses.replace(normal, frames=[*content[:cut], line], terminal=0)


def _bend_whole(kind: str, frames: list[bytes], normal: Reply) -> Reply:
    """Damage a non-streamed body (one JSON document)."""
    body = b"".join(frames)
    half = len(body) // 2
    if kind == "reset":
        # Announce the full length, send half, then RST: "connection reset mid-body".
        return dataclasses.replace(normal, frames=[body[:half], body[half:]], abort_after=1)
    if kind == "truncate":
        return dataclasses.replace(normal, frames=[body[:half]])
    if kind == "malformed":
        return dataclasses.replace(normal, frames=[body[:half] + b"\n}{" + body[half:]])
    return dataclasses.replace(normal, frames=[_wire.encode({"error": "unexpected EOF"})])


def _malformed_frame(dialect: Literal["ollama", "openai"]) -> bytes:
    """A line that is not valid JSON, framed as the dialect frames lines."""
    if dialect == "ollama":
        return b'{"model":"chaos","created_at":"2024-01-01T00:00:00Z","message":{"role\n'
    return b'data: {"id":"chatcmpl-chaos","object":"chat.completion.chunk","choices":[{\n\n'


def _stream_error(dialect: Literal["ollama", "openai"], message: str) -> bytes:
    """An error object inside a 200 stream, as Ollama / OpenAI-compatible servers do."""
    if dialect == "ollama":
        return _wire.ndjson_line({"error": message})
    return _wire.sse_event(
        {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    )
