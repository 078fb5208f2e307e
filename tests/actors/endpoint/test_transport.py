"""An endpoint actor and its transport against a real chaos backend on 127.0.0.1.

Happy paths, metrics, model listing, the concurrency limit, cancellation, redirects
and key hygiene. The fault-by-fault classification lives in test_transport_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import msgspec
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
KEY = "sk-test-SECRET0123456789"
REQ = ChatRequest(model="llama3", messages=(Message(role="user", content="hello there"),))

MakeClient = Callable[..., Endpoint]


@pytest.fixture
async def server() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "qwen"], seed=3) as srv:
        yield srv


@pytest.fixture
async def make_client(server: ChaosServer, http: Http) -> AsyncIterator[MakeClient]:
    clients: list[Endpoint] = []

    def make(api: Api = "ollama", **kwargs: object) -> Endpoint:
        kwargs.setdefault("url", server.url)
        client = Endpoint(name="chaos", api=api, http=http, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _wait_until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    # Polling: the conditions live in the chaos server and the event loop, not in
    # anything that could signal an Event.
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class _Gate(httpx.AsyncBaseTransport):
    """The real network, but every request is held until ``opened`` is set."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.held = 0
        self._network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.held += 1
        await self.opened.wait()
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()


def _other_tasks() -> int:
    return len(asyncio.all_tasks()) - 1


# --- happy paths ------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_chat_returns_content_usage_and_metrics(api: Api, make_client: MakeClient) -> None:
    client = make_client(api, api_key=KEY)
    assert (client.name, client.api) == ("chaos", api)
    result = await client.chat(msgspec.structs.replace(REQ, stream=True))  # stream ignored
    assert result.result.content
    assert result.result.finish_reason == "stop"
    assert result.result.usage is not None and result.result.usage.completion_tokens > 0
    assert result.latency_s > 0
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.latency_s
    assert result.tokens_per_s is not None and result.tokens_per_s > 0


