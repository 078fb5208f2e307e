"""Every chaos fault maps to the right failure class, through a real socket, on both
HTTP transports (the ``http`` fixture: aiohttp's pool and httpx's).

Each case runs the fault against a fresh ChaosServer on 127.0.0.1 and checks the
class, the retryable flag, and that the message names the endpoint and its URL.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from actors.endpoint import (
    Api,
    BackendError,
    ChatRequest,
    Chunk,
    Deadlines,
    FailureClass,
    Message,
)
from runtime.testing import ChaosServer, Fault
from tests.actors.endpoint._endpoint import Endpoint, Http

APIS: tuple[Api, ...] = ("ollama", "openai")
NOW = 1_700_000_000.0
REQ = ChatRequest(model="llama3", messages=(Message(role="user", content="hello there"),))
PATIENT = Deadlines(connect=10.0, first_byte=30.0, idle=30.0, total=60.0)
"""The default: never fires on a busy machine. The deadline tests set their own, short
only in the phase under test, with a fault far beyond it."""

MakeClient = Callable[..., Endpoint]


@pytest.fixture
async def server() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3"], seed=5) as srv:
        yield srv


@pytest.fixture
async def make_client(server: ChaosServer, http: Http) -> AsyncIterator[MakeClient]:
    clients: list[Endpoint] = []

    def make(api: Api, **kwargs: Any) -> Endpoint:
        kwargs.setdefault("deadlines", PATIENT)
        client = Endpoint(
            name="chaos", url=server.url, api=api, wall=lambda: NOW, http=http, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _fail(
    client: Endpoint, *, stream: bool, deadlines: Deadlines | None = None
) -> tuple[BackendError, list[Chunk]]:
    """Run one call that must fail; return the error and any chunks seen before it."""
    got: list[Chunk] = []
    with pytest.raises(BackendError) as info:
        if stream:
            async for chunk in client.stream(REQ, deadlines=deadlines):
                got.append(chunk)
        else:
            await client.chat(REQ, deadlines=deadlines)
    err = info.value
    assert err.message.startswith(f"chaos ({client.url}): "), err.message
    assert client.inflight == 0 and client.statistics().failures_by_class[err.failure.value] >= 1
    return err, got


# (fault, expected class, retryable); each runs for both APIs, streamed and not.
STATUS_CASES = [
    (Fault(kind="http_error", status=500), FailureClass.SERVER_ERROR, True),
    (Fault(kind="http_error", status=502), FailureClass.SERVER_ERROR, True),
    (Fault(kind="http_error", status=503), FailureClass.SERVER_ERROR, True),
    (Fault(kind="model_not_found"), FailureClass.MODEL_NOT_FOUND, False),
    (Fault(kind="out_of_memory", flavor="ollama"), FailureClass.OUT_OF_MEMORY, True),
    (Fault(kind="out_of_memory", flavor="llamacpp"), FailureClass.OUT_OF_MEMORY, True),
    (Fault(kind="context_overflow"), FailureClass.CONTEXT_OVERFLOW, False),
    (Fault(kind="context_overflow", flavor="llamacpp"), FailureClass.CONTEXT_OVERFLOW, False),
    (Fault(kind="context_overflow", flavor="openai"), FailureClass.CONTEXT_OVERFLOW, False),
    (Fault(kind="html_200"), FailureClass.BAD_RESPONSE, True),
    (Fault(kind="malformed"), FailureClass.BAD_RESPONSE, True),
    (Fault(kind="truncate"), FailureClass.BAD_RESPONSE, True),
    (Fault(kind="reset"), FailureClass.CONNECTION, True),
]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("fault", "failure", "retryable"),
    STATUS_CASES,
    ids=[f"{f.kind}-{f.status or f.flavor or ''}" for f, _, _ in STATUS_CASES],
)
async def test_fault_maps_to_class(
    fault: Fault,
    failure: FailureClass,
    retryable: bool,
    api: Api,
    stream: bool,
    server: ChaosServer,
    make_client: MakeClient,
) -> None:
    server.set_fault(fault)
    err, _ = await _fail(make_client(api), stream=stream)
    assert (err.failure, err.retryable) == (failure, retryable)
    assert server.stats().by_fault == {fault.kind: 1}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        ("soon-ish", None),
    ],
    ids=["seconds", "http-date", "garbage"],
)
@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_carries_retry_after(
    api: Api, header: str, expected: float | None, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="rate_limit", retry_after=header))
    err, _ = await _fail(make_client(api), stream=False)
    assert err.failure is FailureClass.RATE_LIMITED and err.retryable and err.status == 429
    assert err.retry_after == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("api", APIS)
async def test_reset_mid_stream_after_some_chunks(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="reset", after_chunks=3))
    err, got = await _fail(make_client(api), stream=True)
    assert err.failure is FailureClass.CONNECTION
    assert len(got) >= 2 and not any(c.done for c in got)  # partial output, never "done"


@pytest.mark.parametrize("api", APIS)
async def test_truncated_stream_after_some_chunks_is_not_complete(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="truncate", after_chunks=2))
    err, got = await _fail(make_client(api), stream=True)
    assert err.failure is FailureClass.BAD_RESPONSE
    assert got and not any(c.done for c in got)


@pytest.mark.parametrize("api", APIS)
async def test_error_inside_a_200_stream_is_classified(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="error_in_stream", after_chunks=2))
    err, got = await _fail(make_client(api), stream=True)
    assert err.failure is FailureClass.SERVER_ERROR and err.retryable
    assert "error was encountered while running the model" in err.message
    # Two good frames went out first (OpenAI's first one is a role-only delta).
    assert 1 <= len(got) <= 2 and not any(c.done for c in got)


@pytest.mark.parametrize("api", APIS)
async def test_error_inside_a_200_stream_names_oom(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="error_in_stream", message="CUDA error: out of memory"))
    err, _ = await _fail(make_client(api), stream=True)
    assert err.failure is FailureClass.OUT_OF_MEMORY


@pytest.mark.parametrize("api", APIS)
async def test_error_object_in_a_200_body(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="error_in_stream"))
    err, _ = await _fail(make_client(api), stream=False)
    assert (err.failure, err.status) == (FailureClass.SERVER_ERROR, 200)
    assert "unexpected EOF" in err.message


# --- deadlines ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_hang_is_a_first_byte_timeout(
    stream: bool, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="hang"))
    deadlines = Deadlines(connect=10.0, first_byte=0.2, idle=0.1, total=60.0)
    err, _ = await _fail(make_client("ollama"), stream=stream, deadlines=deadlines)
    assert err.failure is FailureClass.TIMEOUT_FIRST_BYTE and err.retryable
    assert "first_byte deadline of 0.2 s" in err.message


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("api", APIS)
async def test_slow_first_byte_is_a_first_byte_timeout(
    api: Api, stream: bool, server: ChaosServer, make_client: MakeClient
) -> None:
    # Headers arrive at once, the first body bytes late: still "first byte".
    server.set_fault(Fault(kind="slow_first_byte", delay=60.0))
    deadlines = Deadlines(first_byte=0.25, idle=0.1, total=60.0)
    err, got = await _fail(make_client(api), stream=stream, deadlines=deadlines)
    assert err.failure is FailureClass.TIMEOUT_FIRST_BYTE and not got


@pytest.mark.parametrize("api", APIS)
async def test_slow_trickle_is_an_idle_timeout(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="slow_trickle", delay=60.0))  # the first chunk at once
    deadlines = Deadlines(first_byte=30.0, idle=0.1, total=60.0)
    err, _ = await _fail(make_client(api), stream=True, deadlines=deadlines)
    assert err.failure is FailureClass.TIMEOUT_IDLE and "idle deadline of 0.1 s" in err.message


@pytest.mark.parametrize("api", APIS)
async def test_slow_trickle_within_the_idle_deadline_succeeds(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="slow_trickle", delay=0.01))
    deadlines = Deadlines(first_byte=30.0, idle=5.0, total=60.0)
    chunks = [c async for c in make_client(api).stream(REQ, deadlines=deadlines)]
    assert chunks[-1].done


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_latency_beyond_total_is_a_total_timeout(
    stream: bool, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="latency", delay=60.0))
    deadlines = Deadlines(first_byte=30.0, idle=30.0, total=0.2)
    err, _ = await _fail(make_client("openai"), stream=stream, deadlines=deadlines)
    assert err.failure is FailureClass.TIMEOUT_TOTAL and err.retryable


async def test_total_deadline_cuts_a_long_trickle(
    server: ChaosServer, make_client: MakeClient
) -> None:
    # Every gap is within idle, but the whole stream is not within total.
    # (total is long enough for the first chunk to arrive on a busy machine; the stream,
    # 20 gaps of 0.5 s, is not)
    server.set_fault(Fault(kind="slow_trickle", delay=0.5))
    deadlines = Deadlines(first_byte=30.0, idle=30.0, total=1.5)
    err, got = await _fail(make_client("ollama"), stream=True, deadlines=deadlines)
    assert err.failure is FailureClass.TIMEOUT_TOTAL and got


# --- size caps ----------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_huge_body_is_cut_off_with_bounded_memory(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    cap = 256 * 1024
    server.set_fault(Fault(kind="huge", size=8 * 1024 * 1024))
    client = make_client(api, max_response_bytes=cap)
    err, _ = await _fail(client, stream=False)
    assert err.failure is FailureClass.BAD_RESPONSE and "cap" in err.message
    # Reading stopped right after the cap: at most one more network read.
    assert cap < client.statistics().bytes_received <= cap + 2 * 65536


@pytest.mark.parametrize("api", APIS)
async def test_huge_line_in_a_stream_is_cut_off(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    line_cap = 64 * 1024
    server.set_fault(Fault(kind="huge", size=8 * 1024 * 1024))
    client = make_client(api, max_line_bytes=line_cap)
    err, _ = await _fail(client, stream=True)
    assert err.failure is FailureClass.BAD_RESPONSE and "line too long" in err.message
    assert client.statistics().bytes_received <= line_cap + 2 * 65536


# --- the server going away ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_refused_then_recovered(
    stream: bool, server: ChaosServer, make_client: MakeClient
) -> None:
    client = make_client("ollama")
    assert (await client.chat(REQ)).result.content  # a pooled keep-alive connection
    await server.stop_listening()
    err, _ = await _fail(client, stream=stream)
    assert err.failure is FailureClass.CONNECTION and err.retryable
    assert "check that the backend process is up" in err.message
    await server.resume_listening()
    assert (await client.chat(REQ)).result.content
    chunks = [c async for c in client.stream(REQ)]
    assert chunks[-1].done


async def test_nothing_listening_is_a_connection_failure(http: Http) -> None:
    client = Endpoint(name="gone", url="http://127.0.0.1:9", api="openai", http=http)
    try:
        with pytest.raises(BackendError) as info:
            await client.list_models()
    finally:
        await client.aclose()
    assert info.value.failure is FailureClass.CONNECTION
    assert "gone (http://127.0.0.1:9)" in info.value.message


# --- httpx errors that a loopback server cannot produce on demand ---------------------------


@pytest.mark.parametrize(
    ("raised", "failure"),
    [
        (httpx.ConnectTimeout("timed out"), FailureClass.TIMEOUT_CONNECT),
        (httpx.ConnectError("[Errno 111] Connection refused"), FailureClass.CONNECTION),
        (httpx.ReadError("reset by peer"), FailureClass.CONNECTION),
        (httpx.WriteError("broken pipe"), FailureClass.CONNECTION),
        (httpx.RemoteProtocolError("illegal status line"), FailureClass.CONNECTION),
        (httpx.ReadTimeout("timed out"), FailureClass.TIMEOUT_FIRST_BYTE),
        (httpx.PoolTimeout("no connection"), FailureClass.TIMEOUT_TOTAL),
        (httpx.UnsupportedProtocol("ftp"), FailureClass.UNKNOWN),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
async def test_httpx_errors_map_to_classes(raised: Exception, failure: FailureClass) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    client = Endpoint(
        name="mock", url="http://backend.test", api="ollama", transport=httpx.MockTransport(handler)
    )
    try:
        with pytest.raises(BackendError) as info:
            await client.chat(REQ)
    finally:
        await client.aclose()
    assert info.value.failure is failure
    assert info.value.message.startswith("mock (http://backend.test): ollama endpoint: ")
    assert isinstance(info.value.__cause__, type(raised))


async def test_compressed_body_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"\x1f\x8b")

    client = Endpoint(
        name="gz", url="http://backend.test", api="openai", transport=httpx.MockTransport(handler)
    )
    try:
        with pytest.raises(BackendError) as info:
            await client.chat(REQ)
    finally:
        await client.aclose()
    assert info.value.failure is FailureClass.BAD_RESPONSE and "gzip" in info.value.message
