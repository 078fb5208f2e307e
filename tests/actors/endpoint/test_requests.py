"""``RequestBuilder`` builds exactly the request ``httpx.Request`` would build."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from actors.endpoint._deadlines import Deadlines
from actors.endpoint._requests import RequestBuilder, httpx_timeout
from actors.endpoint._types import HttpRequestSpec

_DEFAULTS = httpx.Headers({"Accept": "*/*", "Accept-Encoding": "identity"})


async def _trace(event: str, info: dict[str, Any]) -> None:
    return None


def _by_httpx(base: str, spec: HttpRequestSpec, deadlines: Deadlines) -> httpx.Request:
    """The request as httpx builds it (the reference)."""
    headers = httpx.Headers(_DEFAULTS)
    headers.update(spec.headers)
    url = httpx.URL(base.rstrip("/") + "/").join(spec.path.lstrip("/"))
    extensions = {"timeout": httpx_timeout(deadlines).as_dict(), "trace": _trace}
    return httpx.Request(
        spec.method, url, headers=headers, content=spec.body or None, extensions=extensions
    )


def _same(ours: httpx.Request, theirs: httpx.Request) -> None:
    assert type(ours) is httpx.Request
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    assert ours.headers.raw == theirs.headers.raw
    assert ours.headers.multi_items() == theirs.headers.multi_items()
    assert ours.content == theirs.content
    assert b"".join(ours.stream) == b"".join(theirs.stream)  # type: ignore[arg-type]
    assert ours.extensions == theirs.extensions


_header = st.tuples(
    st.sampled_from(["Content-Type", "Authorization", "X-Extra", "Host", "Content-Length"]),
    st.text(alphabet="abc123 /=", min_size=1, max_size=8).map(str.strip).filter(bool),
)


@given(
    method=st.sampled_from(["POST", "GET", "post", "PUT"]),
    path=st.sampled_from(["/api/chat", "v1/chat/completions", "/api/tags"]),
    headers=st.lists(_header, max_size=3).map(tuple),
    bodies=st.lists(st.binary(max_size=40), min_size=1, max_size=4),
    base=st.sampled_from(["http://127.0.0.1:8000", "http://example.test/prefix/"]),
)
def test_requests_equal_httpx_built_ones(
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    bodies: list[bytes],
    base: str,
) -> None:
    builder = RequestBuilder(base, _DEFAULTS)
    deadlines = Deadlines()
    for body in bodies:  # the second and later requests come from the cache
        spec = HttpRequestSpec(method=method, path=path, headers=headers, body=body)
        _same(builder.build(spec, deadlines, _trace), _by_httpx(base, spec, deadlines))


def test_each_request_has_its_own_headers() -> None:
    builder = RequestBuilder("http://127.0.0.1:8000", _DEFAULTS)
    spec = HttpRequestSpec(method="GET", path="/api/tags", headers=())
    first = builder.build(spec, Deadlines(), _trace)
    first.headers["X-Changed"] = "1"
    second = builder.build(spec, Deadlines(), _trace)
    assert "X-Changed" not in second.headers
    assert second.headers.raw == _by_httpx("http://127.0.0.1:8000", spec, Deadlines()).headers.raw
