"""Every chaos fault, both wire formats, chat and stream: class, deadline, no fake reply.

One ChaosServer and one ``EndpointTransport`` per wire format serve the whole module
(the transports' pooled connections carry over from case to case, so a fault that
poisons a connection shows up in the next case). Each case asserts:

- the failure class, written out in ``CASES`` below (the expected table);
- for a timeout, that the deadline under test fired: only that deadline is short, the
  fault lasts 60 s, so the test never races the clock;
- that the failure never comes back as a reply: ``chat`` raises, a stream raises and
  never yields its ``done`` chunk, and it yields at most the chunks sent before the
  fault;
- that the next clean call on the same transport succeeds at once.

The OpenAI-compatible cases cover llama.cpp's server too (the ``llamacpp`` flavor of
the error bodies); vLLM and LM Studio speak the same format. Every case runs on both
HTTP transports (aiohttp's pool, the default, and httpx's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import pytest_asyncio

from actors.endpoint import (
    Api,
    BackendError,
    ChatRequest,
    Chunk,
    Deadlines,
    EndpointTransport,
    FailureClass,
    Message,
)
from runtime.testing import FAULT_KINDS, ChaosServer, Fault, Flavor

pytestmark = pytest.mark.asyncio(loop_scope="module")

Http = Literal["aiohttp", "httpx"]

APIS: tuple[Api, ...] = ("ollama", "openai")
REQ = ChatRequest(model="llama3", messages=(Message(role="user", content="hello there"),))
PATIENT = Deadlines(connect=10.0, first_byte=30.0, idle=30.0, total=60.0)
"""Every case that does not test a deadline: never fires on a busy machine."""
SHORT = 0.2
"""The one short deadline of a timeout case; its fault lasts 60 s."""
FIRST_BYTE = Deadlines(connect=10.0, first_byte=SHORT, idle=30.0, total=60.0)
IDLE = Deadlines(connect=10.0, first_byte=30.0, idle=SHORT, total=60.0)
TOTAL = Deadlines(connect=10.0, first_byte=30.0, idle=30.0, total=SHORT)
LINE_CAP = 64 * 1024
BODY_CAP = 256 * 1024
ANY = 1_000
"""``max_chunks`` of a fault that lets every content chunk through first."""

F = FailureClass


@dataclass(frozen=True)
class Case:
    """One fault and what it must come out as, for chat and for stream."""

    id: str
    fault: Fault
    chat: FailureClass | None
    """The class a non-streamed call fails with; None: the fault cannot touch it."""
    stream: FailureClass
    deadlines: Deadlines = PATIENT
    max_chunks: int = 0
    """Content chunks a stream may yield before failing (those sent before the fault)."""


def _http(status: int, failure: FailureClass, flavor: Flavor | None = None) -> Case:
    fault = Fault(kind="http_error", status=status, flavor=flavor)
    return Case(f"http_error-{status}-{flavor or 'route'}", fault, failure, failure)


FLAVORS: tuple[Flavor, ...] = ("ollama", "openai", "llamacpp")
OOM, CTX = F.OUT_OF_MEMORY, F.CONTEXT_OVERFLOW

CASES: tuple[Case, ...] = (
    _http(400, F.GENERATION_ERROR),
    _http(401, F.AUTH),
    _http(403, F.AUTH),
    _http(404, F.UNKNOWN),  # names no model: a wrong path, the base URL is misconfigured
    _http(408, F.SERVER_ERROR),
    _http(413, F.CONTEXT_OVERFLOW),
    _http(422, F.GENERATION_ERROR),
    _http(429, F.RATE_LIMITED),
    _http(500, F.SERVER_ERROR),
    _http(502, F.SERVER_ERROR),
    _http(503, F.SERVER_ERROR),
    _http(504, F.SERVER_ERROR),
    _http(400, F.GENERATION_ERROR, "llamacpp"),
    _http(401, F.AUTH, "llamacpp"),
    _http(404, F.UNKNOWN, "llamacpp"),
    _http(429, F.RATE_LIMITED, "llamacpp"),
    _http(503, F.SERVER_ERROR, "llamacpp"),
    Case("rate_limit", Fault(kind="rate_limit"), F.RATE_LIMITED, F.RATE_LIMITED),
    Case(
        "rate_limit-garbage-retry-after",
        Fault(kind="rate_limit", retry_after="soon-ish", flavor="llamacpp"),
        F.RATE_LIMITED,
        F.RATE_LIMITED,
    ),
    Case("model_not_found", Fault(kind="model_not_found"), F.MODEL_NOT_FOUND, F.MODEL_NOT_FOUND),
    *(
        Case(f"out_of_memory-{flavor}", Fault(kind="out_of_memory", flavor=flavor), OOM, OOM)
        for flavor in FLAVORS
    ),
    *(
        Case(f"context_overflow-{flavor}", Fault(kind="context_overflow", flavor=flavor), CTX, CTX)
        for flavor in FLAVORS
    ),
    Case("reset", Fault(kind="reset"), F.CONNECTION, F.CONNECTION),
    Case(
        "reset-after-3",
        Fault(kind="reset", after_chunks=3),
        F.CONNECTION,
        F.CONNECTION,
        max_chunks=3,
    ),
    # truncate without after_chunks drops only the stream's ending (done / [DONE])
    Case("truncate", Fault(kind="truncate"), F.BAD_RESPONSE, F.BAD_RESPONSE, max_chunks=ANY),
    Case(
        "truncate-after-2",
        Fault(kind="truncate", after_chunks=2),
        F.BAD_RESPONSE,
        F.BAD_RESPONSE,
        max_chunks=2,
    ),
    Case("malformed", Fault(kind="malformed"), F.BAD_RESPONSE, F.BAD_RESPONSE),
    Case(
        "malformed-after-2",
        Fault(kind="malformed", after_chunks=2),
        F.BAD_RESPONSE,
        F.BAD_RESPONSE,
        max_chunks=2,
    ),
    Case("error_in_stream", Fault(kind="error_in_stream"), F.SERVER_ERROR, F.SERVER_ERROR),
    Case(
        "error_in_stream-after-2",
        Fault(kind="error_in_stream", after_chunks=2),
        F.SERVER_ERROR,
        F.SERVER_ERROR,
        max_chunks=2,
    ),
    Case(
        "error_in_stream-oom",
        Fault(kind="error_in_stream", after_chunks=1, message="CUDA error: out of memory"),
        F.SERVER_ERROR,  # a non-streamed body carries the server's own "unexpected EOF"
        F.OUT_OF_MEMORY,
        max_chunks=1,
    ),
    Case("html_200", Fault(kind="html_200"), F.BAD_RESPONSE, F.BAD_RESPONSE),
    Case("huge", Fault(kind="huge", size=2 * BODY_CAP), F.BAD_RESPONSE, F.BAD_RESPONSE),
    Case("huge-small", Fault(kind="huge", size=100), F.BAD_RESPONSE, F.BAD_RESPONSE),
    # --- deadlines: only the one under test is short, the fault lasts 60 s -----------------
    Case(
        "hang-first_byte",
        Fault(kind="hang"),
        F.TIMEOUT_FIRST_BYTE,
        F.TIMEOUT_FIRST_BYTE,
        FIRST_BYTE,
    ),
    Case("hang-total", Fault(kind="hang"), F.TIMEOUT_TOTAL, F.TIMEOUT_TOTAL, TOTAL),
    Case(
        "latency-first_byte",
        Fault(kind="latency", delay=60.0),
        F.TIMEOUT_FIRST_BYTE,
        F.TIMEOUT_FIRST_BYTE,
        FIRST_BYTE,
    ),
    Case(
        "latency-total", Fault(kind="latency", delay=60.0), F.TIMEOUT_TOTAL, F.TIMEOUT_TOTAL, TOTAL
    ),
    # headers at once, body late: still the first byte
    Case(
        "slow_first_byte",
        Fault(kind="slow_first_byte", delay=60.0),
        F.TIMEOUT_FIRST_BYTE,
        F.TIMEOUT_FIRST_BYTE,
        FIRST_BYTE,
    ),
    Case(
        "slow_first_byte-total",
        Fault(kind="slow_first_byte", delay=60.0),
        F.TIMEOUT_TOTAL,
        F.TIMEOUT_TOTAL,
        TOTAL,
    ),
    # a non-streamed body is one piece: there is nothing to trickle
    Case(
        "slow_trickle-idle", Fault(kind="slow_trickle", delay=60.0), None, F.TIMEOUT_IDLE, IDLE, 1
    ),
    Case(
        "slow_trickle-total",
        Fault(kind="slow_trickle", delay=60.0),
        None,
        F.TIMEOUT_TOTAL,
        TOTAL,
        1,
    ),
)

_LIMIT_NAMES = {
    F.TIMEOUT_FIRST_BYTE: "first_byte",
    F.TIMEOUT_IDLE: "idle",
    F.TIMEOUT_TOTAL: "total",
}


async def test_every_fault_kind_is_in_the_table() -> None:
    assert {case.fault.kind for case in CASES} == set(FAULT_KINDS)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3"], seed=13) as srv:
        yield srv


@pytest.fixture(scope="module", params=["aiohttp", "httpx"])
def http(request: pytest.FixtureRequest) -> Http:
    kind: Http = request.param
    return kind


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def transports(
    server: ChaosServer, http: Http
) -> AsyncIterator[dict[Api, EndpointTransport]]:
    made = {
        api: EndpointTransport(
            name=f"chaos-{api}",
            url=server.url,
            api=api,
            deadlines=PATIENT,
            max_connections=4,
            max_line_bytes=LINE_CAP,
            max_response_bytes=BODY_CAP,
            http=http,
        )
        for api in APIS
    }
    yield made
    for transport in made.values():
        await transport.aclose()


async def _run(
    transport: EndpointTransport, *, stream: bool, deadlines: Deadlines
) -> tuple[BackendError | None, list[Chunk]]:
    """One call; the error it failed with (None: it answered) and the chunks it yielded."""
    got: list[Chunk] = []
    try:
        if stream:
            async for chunk in transport.stream(REQ, transport.new_call(deadlines)):
                got.append(chunk)
        else:
            result = await transport.chat(REQ, transport.new_call(deadlines))
            got.append(Chunk(content=result.result.content, done=True))
    except BackendError as exc:
        return exc, got
    return None, got


def _complete(chunks: list[Chunk]) -> bool:
    """Whether ``chunks`` are a whole reply: some text, then the ``done`` chunk."""
    return bool(chunks) and chunks[-1].done and any(chunk.content for chunk in chunks)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_fault(
    case: Case,
    api: Api,
    stream: bool,
    server: ChaosServer,
    transports: dict[Api, EndpointTransport],
) -> None:
    transport = transports[api]
    expected = case.stream if stream else case.chat
    server.set_fault(case.fault)
    try:
        started = time.monotonic()
        err, got = await _run(transport, stream=stream, deadlines=case.deadlines)
        elapsed = time.monotonic() - started
    finally:
        server.clear_faults()
    if expected is None:
        # The fault cannot change a non-streamed body: the complete reply is right.
        assert err is None and _complete(got)
    else:
        assert err is not None, f"{case.id}: a failure came back as a reply: {got!r}"
        assert err.failure is expected, err.message
        assert err.message.startswith(f"chaos-{api} ({server.url}): "), err.message
        assert not any(chunk.done for chunk in got), "a failed stream yielded its done chunk"
        assert len(got) <= case.max_chunks, got
        limit = _LIMIT_NAMES.get(expected)
        if limit is not None:
            value = getattr(case.deadlines, limit)
            assert f"{limit} deadline of {value:g} s" in err.message
            assert elapsed < 10.0  # the short deadline fired, not a patient one
    # The connection the fault touched is never reused in a broken state.
    after, chunks = await _run(transport, stream=stream, deadlines=PATIENT)
    assert after is None and _complete(chunks), after


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("phase", ["headers", "body"])
async def test_cancelled_while_sending_leaves_no_broken_connection(
    api: Api, phase: str, http: Http, transports: dict[Api, EndpointTransport]
) -> None:
    # A call cancelled half-way through sending its request must not leave a
    # half-sent connection in the pool: the next call would wait for an answer to a
    # request the server never finished reading.
    transport = transports[api]
    # aiohttp reports only "headers.started" (it has a connection); its 4 MB body
    # is still being written one loop step later.
    sending = f"http11.send_request_{'headers' if http == 'aiohttp' else phase}.started"
    big = ChatRequest(model="llama3", messages=(Message(role="user", content="x" * 4_000_000),))
    call = transport.new_call(PATIENT)
    plain_trace = call.trace
    cancelled = asyncio.Event()

    async def trace(event: str, info: dict[str, Any]) -> None:
        await plain_trace(event, info)
        if event == sending and not cancelled.is_set():
            cancelled.set()
            task = asyncio.current_task()
            assert task is not None
            if phase == "headers" or http == "httpx":
                task.cancel()
            else:
                asyncio.get_running_loop().call_soon(task.cancel)

    call.trace = trace  # type: ignore[method-assign]
    task = asyncio.create_task(transport.chat(big, call))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    started = time.monotonic()
    quick = Deadlines(connect=10.0, first_byte=5.0, idle=5.0, total=10.0)
    for _ in range(3):  # every pooled connection, not only one
        result = await transport.chat(REQ, transport.new_call(quick))
        assert result.result.content
    assert time.monotonic() - started < 5.0
