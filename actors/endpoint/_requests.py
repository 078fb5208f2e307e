"""``RequestBuilder``: the ``httpx.Request`` of a call, built from cached parts; and
``lean_response``, the ``httpx.Response`` of the aiohttp transport (I/O).

Split from ``_clocks``. A call's request differs from the last one's only in its body
(and so its ``Content-Length``), its deadlines and its trace hook; everything else (the
URL joined onto the endpoint's base URL, the default headers merged with the spec's,
the ``Host`` header, the timeout extension) is built once and cached.

``httpx.Request(...)`` re-normalizes every header and re-parses the URL per request
(about 10 µs of CPU); the builder instead fills in a request's fields from the cached
parts (under 1 µs), giving exactly what ``httpx.Request(method, url, headers=...,
content=body or None, extensions=...)`` gives: the same headers in the same order
(``Host`` first, ``Content-Length`` as httpx computes it), the body read, the
extensions. A header set that names ``Host``, ``Content-Length`` or
``Transfer-Encoding`` itself is built by httpx as before
(``tests/actors/endpoint/test_requests.py`` holds the two ways equal).

Likewise ``httpx.Response(status, headers=raw, stream=..., request=...,
extensions=...)`` re-normalizes every header pair and copies the extensions (about
10 µs); aiohttp's raw header pairs are already bytes, so ``lean_response`` builds the
triples httpx keeps (raw name, lowercased name, value) directly and fills in the
response's fields as its constructor does. A different httpx (other fields in a
response or a header set) takes httpx's constructor
(``tests/actors/endpoint/test_responses.py`` holds the two ways equal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from actors.endpoint._deadlines import Deadlines
from actors.endpoint._types import HttpRequestSpec

__all__ = ["RequestBuilder", "httpx_timeout", "lean_response"]

_CACHED_HEADER_SETS = 16
_SELF_FRAMED = frozenset({b"host", b"content-length", b"transfer-encoding"})
"""Header names httpx adds itself unless given: a spec naming one takes httpx's path."""
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
"""Methods httpx gives ``Content-Length: 0`` without a body."""

_HeaderList = list[tuple[bytes, bytes, bytes]]
# httpx.Headers keeps (raw name, lowercased name, value) triples in ``_list``; without
# that (another httpx), every request is built by httpx.
_FAST = isinstance(getattr(httpx.Headers(), "_list", None), list)

Trace = Callable[[str, dict[str, Any]], Any]


class _Shape:
    """The cached parts of the requests of one (method, path, header set)."""

    __slots__ = ("fast", "headers", "method", "no_body", "url", "with_host")

    def __init__(self, method: str, url: httpx.URL, headers: httpx.Headers) -> None:
        self.method = method.upper()
        self.url = url
        self.headers = headers
        """The defaults merged with the spec's (httpx's path takes these)."""
        names = {name.lower() for name, _ in headers.raw}
        self.fast = _FAST and bool(url.host) and not names & _SELF_FRAMED
        host: _HeaderList = [(b"Host", b"host", url.netloc)]
        merged: _HeaderList = list(getattr(headers, "_list", ())) if self.fast else []
        self.with_host = host + merged
        """``Host`` then the merged headers; a body's ``Content-Length`` goes last."""
        if self.method in _WITH_BODY:
            self.no_body = [*host, (b"Content-Length", b"content-length", b"0"), *merged]
        else:
            self.no_body = self.with_host
        """The header list of a request without a body."""


