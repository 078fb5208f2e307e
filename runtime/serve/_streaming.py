"""Stream bodies: OpenAI SSE events and Ollama NDJSON lines from an ``OpenStream``.

A stream ends either complete (OpenAI ``data: [DONE]``, Ollama ``done: true``) or with
one error event/line; never with a normal end after a failure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

from runtime.serve import _ollama, _openai
from runtime.serve._errors import HttpError
from runtime.serve._relay import OpenStream

__all__ = ["ndjson_body", "sse_body"]


async def sse_body(
    stream: OpenStream, created: int, include_usage: bool
) -> AsyncGenerator[bytes, None]:
    """``chat.completion.chunk`` events (tool calls in one delta before the
    ``finish_reason`` event), the optional usage event, then ``[DONE]``."""
    first = True
    try:
        async with contextlib.aclosing(stream.chunks()) as chunks:
            async for chunk in chunks:
                for event in _openai.chunk_events(chunk, created, first=first):
                    yield event
                first = False
                if chunk.done:
                    if include_usage:
                        yield _openai.usage_event(chunk, created)
                    yield _openai.SSE_DONE
    except HttpError as error:
        yield _openai.error_event(error)


async def ndjson_body(route: _ollama.Route, stream: OpenStream) -> AsyncGenerator[bytes, None]:
    """One line per piece of text, then the ``done: true`` line with the counts and
    the tool calls of the whole stream."""
    try:
        async with contextlib.aclosing(stream.chunks()) as chunks:
            async for chunk in chunks:
                now = time.time()
                if chunk.done:
                    latency = time.monotonic() - stream.started
                    yield _ollama.final_line(route, chunk, now, latency)
                elif chunk.content:
                    yield _ollama.piece_line(route, chunk, now)
    except HttpError as error:
        yield _ollama.error_line(error)