@pytest.mark.parametrize("api", APIS)
async def test_scripted_reply_is_exact_for_chat_and_stream(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.script("llama3", ["first exact reply", "second exact reply"])
    client = make_client(api)
    assert (await client.chat(REQ)).result.content == "first exact reply"
    chunks = [chunk async for chunk in client.stream(REQ)]
    assert "".join(c.content for c in chunks) == "second exact reply"
    assert server.requests_for(model="llama3") == 2


async def test_ollama_tokens_per_second_prefers_backend_eval_timing(
    make_client: MakeClient,
) -> None:
    result = await make_client("ollama").chat(REQ)
    usage, timings = result.result.usage, result.result.timings
    assert usage is not None and timings is not None and timings.eval_duration_ns
    expected = usage.completion_tokens / (timings.eval_duration_ns / 1e9)
    assert result.tokens_per_s == pytest.approx(expected)


@pytest.mark.parametrize("api", APIS)
async def test_stream_yields_content_then_one_final_chunk(
    api: Api, make_client: MakeClient
) -> None:
    client = make_client(api)
    chunks: list[Chunk] = [chunk async for chunk in client.stream(REQ)]
    *content, final = chunks
    assert len(content) >= 2 and all(c.content and not c.done for c in content)
    assert final.done and final.finish_reason == "stop"
    assert final.usage is not None and final.usage.completion_tokens > 0
    stats = client.statistics()
    assert stats.requests == 1 and stats.failures == 0 and stats.bytes_received > 0
    assert client.inflight == 0


@pytest.mark.parametrize("api", APIS)
async def test_keep_alive_reuses_one_connection(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    client = make_client(api)
    for _ in range(3):
        await client.chat(REQ)
        _ = [c async for c in client.stream(REQ)]
    assert server.stats().connections == 1


@pytest.mark.parametrize(
    ("api", "expected"),
    [("ollama", {"llama3:latest", "qwen:latest"}), ("openai", {"llama3", "qwen"})],
)
async def test_list_models(api: Api, expected: set[str], make_client: MakeClient) -> None:
    assert set(await make_client(api).list_models()) == expected


async def test_statistics_snapshot(server: ChaosServer, make_client: MakeClient) -> None:
    client = make_client("openai", max_concurrency=3)
    await client.chat(REQ)
    server.set_fault(Fault(kind="http_error", status=503, count=1))
    with pytest.raises(BackendError):
        await client.chat(REQ)
    stats = client.statistics()
    assert (stats.name, stats.url, stats.max_concurrency) == ("chaos", server.url, 3)
    assert (stats.requests, stats.failures, stats.inflight, stats.waiting) == (2, 1, 0, 0)
    assert stats.failures_by_class == {"server_error": 1}


async def test_aclose_is_idempotent_and_refuses_later_calls(make_client: MakeClient) -> None:
    client = make_client()
    await client.chat(REQ)
    await client.aclose()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.chat(REQ)


@pytest.mark.parametrize(
    "bad", [{"connect": 0}, {"first_byte": -1.0}, {"idle": float("nan")}, {"total": float("inf")}]
)
def test_deadlines_must_be_positive_and_finite(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Deadlines(**bad)


def test_limits_must_be_positive(server: ChaosServer) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        Endpoint(name="x", url=server.url, api="ollama", max_concurrency=0)


# --- concurrency --------------------------------------------------------------------------


async def test_concurrency_limit_holds_extra_calls_back(
    server: ChaosServer, make_client: MakeClient
) -> None:
    gate = _Gate()  # holds the calls that got a slot until the test has looked
    client = make_client("ollama", max_concurrency=2, transport=gate)
    tasks = [asyncio.create_task(client.chat(REQ)) for _ in range(5)]
    await _wait_until(lambda: gate.held == 2)
    await asyncio.sleep(0.1)  # room for a third request to (wrongly) arrive
    assert gate.held == 2 and server.stats().total_requests == 0
    assert client.inflight == 2 and client.statistics().waiting == 3
    gate.opened.set()
    results = await asyncio.gather(*tasks)
    assert len(results) == 5 and server.stats().total_requests == 5
    assert (client.inflight, client.statistics().waiting) == (0, 0)


async def test_waiting_for_a_slot_counts_against_the_total_deadline(
    server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="hang"))  # the slot stays taken until the test lets go
    client = await make_client("ollama", max_concurrency=1).started()
    slow = asyncio.create_task(client.chat(REQ))
    await _wait_until(lambda: client.inflight == 1)
    with pytest.raises(BackendError) as info:
        await client.chat(REQ, deadlines=Deadlines(total=0.1))
    assert info.value.failure is FailureClass.TIMEOUT_TOTAL
    assert client.statistics().waiting == 0
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert server.stats().total_requests == 1


# --- cancellation -------------------------------------------------------------------------


async def test_cancel_mid_non_stream_releases_everything(
    server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="hang"))
    client = await make_client("openai").started()
    baseline = _other_tasks()  # the actor's own task included
    task = asyncio.create_task(client.chat(REQ))
    await _wait_until(lambda: server.stats().total_requests == 1)
    assert client.inflight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (client.inflight, client.statistics().waiting) == (0, 0)
    assert client.statistics().failures == 0  # a cancellation is not the backend's fault
    # The hanging server connection only ends when the client closes its socket.
    await _wait_until(lambda: _other_tasks() == baseline)


async def test_cancel_while_waiting_for_a_slot(
    server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="hang"))
    client = await make_client("ollama", max_concurrency=1).started()
    holder = asyncio.create_task(client.chat(REQ))
    waiter = asyncio.create_task(client.chat(REQ))
    # the holder's request is at the server (not still being sent: a request cancelled
    # half-written is another case) and the waiter waits for the slot
    await _wait_until(lambda: server.stats().total_requests == 1)
    await _wait_until(lambda: client.statistics().waiting == 1)
    waiter.cancel()
    holder.cancel()
    for task in (holder, waiter):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (client.inflight, client.statistics().waiting) == (0, 0)
    server.clear_faults()
    assert (await client.chat(REQ)).result.content  # the slot really came back