class RequestBuilder:
    """Builds the ``httpx.Request`` of a call (see the module docstring)."""

    def __init__(self, base_url: str, headers: httpx.Headers) -> None:
        base = httpx.URL(base_url)
        if not base.raw_path.endswith(b"/"):
            base = base.copy_with(raw_path=base.raw_path + b"/")
        self._base = base
        self._defaults = headers
        self._urls: dict[str, httpx.URL] = {}
        self._shapes: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Shape] = {}
        self._timeouts: dict[Deadlines, dict[str, float | None]] = {}

    def build(self, spec: HttpRequestSpec, deadlines: Deadlines, trace: Trace) -> httpx.Request:
        """The request for ``spec``, with the call's deadlines and ``trace`` hook."""
        timeout = self._timeouts.get(deadlines)
        if timeout is None:
            timeout = self._timeouts[deadlines] = httpx_timeout(deadlines).as_dict()
        extensions: dict[str, Any] = {"timeout": timeout, "trace": trace}
        key = (spec.method, spec.path, spec.headers)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(spec)
        body = spec.body
        if not shape.fast:
            return httpx.Request(
                shape.method,
                shape.url,
                headers=shape.headers,
                content=body or None,
                extensions=extensions,
            )
        if body:
            length = (b"Content-Length", b"content-length", b"%d" % len(body))
            header_list = [*shape.with_host, length]
        else:
            header_list = list(shape.no_body)  # the request's own, as httpx's are
        headers = httpx.Headers.__new__(httpx.Headers)
        headers._list = header_list
        headers._encoding = None
        request = httpx.Request.__new__(httpx.Request)
        request.method = shape.method
        request.url = shape.url
        request.headers = headers
        request.extensions = extensions
        request.stream = httpx.ByteStream(body)
        request._content = body  # what read() would set
        return request

    def _shape(self, spec: HttpRequestSpec) -> _Shape:
        url = self._urls.get(spec.path)
        if url is None:
            url = self._urls[spec.path] = self._base.join(spec.path.lstrip("/"))
        if len(self._shapes) >= _CACHED_HEADER_SETS:
            self._shapes.clear()  # e.g. a key rotated many times: stay bounded
        headers = httpx.Headers(self._defaults)
        headers.update(spec.headers)
        shape = self._shapes[(spec.method, spec.path, spec.headers)] = _Shape(
            spec.method, url, headers
        )
        return shape


def httpx_timeout(deadlines: Deadlines) -> httpx.Timeout:
    """httpx's timeouts for a call's deadlines.

    Connect is httpx's job (it tells ConnectTimeout apart); the rest are backstops no
    shorter than the total, so the asyncio deadlines always fire first.
    """
    backstop = deadlines.total + 1.0
    return httpx.Timeout(connect=deadlines.connect, read=backstop, write=backstop, pool=backstop)


def _layout(value: object) -> frozenset[str]:
    return frozenset(vars(value))


_RESPONSE_FIELDS = frozenset(
    {
        "status_code",
        "headers",
        "_request",
        "next_request",
        "extensions",
        "history",
        "is_closed",
        "is_stream_consumed",
        "default_encoding",
        "stream",
        "_num_bytes_downloaded",
    }
)
_HEADERS_FIELDS = frozenset({"_list", "_encoding"})
_LEAN_RESPONSES = (
    _layout(httpx.Response(200, stream=httpx.ByteStream(b""))) == _RESPONSE_FIELDS
    and _layout(httpx.Headers()) == _HEADERS_FIELDS
)
"""Whether this httpx's responses have exactly the fields filled in here."""


def lean_response(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    stream: httpx.AsyncByteStream,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """What ``httpx.Response(status, headers=raw_headers, stream=stream,
    request=request, extensions=extensions)`` gives; ``extensions`` is the response's
    own (not copied)."""
    if not _LEAN_RESPONSES:
        return httpx.Response(
            status, headers=raw_headers, stream=stream, request=request, extensions=extensions
        )
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = [(name, name.lower(), value) for name, value in raw_headers]
    headers._encoding = None
    response = httpx.Response.__new__(httpx.Response)
    response.status_code = status
    response.headers = headers
    response._request = request
    response.next_request = None
    response.extensions = extensions
    response.history = []
    response.is_closed = False
    response.is_stream_consumed = False
    response.default_encoding = "utf-8"
    response.stream = stream
    response._num_bytes_downloaded = 0
    return response
