"""The endpoint's transport: moves bytes with httpx and enforces the deadlines (I/O).

Everything about the wire format (building requests, parsing and classifying
responses) is the pure core's job; this module adds what needs a socket and a clock:
one pooled ``httpx.AsyncClient`` per endpoint, four separately classified deadlines,
bounded body reads, and cancellation that closes the upstream response. It keeps no
counters and no slots: those are the ``EndpointActor``'s state; a call's measurements
(start, first byte, bytes read) live on its ``CallClock`` and are reported back to the actor
by the ``CallHandle`` that runs it.

Deadlines are enforced per awaited step (never by a timeout context spanning a
``yield``, which would cancel the *consumer's* code of a stream): every await gets
``asyncio.timeout_at(min(step_deadline, total_deadline))`` and a timeout is classified
by whichever of the two was binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx
import msgspec

from actors.endpoint._api import (
    build_chat_request,
    build_models_request,
    new_stream_parser,
    parse_chat_response,
    parse_models_response,
)
from actors.endpoint._classify import Api, BackendError, FailureClass, classify_http_error
from actors.endpoint._clocks import CallClock, RequestBuilder, body_of, close_body, httpx_timeout
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._failures import (
    redirect_error,
    timeout_error,
    transport_error,
    with_endpoint,
)
from actors.endpoint._metrics import CallResult, tokens_per_second
from actors.endpoint._streams import bad_response
from actors.endpoint._types import ChatRequest, Chunk, HttpRequestSpec
from events import get_logger

__all__ = ["EndpointTransport"]

log = get_logger(__name__)

_T = TypeVar("_T")

ERROR_BODY_CAP = 64 * 1024
"""Bytes of a non-2xx body read for classification; the rest is never read."""
# llama.cpp's server closes idle keep-alive connections after 5 s; expiring ours first
# avoids sending a request on a socket the server is closing ("connection reset").
_KEEPALIVE_EXPIRY = 4.0


class EndpointTransport:
    """Talks to one backend endpoint (Ollama or OpenAI-compatible) over HTTP.

    Every failure is raised as a classified :class:`BackendError` whose message names
    the endpoint, its URL and what to do. ``ValueError`` from the pure core (a bad
    request or key) is the caller's bug and propagates unchanged. Calls are made
    through an ``EndpointActor``'s ``CallHandle``, which holds the concurrency slot.
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        api: Api,
        api_key: str | None = None,
        deadlines: Deadlines = Deadlines(),  # noqa: B008 - frozen, so sharing is safe
        max_connections: int = 8,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_line_bytes: int = 1024 * 1024,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Create the transport; no connection is opened until the first call.

        Raises:
            ValueError: a limit below 1 or an unknown ``api``.
        """
        if api not in ("ollama", "openai"):
            raise ValueError(f"endpoint {name!r}: unknown api {api!r}; use ollama or openai")
        for label, value in (
            ("max_concurrency", max_connections),
            ("max_response_bytes", max_response_bytes),
            ("max_line_bytes", max_line_bytes),
        ):
            if value < 1:
                raise ValueError(f"endpoint {name!r}: {label} must be >= 1, got {value!r}")
        self._name, self._url, self._api, self._api_key = name, url, api, api_key
        self._deadlines = deadlines
        self._max_response = max_response_bytes
        self._max_line = max_line_bytes
        self._monotonic, self._wall = monotonic, wall
        self._closed = False
        self._client = httpx.AsyncClient(
            base_url=url,
            follow_redirects=False,  # a redirect could send prompts and keys elsewhere
            trust_env=False,  # proxies/netrc from the environment must not reroute traffic
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=_KEEPALIVE_EXPIRY,
            ),
            timeout=httpx_timeout(deadlines),
            # Raw bytes are read and counted against the caps; a compressed body would
            # defeat them (a small gzip can inflate to gigabytes).
            headers={"Accept-Encoding": "identity"},
            transport=transport,
        )
        self._requests = RequestBuilder(self._client)

    # --- properties -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The endpoint's configured name."""
        return self._name

    @property
    def url(self) -> str:
        """The endpoint's base URL."""
        return self._url

    @property
    def api(self) -> Api:
        """The wire format: "ollama" or "openai"."""
        return self._api

    @property
    def closed(self) -> bool:
        """Whether ``aclose`` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the connection pool; safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    def new_call(self, deadlines: Deadlines | None = None) -> CallClock:
        """The clocks of a new call (its total deadline starts now, slot wait included)."""
        return CallClock(deadlines or self._deadlines, asyncio.get_running_loop())

    async def wait_for_slot(self, admission: Awaitable[bool], call: CallClock) -> bool:
        """Await a concurrency slot within the call's total deadline (the actor grants it).

        Returns:
            The admission's value: True once granted, False if the grant must be
            asked again (the endpoint actor restarted meanwhile).

        Raises:
            BackendError: ``timeout_total`` while waiting.
        """
        try:
            return await self._within(admission, call.total_at, FailureClass.TIMEOUT_TOTAL, call)
        except BackendError as exc:
            raise self._failed(exc, "wait") from exc

    # --- operations -------------------------------------------------------------------

    async def chat(self, req: ChatRequest, call: CallClock) -> CallResult:
        """One non-streamed chat completion (``req.stream`` is ignored).

        Raises:
            BackendError: the classified failure.
            ValueError: the pure core refused to build the request.
        """
        req = msgspec.structs.replace(req, stream=False)
        spec = build_chat_request(self._api, req, api_key=self._api_key)
        async with self._errors(call, "chat"):
            response = await self._open(spec, call)
            try:
                await self._check_status(response, call)
                body = await self._read_body(response, call, self._max_response)
                result = parse_chat_response(
                    self._api,
                    response.status_code,
                    response.headers,
                    body,
                    now_epoch=self._wall(),
                    max_bytes=self._max_response,
                )
            finally:
                await response.aclose()
            latency = self._monotonic() - call.started
            ttft = None if call.headers_at is None else call.headers_at - call.started
            # Without stream chunks the whole latency is the best generation estimate:
            # a non-streaming backend generates everything before it sends the headers.
            speed = tokens_per_second(result.usage, result.timings, generation_s=latency)
            self._log_complete("chat", latency, ttft)
            return CallResult(result=result, latency_s=latency, ttft_s=ttft, tokens_per_s=speed)

    async def stream(self, req: ChatRequest, call: CallClock) -> AsyncGenerator[Chunk, None]:
        """A streamed chat completion: content chunks, then one ``done=True`` chunk.

        The final chunk is yielded only after the body ended cleanly, so a stream that
        breaks off raises instead of looking complete. Closing the generator early
        (``break`` with ``aclosing``, or cancellation) closes the upstream response.

        Raises:
            BackendError: the classified failure, possibly after some chunks.
            ValueError: the pure core refused to build the request.
        """
        req = msgspec.structs.replace(req, stream=True)
        spec = build_chat_request(self._api, req, api_key=self._api_key)
        async with self._errors(call, "stream"):
            response = await self._open(spec, call)
            raw = body_of(response)
            try:
                await self._check_status(response, call)
                parser = new_stream_parser(
                    self._api,
                    content_type=response.headers.get("content-type"),
                    max_line=self._max_line,
                    max_total=self._max_response,
                )
                final: Chunk | None = None
                while (data := await self._next_read(raw, call)) is not None:
                    for chunk in parser.feed(data):
                        if chunk.done:
                            final = chunk  # held back until the body ends cleanly
                        elif chunk.content:
                            if call.first_content_at is None:
                                call.first_content_at = self._monotonic()
                            yield chunk
                parser.end()
                if final is None:  # end() raises first; this keeps the types honest
                    raise bad_response(self._api, "stream ended without a final chunk")
            finally:
                await close_body(raw, response)
            latency = self._monotonic() - call.started
            ttft = None if call.first_content_at is None else call.first_content_at - call.started
            self._log_complete("stream", latency, ttft)
            yield final

    async def list_models(self, call: CallClock) -> tuple[str, ...]:
        """The model names the endpoint serves (``/api/tags`` or ``/v1/models``).

        Raises:
            BackendError: the classified failure.
        """
        spec = build_models_request(self._api, api_key=self._api_key)
        async with self._errors(call, "list_models"):
            response = await self._open(spec, call)
            try:
                await self._check_status(response, call)
                body = await self._read_body(response, call, self._max_response)
                return parse_models_response(
                    self._api,
                    response.status_code,
                    body,
                    headers=response.headers,
                    now_epoch=self._wall(),
                    max_bytes=self._max_response,
                )
            finally:
                await response.aclose()

    # --- the call skeleton ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _errors(self, call: CallClock, op: str) -> AsyncIterator[None]:
        """Run one call: refuse it once closed; name, log and classify its failure."""
        if self._closed:
            raise RuntimeError(f"endpoint {self._name!r} ({self._url}) is closed")
        call.started = self._monotonic()
        try:
            yield
        except BackendError as exc:
            raise self._failed(exc, op) from exc
        except httpx.HTTPError as exc:
            raise self._failed(self._translate(exc, call), op) from exc

    async def _within(
        self, step: Awaitable[_T], deadline: float, failure: FailureClass, call: CallClock
    ) -> _T:
        """Await ``step`` by ``deadline`` (and the total deadline), else raise classified."""
        timer = asyncio.timeout_at(min(deadline, call.total_at))
        call.timer = timer
        try:
            async with timer:
                return await step
        except TimeoutError:
            if not timer.expired():
                raise
            when = timer.when()
            if when is not None and when >= call.total_at:
                failure = FailureClass.TIMEOUT_TOTAL
            raise timeout_error(self._api, failure, call.deadlines) from None
        finally:
            call.timer = None

    async def _open(self, spec: HttpRequestSpec, call: CallClock) -> httpx.Response:
        """Send the request; return once the response headers arrived."""
        sending = self._client.send(self._requests.build(spec, call), stream=True)
        response = await self._within(
            sending, call.first_byte_at, FailureClass.TIMEOUT_FIRST_BYTE, call
        )
        call.headers_at = self._monotonic()
        return response

    async def _next_read(self, raw: AsyncIterator[bytes], call: CallClock) -> bytes | None:
        """The next piece of the body within its deadline; None at its end."""
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
