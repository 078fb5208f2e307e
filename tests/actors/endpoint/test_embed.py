"""Embeddings: request bodies, reply parsing, and the call through a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from actors.endpoint import (
    Api,
    BackendError,
    Call,
    EmbedCallResult,
    EmbedRequest,
    EmbedResult,
    FailureClass,
    UnsupportedParameter,
    Usage,
    build_embed_request,
    call_embed,
    parse_embed_response,
)
from tests.actors.endpoint._endpoint import Endpoint

REQ = EmbedRequest(model="nomic", inputs=("a", "b"))
KEY = "sk-embed-SECRET0123456789"


def _decoded(api: str, req: EmbedRequest, key: str | None = None) -> dict[str, Any]:
    spec = build_embed_request(api, req, api_key=key)
    assert spec.method == "POST"
    value = msgspec.json.decode(spec.body)
    assert isinstance(value, dict)
    return value


def test_openai_embed_request() -> None:
    req = EmbedRequest(
        model="text-embedding-3-small",
        inputs=("a", "b"),
        dimensions=256,
        options={"user": "u1", "encoding_format": "base64"},
    )
    spec = build_embed_request("openai", req, api_key=KEY)
    assert spec.path == "/v1/embeddings"
    assert ("Authorization", f"Bearer {KEY}") in spec.headers
    assert KEY.encode() not in spec.body
    assert msgspec.json.decode(spec.body) == {
        "user": "u1",
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 256,
    }
    assert _decoded("openai", REQ) == {
        "model": "nomic",
        "input": ["a", "b"],
        "encoding_format": "float",
    }


def test_ollama_embed_request() -> None:
    req = EmbedRequest(
        model="nomic",
        inputs=("a",),
        dimensions=64,
        options={"truncate": False, "keep_alive": "1m", "num_ctx": 2048},
    )
    spec = build_embed_request("ollama", req, api_key=KEY)
    assert spec.path == "/api/embed"
    assert all(KEY not in value for _, value in spec.headers)
    assert msgspec.json.decode(spec.body) == {
        "model": "nomic",
        "input": ["a"],
        "dimensions": 64,
        "truncate": False,
        "keep_alive": "1m",
        "options": {"num_ctx": 2048},
    }
    assert _decoded("ollama", REQ) == {"model": "nomic", "input": ["a", "b"]}


@pytest.mark.parametrize("key", ["truncate", "num_ctx", "keep_alive"])
def test_openai_embed_refuses_ollama_options(key: str) -> None:
    with pytest.raises(UnsupportedParameter) as info:
        build_embed_request(
            "openai", EmbedRequest(model="m", inputs=("a",), options={key: 1}), api_key=None
        )
    assert (info.value.parameter, info.value.api) == (f"options.{key}", "openai")


@pytest.mark.parametrize("api", ["openai", "ollama"])
def test_bad_embed_requests_are_value_errors(api: str) -> None:
    with pytest.raises(ValueError, match="input"):
        build_embed_request(api, EmbedRequest(model="m", inputs=()), api_key=None)
    with pytest.raises(ValueError, match="model"):
        build_embed_request(
            api, EmbedRequest(model="m", inputs=("a",), options={"model": "x"}), api_key=None
        )


def _openai_body(data: Any, usage: Any = None) -> bytes:
    body = {"object": "list", "data": data, "model": "emb-1"}
    if usage is not None:
        body["usage"] = usage
    return msgspec.json.encode(body)


def test_parse_openai_embeddings_orders_by_index() -> None:
    data = [
        {"object": "embedding", "index": 1, "embedding": [0.5, -1]},
        {"object": "embedding", "index": 0, "embedding": [1, 2.5]},
    ]
    body = _openai_body(data, {"prompt_tokens": 4, "total_tokens": 4})
    result = parse_embed_response("openai", 200, {}, body, expected=2)
    assert result == EmbedResult(
        vectors=((1.0, 2.5), (0.5, -1.0)),
        model="emb-1",
        usage=Usage(prompt_tokens=4, completion_tokens=0),
    )
    assert parse_embed_response("openai", 200, {}, _openai_body(data)).usage is None


def test_parse_ollama_embeddings() -> None:
    body = b'{"model":"nomic","embeddings":[[0.1,0.2],[0.3,0.4]],"prompt_eval_count":7}'
    result = parse_embed_response("ollama", 200, {}, body, expected=2)
    assert result.vectors == ((0.1, 0.2), (0.3, 0.4))
    assert result.model == "nomic"
    assert result.usage == Usage(prompt_tokens=7, completion_tokens=0)


MALFORMED_OPENAI = [
    b"[]",
    b"not json",
    b'{"data": {}}',
    _openai_body(["x"]),
    _openai_body([{"index": 0, "embedding": "AAAA"}]),
    _openai_body([{"index": 0, "embedding": []}]),
    _openai_body([{"index": 0, "embedding": [1, "2"]}]),
    _openai_body([{"index": 0, "embedding": [1, True]}]),
    _openai_body([{"index": 0, "embedding": [1]}, {"index": 0, "embedding": [2]}]),
    _openai_body([{"index": 0, "embedding": [1]}, {"index": 5, "embedding": [2]}]),
    _openai_body([{"index": 0, "embedding": [1]}, {"index": 1, "embedding": [2, 3]}]),
    _openai_body([{"index": 0, "embedding": [1]}]),  # one vector for two inputs
    b'{"data": [{"index": 0, "embedding": [1e999]}, {"index": 1, "embedding": [1]}]}',
]
MALFORMED_OLLAMA = [
    b'{"model": "m"}',
    b'{"embeddings": [[1], null]}',
    b'{"embeddings": [[1]]}',
    b'{"embeddings": [[1], [1, 2]]}',
    b'{"embeddings": [[1], [NaN]]}',
    b"<html>proxy</html>",
]


@pytest.mark.parametrize(
    ("api", "body"),
    [("openai", body) for body in MALFORMED_OPENAI]
    + [("ollama", body) for body in MALFORMED_OLLAMA],
)
def test_malformed_embed_replies_are_bad_responses(api: str, body: bytes) -> None:
    with pytest.raises(BackendError) as info:
        parse_embed_response(api, 200, {}, body, expected=2)
    assert info.value.failure is FailureClass.BAD_RESPONSE


@pytest.mark.parametrize("api", ["openai", "ollama"])
def test_embed_errors_are_classified_like_chat(api: str) -> None:
    with pytest.raises(BackendError) as info:
        parse_embed_response(api, 401, {}, b'{"error": {"message": "bad key"}}')
    assert info.value.failure is FailureClass.AUTH
    with pytest.raises(BackendError) as info:
        parse_embed_response(api, 503, {"retry-after": "3"}, b"busy")
    assert info.value.retryable
    with pytest.raises(BackendError, match="cap"):
        parse_embed_response(api, 200, {}, b'{"embeddings": []}', max_bytes=4)
    with pytest.raises(BackendError):
        parse_embed_response(api, 200, {}, b'{"error": "model \\"x\\" not found"}')


# --- through a real server ----------------------------------------------------------


class _EmbedServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering each request with the next reply."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes]] = []
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> _EmbedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line, *fields = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (f.partition(":") for f in fields if f)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((line.encode(), headers, body))
                status, reply = self.replies.pop(0)
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (status, len(reply), reply)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[_EmbedServer]:
    async with _EmbedServer() as srv:
        yield srv


@pytest.mark.parametrize("api", ["openai", "ollama"])
async def test_embed_through_the_endpoint_actor(server: _EmbedServer, api: Api) -> None:
    good = (
        _openai_body(
            [{"index": 0, "embedding": [1, 0]}, {"index": 1, "embedding": [0, 1]}],
            {"prompt_tokens": 2},
        )
        if api == "openai"
        else b'{"model":"nomic","embeddings":[[1,0],[0,1]],"prompt_eval_count":2}'
    )
    server.replies += [(200, good), (200, b'{"embeddings": [[1]], "data": []}'), (429, b"{}")]
    endpoint = await Endpoint(name="emb", url=server.url, api=api, api_key=KEY).started()
    done = await call_embed(endpoint.ref, REQ)
    assert isinstance(done, EmbedCallResult)
    assert done.result.vectors == ((1.0, 0.0), (0.0, 1.0))
    assert done.result.usage == Usage(prompt_tokens=2, completion_tokens=0)
    assert done.latency_s > 0
    line, headers, body = server.requests[0]
    path = b"/v1/embeddings" if api == "openai" else b"/api/embed"
    assert line == b"POST " + path + b" HTTP/1.1"
    assert msgspec.json.decode(body)["input"] == ["a", "b"]
    assert (headers.get("authorization") == f"Bearer {KEY}") == (api == "openai")
    with pytest.raises(BackendError) as info:
        await call_embed(endpoint.ref, REQ)  # one vector for two inputs
    assert info.value.failure is FailureClass.BAD_RESPONSE
    assert "emb" in str(info.value)
    handle = await endpoint.ref.ask(Call("embed"), timeout=None)
    with pytest.raises(BackendError) as info:
        await handle.embed(REQ)
    assert info.value.failure is FailureClass.RATE_LIMITED
    stats = endpoint.statistics()
    assert (stats.requests, stats.failures, stats.inflight) == (3, 2, 0)
    assert stats.bytes_received > len(good)


async def test_embed_refusal_happens_before_sending(server: _EmbedServer) -> None:
    endpoint = await Endpoint(name="emb", url=server.url, api="openai").started()
    req = EmbedRequest(model="m", inputs=("a",), options={"num_ctx": 1})
    with pytest.raises(UnsupportedParameter):
        await call_embed(endpoint.ref, req)
    assert server.requests == []
    assert endpoint.statistics().inflight == 0
