"""The endpoint's transport: moves bytes with httpx and enforces the deadlines (I/O).

Everything about the wire format (building requests, parsing and classifying
responses) is the pure core's job; this module adds what needs a socket and a clock:
one pooled httpx transport per endpoint (aiohttp's pool by default,
``actors.endpoint._aiohttp``; httpx's own with ``http="httpx"``), four separately
classified deadlines, bounded body reads, and cancellation that closes the upstream
response. It keeps no
counters and no slots: those are the ``EndpointActor``'s state; a call's measurements
(start, first byte, bytes read) live on its ``CallClock`` and are reported back to the actor
by the ``CallHandle`` that runs it.

Deadlines are enforced per awaited step (never by a timeout context spanning a
``yield``, which would cancel the *consumer's* code of a stream): every await runs
under the call's one ``Watchdog`` (``actors.endpoint._watchdog``) set to
``min(step_deadline, total_deadline)``, and a timeout is classified by whichever of the
two was binding. The watchdog is a single loop timer per call, moved as the binding
deadline moves (first byte, idle after each read, total), not a timer per read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Literal

import httpx
import msgspec

from actors.endpoint._aiohttp import AiohttpTransport
from actors.endpoint._api import (
    build_chat_request,
    build_embed_request,
    build_models_request,
    new_stream_parser,
    parse_chat_response,
    parse_embed_response,
    parse_models_response,
)
from actors.endpoint._classify import Api, BackendError, FailureClass
from actors.endpoint._clocks import (
    ERROR_BODY_CAP,
    CallClock,
    HttpExchange,
    body_of,
    close_body,
)
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._metrics import CallResult, EmbedCallResult, tokens_per_second
from actors.endpoint._openai import auth_headers
from actors.endpoint._requests import RequestBuilder
from actors.endpoint._streams import bad_response
from actors.endpoint._types import ChatRequest, Chunk, EmbedRequest, HttpRequestSpec

__all__ = ["ERROR_BODY_CAP", "EndpointTransport", "Http"]
# llama.cpp's server closes idle keep-alive connections after 5 s; expiring ours first
# avoids sending a request on a socket the server is closing ("connection reset").
_KEEPALIVE_EXPIRY = 4.0

Http = Literal["aiohttp", "httpx"]
"""Which connection pool moves the bytes: aiohttp's (the default) or httpx's."""

# Sent with every request. identity: raw bytes are read and counted against the caps,
# and a compressed body would defeat them (a small gzip can inflate to gigabytes).
_HEADERS = httpx.Headers(
    {
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "Connection": "keep-alive",
        "User-Agent": f"python-httpx/{httpx.__version__}",
    }
)


class EndpointTransport(HttpExchange):
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
        http: Http = "aiohttp",
        verify_tls: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Create the transport; no connection is opened until the first call.

        ``transport`` (e.g. ``httpx.MockTransport``) is used as given; otherwise ``http``
        picks the pool that is built: ``aiohttp`` or ``httpx``, with ``verify_tls``.
        Redirects are never followed and no proxy or netrc from the environment is
        used, on either.

        Raises:
            ValueError: a limit below 1, an unknown ``api`` or ``http``.
        """
        if api not in ("ollama", "openai"):
            raise ValueError(f"endpoint {name!r}: unknown api {api!r}; use ollama or openai")
        if http not in ("aiohttp", "httpx"):
            raise ValueError(f"endpoint {name!r}: unknown http {http!r}; use aiohttp or httpx")
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
        if transport is None:
            transport = _pool(http, max_connections, verify_tls)
        self._transport = transport
        self._requests = RequestBuilder(url, _HEADERS)

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
    def http_transport(self) -> httpx.AsyncBaseTransport:
        """The httpx transport the requests go through (aiohttp's pool, httpx's, or the
        one given)."""
        return self._transport

    @property
    def closed(self) -> bool:
        """Whether ``aclose`` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the connection pool; safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    def new_call(self, deadlines: Deadlines | None = None) -> CallClock:
        """The clocks of a new call (its total deadline starts now, slot wait included)."""
        loop = asyncio.get_running_loop()
        return CallClock(deadlines or self._deadlines, loop, self._monotonic)

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
        except BaseException as exc:
            call.watchdog.stop()  # no call follows
            if isinstance(exc, BackendError):
                raise self._failed(exc, "wait") from exc
            raise

    # --- operations -------------------------------------------------------------------

    async def chat(self, req: ChatRequest, call: CallClock) -> CallResult:
        """One non-streamed chat completion (``req.stream`` is ignored).

        Raises:
            BackendError: the classified failure.
            ValueError: the pure core refused to build the request.
        """
        if req.stream:
            req = msgspec.structs.replace(req, stream=False)
        spec = build_chat_request(self._api, req, api_key=self._api_key)
        with self._errors(call, "chat"):
            response = await self._open(spec, call)
            try:
                await self._check_status(response, call)
                body = await self._read_body(response, call, self._max_response)
                # The status is 2xx here (``_check_status`` raised otherwise), and of a
                # 2xx reply's headers the parser reads only the content type.
                content_type = response.headers.get("content-type")
                result = parse_chat_response(
                    self._api,
                    response.status_code,
                    () if content_type is None else (("content-type", content_type),),
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
        if not req.stream:
            req = msgspec.structs.replace(req, stream=True)
        spec = build_chat_request(self._api, req, api_key=self._api_key)
        with self._errors(call, "stream"):
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

    async def embed(self, req: EmbedRequest, call: CallClock) -> EmbedCallResult:
        """One embeddings call (``/api/embed`` or ``/v1/embeddings``).

        Raises:
            BackendError: the classified failure (a wrong vector count is bad_response).
            UnsupportedParameter, ValueError: the pure core refused to build the request.
        """
        spec = build_embed_request(self._api, req, api_key=self._api_key)
        with self._errors(call, "embed"):
            response = await self._open(spec, call)
            try:
                await self._check_status(response, call)
                body = await self._read_body(response, call, self._max_response)
                result = parse_embed_response(
                    self._api,
                    response.status_code,
                    response.headers,
                    body,
                    expected=len(req.inputs),
                    now_epoch=self._wall(),
                    max_bytes=self._max_response,
                )
            finally:
                await response.aclose()
            latency = self._monotonic() - call.started
            self._log_complete("embed", latency, None)
            return EmbedCallResult(result=result, latency_s=latency)

    async def list_models(self, call: CallClock) -> tuple[str, ...]:
        """The model names the endpoint serves (``/api/tags`` or ``/v1/models``).

        Raises:
            BackendError: the classified failure.
        """
        spec = build_models_request(self._api, api_key=self._api_key)
        with self._errors(call, "list_models"):
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

    async def fetch(self, spec: HttpRequestSpec, call: CallClock) -> bytes:
        """The body of one small metadata request (``/props``, ``/api/show``), sent
        outside any slot (see ``actors.endpoint._windows``); an OpenAI-compatible
        endpoint's key is added unless the spec carries one.

        Raises:
            BackendError: the classified failure (a non-2xx status included).
        """
        keyed = any(name.lower() == "authorization" for name, _ in spec.headers)
        if self._api != "ollama" and not keyed:  # the model list's rule for the key
            spec = msgspec.structs.replace(spec, headers=spec.headers + auth_headers(self._api_key))
        with self._errors(call, "fetch"):
            response = await self._open(spec, call)
            try:
                await self._check_status(response, call)
                return await self._read_body(response, call, self._max_response)
            finally:
                await response.aclose()


def _pool(http: Http, max_connections: int, verify_tls: bool) -> httpx.AsyncBaseTransport:
    """The connection pool an endpoint's requests go through."""
    if http == "aiohttp":
        return AiohttpTransport(
            max_connections=max_connections,
            keepalive_expiry=_KEEPALIVE_EXPIRY,
            verify=verify_tls,
        )
    return httpx.AsyncHTTPTransport(
        verify=verify_tls,
        trust_env=False,  # no SSL_CERT_FILE/DIR from the environment either
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=_KEEPALIVE_EXPIRY,
        ),
    )