@pytest.mark.parametrize("api", APIS)
async def test_cancel_mid_stream_closes_upstream(
    api: Api, server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="slow_trickle", delay=0.05))
    client = await make_client(api).started()
    baseline = _other_tasks()  # the actor's own task included
    got: list[Chunk] = []

    async def consume() -> None:
        async for chunk in client.stream(REQ):
            got.append(chunk)

    task = asyncio.create_task(consume())
    await _wait_until(lambda: len(got) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _wait_until(lambda: client.inflight == 0)
    await _wait_until(lambda: _other_tasks() == baseline)
    assert not any(c.done for c in got)


async def test_aclosing_the_stream_early_closes_upstream_at_once(
    server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="slow_trickle", delay=0.05))
    client = await make_client("ollama").started()
    baseline = _other_tasks()  # the actor's own task included
    stream = client.stream(REQ)
    async with contextlib.aclosing(stream):
        async for _chunk in stream:
            break
    assert client.inflight == 0  # released synchronously by aclose()
    await _wait_until(lambda: _other_tasks() == baseline)


async def test_breaking_out_of_async_for_closes_upstream(
    server: ChaosServer, make_client: MakeClient
) -> None:
    server.set_fault(Fault(kind="slow_trickle", delay=0.05))
    client = await make_client("openai").started()
    baseline = _other_tasks()  # the actor's own task included
    async for _chunk in client.stream(REQ):
        break
    # Without aclosing, the event loop's async-generator finalizer closes it.
    await _wait_until(lambda: client.inflight == 0)
    await _wait_until(lambda: _other_tasks() == baseline)


# --- redirects, keys and logs ---------------------------------------------------------------


async def test_redirect_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://evil.example/x?token=abc123"})

    client = Endpoint(
        name="redir",
        url="http://backend.test",
        api="openai",
        api_key=KEY,
        transport=httpx.MockTransport(handler),
    )
    try:
        with pytest.raises(BackendError) as info:
            await client.chat(REQ)
    finally:
        await client.aclose()
    assert len(seen) == 1
    assert info.value.failure is FailureClass.BAD_RESPONSE and info.value.status == 302
    assert "evil.example" in info.value.message and "abc123" not in info.value.message
    assert "redir (http://backend.test)" in info.value.message


@pytest.mark.parametrize("api", APIS)
async def test_key_goes_only_into_the_authorization_header(api: Api) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "models": []})

    client = Endpoint(
        name="k",
        url="http://backend.test",
        api=api,
        api_key=KEY,
        transport=httpx.MockTransport(handler),
    )
    try:
        await client.list_models()
        with contextlib.suppress(BackendError):  # the canned body is no chat reply
            await client.chat(REQ)
    finally:
        await client.aclose()
    for request in seen:
        assert KEY not in str(request.url) and KEY.encode() not in request.content
        others = [v for k, v in request.headers.items() if k.lower() != "authorization"]
        assert all(KEY not in v for v in others)
        expected = f"Bearer {KEY}" if api == "openai" else None
        assert request.headers.get("authorization") == expected
        assert request.headers["accept-encoding"] == "identity"


async def test_key_never_reaches_messages_or_logs(
    server: ChaosServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    echo = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"
    server.set_fault(Fault(kind="http_error", status=401, message=echo))
    client = make_client("openai", api_key=KEY)
    caplog.set_level(logging.DEBUG, logger="runtime")  # a host's plain handler, at debug
    with pytest.raises(BackendError) as info:
        await client.chat(REQ)
    err = info.value
    assert err.failure is FailureClass.AUTH and not err.retryable
    assert KEY not in str(err) and KEY not in err.body_snippet and KEY not in repr(err.args)
    failed = [r for r in caplog.records if r.llmrt_event == "endpoint.request.failed"]
    assert [(r.levelname, r.llmrt_fields) for r in failed] == [
        (
            "WARNING",
            {"endpoint": "chaos", "op": "chat", "failure": "auth", "status": 401,
             "retryable": False},
        )
    ]  # fmt: skip
    assert caplog.text and KEY not in caplog.text  # what the host's formatter printed
    assert all(KEY not in repr(r.__dict__) for r in caplog.records)
