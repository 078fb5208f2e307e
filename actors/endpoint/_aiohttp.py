"""An httpx transport over aiohttp's connection pool (I/O).

httpx stays the API of the endpoint transport (``httpx.Request`` in, ``httpx.Response``
out, httpx's exception classes); underneath, ``AiohttpTransport`` moves the bytes with
one ``aiohttp.ClientSession`` per endpoint. Measured on loopback (see the commit that
added it), aiohttp's pool holds its CPU cost per request as concurrency grows, where
httpx's grows several-fold.

What it keeps from the httpx transport, so the endpoint behaves the same on both:

* **errors** are raised as the httpx exception the httpx transport raises for the same
  fault (``_aiohttp_errors``), so classification does not depend on the transport;
* **the first-byte clock** starts when the request goes out: the request's ``trace``
  extension hook gets httpcore's ``http11.send_request_headers.started`` event once a
  connection is taken from the pool or opened;
* **the connect deadline** is the ``timeout`` extension's ``connect`` value; every
  other deadline is the caller's (``EndpointTransport`` runs one timer per call), so
  aiohttp runs no read timer of its own;
* **no redirects, no decompression, no proxies or netrc from the environment, no
  cookies**: the body is read raw and counted against the caller's caps; LLM backends
  need no cookies.

The body is an ``httpx.AsyncByteStream`` that hands over aiohttp's buffers as they
arrive. Closing it before the end closes the connection, so a cancelled or abandoned
call never returns a half-read connection to the pool.
"""

from __future__ import annotations

import contextvars
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import yarl

from actors.endpoint._aiohttp_errors import httpx_error
from actors.endpoint._requests import lean_response

__all__ = ["SENDING", "AiohttpBody", "AiohttpTransport"]

SENDING = "http11.send_request_headers.started"
"""httpcore's trace event for "the request is going out"; sent to the ``trace`` hook."""

_MAX_HEAD_LINE = 64 * 1024
"""Longest status line or header field accepted (aiohttp's default, 8 KiB, is below what
proxies in front of LLM backends send; httpx accepts a head of up to 100 KiB)."""
_CACHED = 64
_READ_SIZE = 64 * 1024
"""Most bytes handed over per read, as httpcore's reads (a cap is passed by at most one)."""

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]

# The running request's trace hook, read by the connector once it has a connection.
# A context variable, because aiohttp's connector sees its ClientRequest, not ours;
# it is set and read in the same task.
_trace: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "actors.endpoint.aiohttp.trace", default=None
)


class _Connector(aiohttp.TCPConnector):
    """A TCP connector that tells the request's trace hook when it has a connection.

    Cheaper than an ``aiohttp.TraceConfig`` with the two connection signals, which
    adds a trace object and several signal coroutines to every request (measured on
    loopback: about 4 µs of CPU per request for this, 33 µs for the TraceConfig).
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - the overridden signature
    ) -> aiohttp.connector.Connection:
        connection = await super().connect(req, traces, timeout)
        hook = _trace.get()
        if hook is not None:
            try:
                await hook(SENDING, {})
            except BaseException:
                connection.close()
                raise
        return connection


class AiohttpBody(httpx.AsyncByteStream):
    """A response body read straight from aiohttp's buffers.

    ``__anext__`` is a plain coroutine (no generator frame per read); the endpoint
    transport awaits it directly. Like httpx's, a read ends at an HTTP chunk's end
    (a stream's frames before a broken one are handed over before the break) and hands
    over at most 64 KiB (a cap is passed by at most one read). ``aclose`` releases a
    fully read body's connection to the pool and closes any other.
    """

    __slots__ = ("_closed", "_request", "_response", "_rest")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._closed = False
        self._rest = b""
        """What the last network read brought beyond ``_READ_SIZE``."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        data = self._rest
        if not data:
            content = self._response.content
            try:
                data, chunk_end = await content.readchunk()
                while not data and chunk_end:  # an empty chunk boundary: read on
                    data, chunk_end = await content.readchunk()
            except aiohttp.ClientError as exc:
                raise httpx_error(exc, self._request) from exc
            except OSError as exc:
                raise httpx_error(exc, self._request) from exc
            if not data:
                raise StopAsyncIteration
        if len(data) > _READ_SIZE:
            self._rest = data[_READ_SIZE:]
            return data[:_READ_SIZE]
        self._rest = b""
        return data

    def at_end(self) -> bool:
        """Whether the whole body was handed over (the next read would end the
        iteration): the caller skips that read, its timer and its exception."""
        return not self._rest and self._response.content.at_eof()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        response = self._response
        if not self._rest and response.content.at_eof():
            response.release()
        else:
            response.close()  # a half-read connection is never reused


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession`` (module docstring).

    The session is created on the first request, inside the running event loop.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        """Configure the pool; nothing is opened until the first request.

        Raises:
            ValueError: ``max_connections`` below 1 or a negative ``keepalive_expiry``.
        """
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if keepalive_expiry < 0:
            raise ValueError(f"keepalive_expiry must be >= 0, got {keepalive_expiry!r}")
        self._max_connections = max_connections
        self._keepalive = keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._urls: dict[int, tuple[httpx.URL, yarl.URL]] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("AiohttpTransport is closed; make a new one")
        verify = self._verify
        if verify is True:
            # The same CA bundle as httpx's transport (certifi), not the system's.
            verify = httpx.create_ssl_context(verify=True, trust_env=False)
        connector = _Connector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive,
            ssl=verify,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._timeout(None),
            auto_decompress=False,
            trust_env=False,
            max_line_size=_MAX_HEAD_LINE,
            max_field_size=_MAX_HEAD_LINE,
        )
        return self._session

    def _timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for a connect deadline (one object per distinct value)."""
        timeout = self._timeouts.get(connect)
        if timeout is None:
            if len(self._timeouts) >= _CACHED:
                self._timeouts.clear()
            timeout = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=connect, sock_read=None
            )
            self._timeouts[connect] = timeout
        return timeout

    def _url(self, url: httpx.URL) -> yarl.URL:
        """The parsed aiohttp URL of an httpx URL (cached: callers reuse URL objects)."""
        cached = self._urls.get(id(url))
        if cached is not None and cached[0] is url:
            return cached[1]
        if len(self._urls) >= _CACHED:
            self._urls.clear()
        parsed = yarl.URL(str(url), encoded=True)
        self._urls[id(url)] = (url, parsed)
        return parsed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; return once the response headers arrived.

        Raises:
            httpx.TransportError: the subclass httpx's own transport raises for the
                same failure (``ConnectError``, ``ConnectTimeout``, ``ReadError``, ...).
        """
        session = self._session or self._open_session()
        timeouts = request.extensions.get("timeout")
        connect = None if timeouts is None else timeouts.get("connect")
        try:
            data: bytes | None = request.content or None
        except httpx.RequestNotRead:
            data = await request.aread() or None
        token = _trace.set(request.extensions.get("trace"))
        try:
            response = await session.request(
                request.method,
                self._url(request.url),
                # Latin-1 maps every byte; httpx's multi_items() re-derives the header
                # encoding for every field.
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=data,
                allow_redirects=False,
                timeout=self._timeout(connect),
            )
        except aiohttp.ClientError as exc:
            raise httpx_error(exc, request) from exc
        except OSError as exc:
            raise httpx_error(exc, request) from exc
        finally:
            _trace.reset(token)
        return lean_response(
            response.status,
            response.raw_headers,
            AiohttpBody(response, request),
            request,
            {
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the pool and its connections; safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
