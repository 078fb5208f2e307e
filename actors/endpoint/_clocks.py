"""Per-call I/O helpers of the endpoint transport: deadline clocks, body iteration, and
``HttpExchange``, the call skeleton every operation runs in (requests are built by
``actors.endpoint._requests``).

Split from ``_transport`` to keep each module small; like it, this is I/O code
(asyncio, httpx), not part of the pure endpoint core.

Requests go straight to the httpx transport (``handle_async_request``), not through
``httpx.AsyncClient.send``: the request is built here already, redirects are never
followed, and the client's auth flow, redirect loop, event hooks and cookie handling
cost about 200 µs of CPU per request on loopback, as much as the aiohttp transport
itself. There is no cookie jar: LLM backends need none, and a cookie set by one backend
must not ride along on later calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from actors.endpoint._aiohttp import SENDING, AiohttpBody
from actors.endpoint._classify import Api, BackendError, FailureClass, classify_http_error
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._failures import (
    redirect_error,
    timeout_error,
    transport_error,
    with_endpoint,
)
from actors.endpoint._metrics import CallTimings
from actors.endpoint._requests import RequestBuilder
from actors.endpoint._streams import bad_response
from actors.endpoint._types import HttpRequestSpec
from actors.endpoint._watchdog import Watchdog
from events import get_logger

__all__ = [
    "ERROR_BODY_CAP",
    "CallClock",
    "HttpExchange",
    "body_of",
    "close_body",
]

# Logged under the transport's name: these are its steps.
log = get_logger("actors.endpoint._transport")

_T = TypeVar("_T")

ERROR_BODY_CAP = 64 * 1024
"""Bytes of a non-2xx body read for classification; the rest is never read."""

# httpcore's trace event that marks "the request is going out now" (the aiohttp
# transport sends it too): the first-byte deadline starts here, after any connect time
# (which has its own deadline).
_SENDING = SENDING


class CallClock:
    """The clocks of one call: absolute loop-time deadlines and metric timestamps."""

    def __init__(
        self,
        deadlines: Deadlines,
        loop: asyncio.AbstractEventLoop,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.deadlines = deadlines
        self._loop = loop
        self._monotonic = monotonic or loop.time
        self.created = self._monotonic()
        """When the call was made, before any wait for a slot."""
        now = loop.time()
        self.total_at = now + deadlines.total
        # Until httpcore reports that sending started, connecting may take its share.
        self.first_byte_at = now + deadlines.connect + deadlines.first_byte
        self.got_body = False
        self.watchdog = Watchdog(loop)
        """The call's one deadline timer, moved from step to step."""
        self.started = 0.0
        self.began_at: float | None = None
        """When the call held its slot and began (``started``; None until then)."""
        self.sending_at: float | None = None
        """When the request went out (a connection was taken or opened)."""
        self.headers_at: float | None = None
        self.first_content_at: float | None = None
        self.bytes_received = 0
        """Body bytes read so far (reported to the endpoint actor at the end)."""

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace hook: restart the first-byte clock when sending begins."""
        if event == _SENDING:
            self.sending_at = self._monotonic()
            self.first_byte_at = self._loop.time() + self.deadlines.first_byte
            self.watchdog.move(min(self.first_byte_at, self.total_at))

    def wake_early(self) -> None:
        """Arm the call's timer once for the whole exchange, about to start.

        No deadline of the exchange falls before the earliest of now + first byte
        (the request goes out no earlier than now), now + idle (a read ends no
        earlier) and the total: armed there, the timer is not moved again when the
        request goes out or a read ends (the deadlines only move later from it).
        """
        deadlines = self.deadlines
        now = self._loop.time()
        self.watchdog.wake_by(min(now + min(deadlines.first_byte, deadlines.idle), self.total_at))

    def timings(self) -> CallTimings:
        """Queue, connect and first-byte time so far (None for a step not reached)."""
        started = self.began_at
        sending, headers = self.sending_at, self.headers_at
        return CallTimings(
            queue_s=None if started is None else max(0.0, started - self.created),
            connect_s=None if started is None or sending is None else sending - started,
            first_byte_s=None if sending is None or headers is None else headers - sending,
        )

    def next_read(self) -> tuple[float, FailureClass]:
        """Deadline and failure class of the next body read."""
        if not self.got_body:
            return self.first_byte_at, FailureClass.TIMEOUT_FIRST_BYTE
        return self._loop.time() + self.deadlines.idle, FailureClass.TIMEOUT_IDLE


def body_of(response: httpx.Response) -> AsyncIterator[bytes]:
    """The raw body iterator (a transport such as MockTransport may hand it over read).

    An aiohttp body is read directly (its reads are plain coroutines); any other
    through httpx's ``aiter_raw``.
    """
    stream = response.stream
    if isinstance(stream, AiohttpBody):
        return stream
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


class HttpExchange:
    """The steps every call of an ``EndpointTransport`` is made of."""

    _name: str
    _url: str
    _api: Api
    _closed: bool
    _transport: httpx.AsyncBaseTransport
    _requests: RequestBuilder
    _monotonic: Callable[[], float]
    _wall: Callable[[], float]

    # --- the call skeleton ------------------------------------------------------------

    def _errors(self, call: CallClock, op: str) -> _CallScope:
        """Run one call (``with``): refuse it once closed; name, log and classify its
        failure; stop its timer at the end."""
        return _CallScope(self, call, op)

    async def _within(
        self, step: Awaitable[_T], deadline: float, failure: FailureClass, call: CallClock
    ) -> _T:
        """Await ``step`` by ``deadline`` (and the total deadline), else raise classified.

        The call's one ``Watchdog`` times every step (no timer object per read).
        """
        watchdog = call.watchdog
        try:
            return await watchdog.wait(step, min(deadline, call.total_at))
        except TimeoutError:
            if not watchdog.expired:
                raise
            if watchdog.deadline >= call.total_at:
                failure = FailureClass.TIMEOUT_TOTAL
            raise timeout_error(self._api, failure, call.deadlines) from None

    async def _open(self, spec: HttpRequestSpec, call: CallClock) -> httpx.Response:
        """Send the request; return once the response headers arrived."""
        request = self._requests.build(spec, call.deadlines, call.trace)
        call.wake_early()
        response = await self._within(
            self._transport.handle_async_request(request),
            call.first_byte_at,
            FailureClass.TIMEOUT_FIRST_BYTE,
            call,
        )
        response.request = request  # what AsyncClient.send would have set
        call.headers_at = self._monotonic()
        return response

    async def _next_read(self, raw: AsyncIterator[bytes], call: CallClock) -> bytes | None:
        """The next piece of the body within its deadline; None at its end."""
        if type(raw) is AiohttpBody and raw.at_end():
            return None
        while True:
            deadline, failure = call.next_read()
            try:
                data = await self._within(anext(raw), deadline, failure, call)
            except StopAsyncIteration:
                return None
            if data:
                call.got_body = True
                call.bytes_received += len(data)
                return data

    async def _read_body(self, response: httpx.Response, call: CallClock, cap: int) -> bytes:
        """The body, but never more than ``cap`` plus one network read.

        Reading stops as soon as the cap is passed, so an endless body costs bounded
        memory; the parser then reports the oversized body.
        """
        body = bytearray()
        raw = body_of(response)
        try:
            if cap >= 0 and (data := await self._next_read(raw, call)) is not None:
                if len(data) > cap or (type(raw) is AiohttpBody and raw.at_end()):
                    return data  # all of it in one read (the common reply): no copies
                body += data
            while len(body) <= cap and (data := await self._next_read(raw, call)) is not None:
                body += data
        finally:
            await close_body(raw, None)
        return bytes(body)

    async def _check_status(self, response: httpx.Response, call: CallClock) -> None:
        """Raise the classified error for a redirect, a non-2xx or an encoded body."""
        status = response.status_code
        if 300 <= status < 400:
            raise redirect_error(self._api, status, response.headers.get("location", ""))
        if not 200 <= status < 300:
            try:
                body = await self._read_body(response, call, ERROR_BODY_CAP)
            except (BackendError, httpx.TransportError):
                # The status already says what failed; a broken error body must not
                # turn a 503 into a "connection" failure.
                body = b""
            raise classify_http_error(
                self._api, status, response.headers, body[:ERROR_BODY_CAP], now_epoch=self._wall()
            )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise bad_response(
                self._api, f"body is {encoding}-encoded although identity was requested"
            )

    # --- errors -----------------------------------------------------------------------

    def _translate(self, exc: httpx.HTTPError, call: CallClock) -> BackendError:
        """Classify an httpx error raised by the transport."""
        if isinstance(exc, httpx.ConnectTimeout):
            return timeout_error(self._api, FailureClass.TIMEOUT_CONNECT, call.deadlines)
        if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
            # httpx's own timeouts are a backstop behind the asyncio deadlines.
            return timeout_error(self._api, call.next_read()[1], call.deadlines)
        if isinstance(exc, httpx.PoolTimeout):
            return timeout_error(self._api, FailureClass.TIMEOUT_TOTAL, call.deadlines)
        failure = FailureClass.UNKNOWN
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            failure = FailureClass.CONNECTION
        return transport_error(self._api, failure, type(exc).__name__, str(exc))

    def _failed(self, exc: BackendError, op: str) -> BackendError:
        """Log a failure; return it with the endpoint's name and URL."""
        log.warning(
            "endpoint.request.failed",
            endpoint=self._name,
            op=op,
            failure=exc.failure.value,
            status=exc.status,
            retryable=exc.retryable,
        )
        return with_endpoint(exc, self._name, self._url)

    def _log_complete(self, op: str, latency: float, ttft: float | None) -> None:
        log.debug(
            "endpoint.request.complete", endpoint=self._name, op=op, latency_s=latency, ttft_s=ttft
        )


class _CallScope:
    """``HttpExchange._errors``: a plain context manager (its ends never await), so a
    call costs no generator and no awaited enter and exit."""

    __slots__ = ("_call", "_exchange", "_op")

    def __init__(self, exchange: HttpExchange, call: CallClock, op: str) -> None:
        self._exchange, self._call, self._op = exchange, call, op

    def __enter__(self) -> None:
        exchange, call = self._exchange, self._call
        if exchange._closed:
            raise RuntimeError(f"endpoint {exchange._name!r} ({exchange._url}) is closed")
        call.started = call.began_at = exchange._monotonic()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        call = self._call
        call.watchdog.stop()
        if isinstance(exc, BackendError):
            raise self._exchange._failed(exc, self._op) from exc
        if isinstance(exc, httpx.HTTPError):
            exchange = self._exchange
            raise exchange._failed(exchange._translate(exc, call), self._op) from exc
