"""Slot count changes at run time, where a call's time went, and asking for the slot
count (real ``EndpointActor`` + ``EndpointTransport`` over the chaos backend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from actors.endpoint import (
    Call,
    ChatRequest,
    Message,
    SetConcurrency,
    discover_concurrency,
)
from runtime.testing import ChaosServer, Fault
from tests._wait import eventually
from tests.actors.endpoint._endpoint import Endpoint

REQ = ChatRequest(model="llama3", messages=(Message(role="user", content="hello there"),))


@pytest.fixture
async def server() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3"], seed=3) as srv:
        yield srv


async def test_a_lowered_then_raised_slot_count_holds_calls_back_then_lets_them_go(
    server: ChaosServer,
) -> None:
    server.set_fault(Fault(kind="hang"))  # calls hold their slot until cancelled
    # The pool has room for 3 connections (as the runtime's for a discovering endpoint).
    endpoint = await Endpoint(name="e", url=server.url, api="ollama", max_concurrency=3).started()
    await endpoint.ref.ask(SetConcurrency(1))
    calls = [asyncio.create_task(endpoint.chat(REQ)) for _ in range(3)]
    await eventually(lambda: endpoint.statistics().waiting == 2)
    assert server.stats().total_requests <= 1
    await endpoint.ref.ask(SetConcurrency(3))
    await eventually(lambda: server.stats().total_requests == 3)
    stats = endpoint.statistics()
    assert (stats.max_concurrency, stats.inflight, stats.waiting) == (3, 3, 0)
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await eventually(lambda: endpoint.inflight == 0)


async def test_a_queued_call_records_its_slot_wait_apart_from_the_first_byte(
    server: ChaosServer,
) -> None:
    delay = 0.3
    server.set_fault(Fault(kind="latency", delay=delay))  # before the response headers
    endpoint = await Endpoint(name="e", url=server.url, api="openai", max_concurrency=1).started()
    first = await endpoint.ref.ask(Call("chat"), timeout=None)
    second = await endpoint.ref.ask(Call("chat"), timeout=None)
    assert second.queued and first.timings.queue_s is None  # nothing ran yet
    await asyncio.gather(first.chat(REQ), second.chat(REQ))
    one, two = first.timings, second.timings
    assert one.queue_s is not None and two.queue_s is not None
    assert one.first_byte_s is not None and two.first_byte_s is not None
    assert one.connect_s is not None and two.connect_s is not None
    # Both waited for the server's first byte; only the second waited for the slot,
    # and for at least the whole of the first call.
    assert one.first_byte_s >= delay and two.first_byte_s >= delay
    assert two.queue_s >= delay > one.queue_s
    assert one.connect_s >= 0 and two.connect_s >= 0


async def test_a_failed_call_keeps_the_phases_it_reached(server: ChaosServer) -> None:
    server.set_fault(Fault(kind="http_error", status=503))
    endpoint = await Endpoint(name="e", url=server.url, api="openai").started()
    handle = await endpoint.ref.ask(Call("chat"), timeout=None)
    with pytest.raises(Exception, match="503"):
        await handle.chat(REQ)
    timings = handle.timings
    assert timings.queue_s is not None and timings.first_byte_s is not None


async def test_nothing_is_discovered_from_ollama_or_a_server_without_props(
    server: ChaosServer,
) -> None:
    ollama = await Endpoint(name="o", url=server.url, api="ollama").started()
    openai = await Endpoint(name="p", url=server.url, api="openai").started()
    assert await discover_concurrency(ollama.transport) is None
    assert server.stats().total_requests == 0  # Ollama is not even asked
    assert await discover_concurrency(openai.transport) is None  # /props: 404
