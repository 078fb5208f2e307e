"""``lean_response`` builds exactly the response ``httpx.Response`` would build."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from actors.endpoint._requests import lean_response

_NAMES = st.sampled_from(
    [b"Content-Type", b"content-type", b"X-Trace", b"Set-Cookie", b"RETRY-AFTER", b"x-\xe9t\xe9"]
)
_VALUES = st.binary(max_size=12).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)


def _both(status: int, raw: list[tuple[bytes, bytes]]) -> tuple[httpx.Response, httpx.Response]:
    request = httpx.Request("POST", "http://127.0.0.1:9/api/chat", content=b"{}")
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1", "reason_phrase": b"OK"}
    stream = httpx.ByteStream(b"")
    ours = lean_response(status, tuple(raw), stream, request, dict(extensions))
    theirs = httpx.Response(
        status, headers=tuple(raw), stream=stream, request=request, extensions=extensions
    )
    return ours, theirs


@given(st.sampled_from([200, 204, 301, 404, 429, 503]), _HEADERS)
def test_lean_response_equals_httpx(status: int, raw: list[tuple[bytes, bytes]]) -> None:
    ours, theirs = _both(status, raw)
    assert type(ours) is httpx.Response
    assert set(vars(ours)) == set(vars(theirs))
    for name in vars(theirs):
        if name != "headers":
            assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.headers == theirs.headers
    assert ours.headers.raw == theirs.headers.raw
    assert ours.headers.encoding == theirs.headers.encoding
    assert ours.headers.multi_items() == theirs.headers.multi_items()
    assert dict(ours.headers.items()) == dict(theirs.headers.items())
    for name in ("content-type", "Retry-After", "missing"):
        assert ours.headers.get(name) == theirs.headers.get(name)
    assert ours.request is theirs.request
    assert ours.reason_phrase == theirs.reason_phrase
    assert ours.http_version == theirs.http_version


async def test_lean_response_reads_its_stream() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/")
    response = lean_response(
        200, ((b"Content-Type", b"application/json"),), httpx.ByteStream(b'{"a": 1}'), request, {}
    )
    assert await response.aread() == b'{"a": 1}'
    assert response.json() == {"a": 1}
    assert response.is_stream_consumed
    await response.aclose()
    assert response.is_closed
