"""Responses in each protocol's own shape: errors, JSON, and streams that always close.

Paths under ``/api/`` speak Ollama (``{"error": "..."}``); every other path answers
errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import msgspec
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from events._secrets import mask_secrets_in_json
from runtime.serve import _ollama, _openai
from runtime.serve._errors import HttpError

__all__ = ["ClosingStreamingResponse", "error_response", "is_ollama", "json_response"]

_ENCODER = msgspec.json.Encoder()


def is_ollama(path: str) -> bool:
    """Whether ``path`` is an Ollama route."""
    return path.startswith("/api/")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` encoded by msgspec (Structs included) as ``application/json``, every
    registered secret masked by value (a backend may echo the key)."""
    payload = mask_secrets_in_json(_ENCODER.encode(body))
    return Response(payload, status, headers, media_type="application/json")


def error_response(path: str, error: HttpError) -> Response:
    """``error`` in the shape of the protocol ``path`` belongs to."""
    body = _ollama.error_body(error) if is_ollama(path) else _openai.error_body(error)
    headers = dict(error.headers)
    if error.request_id is not None:
        headers["x-request-id"] = error.request_id
    return json_response(body, error.status, headers)


class ClosingStreamingResponse(StreamingResponse):
    """A ``StreamingResponse`` that always closes its generator when it ends.

    Starlette cancels the sending task when the client disconnects; closing the
    generator here (rather than whenever it is garbage collected) cancels the runtime
    stream behind it at once.
    """

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        headers: Mapping[str, str],
        media_type: str,
    ) -> None:
        super().__init__(content, headers=headers, media_type=media_type)
        self._generator = content

    async def stream_response(self, send: Send) -> None:
        """Send the stream, then close the generator whatever happened."""
        async with contextlib.aclosing(self._generator):
            await super().stream_response(send)
