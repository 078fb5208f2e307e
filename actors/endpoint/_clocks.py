"""Per-call I/O helpers of the endpoint transport: deadline clocks, request building and
body iteration.

Split from ``_transport`` to keep each module small; like it, this is I/O code
(asyncio, httpx), not part of the pure endpoint core.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from actors.endpoint._classify import FailureClass
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._types import HttpRequestSpec

__all__ = ["CallClock", "RequestBuilder", "body_of", "close_body", "httpx_timeout"]

_CACHED_HEADER_SETS = 16

# httpcore's trace event that marks "the request is going out now": the first-byte
# deadline starts here, after any connect time (which has its own deadline).
_SENDING = "http11.send_request_headers.started"


class CallClock:
    """The clocks of one call: absolute loop-time deadlines and metric timestamps."""

    def __init__(self, deadlines: Deadlines, loop: asyncio.AbstractEventLoop) -> None:
        self.deadlines = deadlines
        self._loop = loop
        now = loop.time()
        self.total_at = now + deadlines.total
        # Until httpcore reports that sending started, connecting may take its share.
        self.first_byte_at = now + deadlines.connect + deadlines.first_byte
        self.got_body = False
        self.timer: asyncio.Timeout | None = None
        self.started = 0.0
        self.headers_at: float | None = None
        self.first_content_at: float | None = None
        self.bytes_received = 0
        """Body bytes read so far (reported to the endpoint actor at the end)."""

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace hook: restart the first-byte clock when sending begins."""
        if event == _SENDING:
            self.first_byte_at = self._loop.time() + self.deadlines.first_byte
            if self.timer is not None:
                self.timer.reschedule(min(self.first_byte_at, self.total_at))

    def next_read(self) -> tuple[float, FailureClass]:
        """Deadline and failure class of the next body read."""
        if not self.got_body:
            return self.first_byte_at, FailureClass.TIMEOUT_FIRST_BYTE
        return self._loop.time() + self.deadlines.idle, FailureClass.TIMEOUT_IDLE


class RequestBuilder:
    """Builds the ``httpx.Request`` of a call from cached parts.

    ``AsyncClient.build_request`` re-parses the URL, re-merges the default headers and
    builds a ``Timeout`` on every call, a good share of a loopback call's client CPU;
    the same parts are cached per path, header set and deadlines. A client that picked
    up cookies takes the general path so they are still sent.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}
        self._timeouts: dict[Deadlines, dict[str, float | None]] = {}

    def build(self, spec: HttpRequestSpec, call: CallClock) -> httpx.Request:
        """The request for ``spec``, with the call's deadlines and trace hook."""
        timeout = self._timeouts.get(call.deadlines)
        if timeout is None:
            timeout = self._timeouts[call.deadlines] = httpx_timeout(call.deadlines).as_dict()
        extensions = {"timeout": timeout, "trace": call.trace}
        content = spec.body or None
        client = self._client
        if client.cookies:
            return client.build_request(
                spec.method,
                spec.path,
                headers=list(spec.headers),
                content=content,
                extensions=extensions,
            )
        url = self._urls.get(spec.path)
        if url is None:
            url = self._urls[spec.path] = client.base_url.join(spec.path.lstrip("/"))
        headers = self._headers.get(spec.headers)
        if headers is None:
            if len(self._headers) >= _CACHED_HEADER_SETS:
                self._headers.clear()  # e.g. a key rotated many times: stay bounded
            headers = httpx.Headers(client.headers)
            headers.update(spec.headers)
            self._headers[spec.headers] = headers
        return httpx.Request(
            spec.method, url, headers=headers, content=content, extensions=extensions
        )


def httpx_timeout(deadlines: Deadlines) -> httpx.Timeout:
    # Connect is httpx's job (it tells ConnectTimeout apart); the rest are backstops no
    # shorter than the total, so the asyncio deadlines always fire first.
    backstop = deadlines.total + 1.0
    return httpx.Timeout(connect=deadlines.connect, read=backstop, write=backstop, pool=backstop)


def body_of(response: httpx.Response) -> AsyncIterator[bytes]:
    """The raw body iterator (a transport such as MockTransport may hand it over read)."""
    if response.is_stream_consumed:
        return _once(response.content)
    return response.aiter_raw()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def close_body(raw: AsyncIterator[bytes], response: httpx.Response | None) -> None:
    """Close a body iterator left mid-way, then the response (and so its connection).

    ``aiter_raw()`` is an async generator; closing it here rather than leaving it to
    the garbage collector makes the upstream close happen now, in this task.
    """
    aclose = getattr(raw, "aclose", None)
    try:
        if aclose is not None:
            await aclose()
    finally:
        if response is not None:
            await response.aclose()
