"""Reading a request body as a JSON object, never more than ``max_body_bytes``.

A ``Content-Length`` over the cap is refused before anything is read; a chunked body
(no length) is read up to the cap and refused the moment it passes it, so a client
cannot make the server buffer more than the cap whatever it sends.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request

from runtime.serve._errors import ClientGone, HttpError

__all__ = ["read_json"]

_DECODER = msgspec.json.Decoder()


def _too_large(max_bytes: int) -> HttpError:
    return HttpError(
        413,
        f"request body is over this server's limit of {max_bytes} bytes; send less "
        "(fewer or shorter messages)",
        code="body_too_large",
    )


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object.

    Raises:
        HttpError: 413 over the cap; 400 for a bad ``Content-Length``, malformed JSON
            or a body that is not a JSON object.
        ClientGone: The client disconnected while sending.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, "invalid Content-Length header", code="invalid_header")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes)
    body = bytearray()
    try:
        async with contextlib.aclosing(request.stream()) as parts:
            async for part in parts:
                body += part
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
    except ClientDisconnect:
        raise ClientGone() from None
    return _decode(bytes(body))


def _decode(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise HttpError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        value = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise HttpError(
            400, f"request body is not valid JSON ({exc})", code="invalid_json"
        ) from None
    if not isinstance(value, dict):
        raise HttpError(400, "request body must be a JSON object", code="invalid_json")
    return value
