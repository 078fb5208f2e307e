"""Concurrency against a REAL llama.cpp server with more requests than it has slots.

The stall this pins down (measured; see ``actors.endpoint._discover``): llama.cpp's HTTP
server keeps a thread on each kept-alive connection for up to 5 s after its last
request, from a pool of ``--parallel`` + 2 threads (``_launch.py`` sets that). With the
old default ``max_concurrency: 8`` against ``--parallel 4`` (6 threads), 8 concurrent
requests opened 8 connections; the requests on the 7th and 8th were not read until a
kept-alive connection timed out: 5.1 s, in 2 runs of 3, while llama.cpp was idle
(``inspect explain`` showed only "first token after 5.2s"). Now an unset
``max_concurrency`` takes llama.cpp's ``total_slots`` (``GET /props``): at most 4 calls,
so at most 4 connections plus the start-up ``/props`` one, and the other 4 requests
wait in the runtime's own slots, recorded as ``queue_s``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events import AttemptSucceeded
from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    Runtime,
    RuntimeConfig,
)
from tests._logs import capture_logs
from tests.real_backend.server import LlamaServer, LlamaServerFactory
from tests.runtime._support import read_events
from tests.runtime.inspect._requests import explain_text

pytestmark = pytest.mark.real_backend

MODEL = "tiny"
STALL_S = 2.5
"""Half llama.cpp's 5 s keep-alive: no first byte takes this long unless a request is
stuck behind a kept-alive connection (a tiny-model reply takes milliseconds)."""


def default_config(tmp_path: Path, server: LlamaServer, **endpoint: object) -> RuntimeConfig:
    """One llama.cpp endpoint with the default settings (``max_concurrency`` unset)."""
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="l1", url=server.url, api="openai", **endpoint),),  # type: ignore[arg-type]
        models=(ModelConfig(name=MODEL, deployments=("l1",)),),
        event_log=EventLogConfig(path=str(tmp_path / "events.sqlite3")),
        health=HealthConfig(check_interval_seconds=0),
    )


async def _burst(rt: Runtime, n: int, max_tokens: int = 8) -> None:
    async def one(i: int) -> None:
        reply = await rt.chat([{"role": "user", "content": f"hello {i}"}], model=MODEL,
                              max_tokens=max_tokens)  # fmt: skip
        assert reply.usage is not None and reply.usage.completion_tokens == max_tokens

    await asyncio.gather(*(one(i) for i in range(n)))


async def test_eight_requests_on_four_slots_queue_in_the_runtime_without_a_stall(
    tmp_path: Path, llama_server_factory: LlamaServerFactory
) -> None:
    server = llama_server_factory(parallel=4)
    log = tmp_path / "events.sqlite3"
    for _ in range(4):  # fresh connections each time: the stall came in 2 runs of 3
        async with Runtime.from_config(default_config(tmp_path, server)) as rt:
            (endpoint,) = rt.statistics().endpoints
            assert endpoint.max_concurrency == 4  # discovered: total_slots of GET /props
            await _burst(rt, 8)
    stored = await read_events(log, AttemptSucceeded)
    attempts = [e.event for e in stored if isinstance(e.event, AttemptSucceeded)]
    assert len(attempts) == 4 * 8
    # Every phase is recorded; none hides a keep-alive stall.
    for event in attempts:
        assert event.queue_s is not None and event.connect_s is not None
        assert event.first_byte_s is not None and event.first_byte_s < STALL_S, event
    # Per burst, 4 requests held the 4 slots and 4 waited (a whole reply at least) for
    # one: the wait is the runtime's, and recorded.
    queued = [e for e in attempts if e.queue_s is not None and e.queue_s >= 0.001]
    assert len(queued) >= 4 * 4

    # explain shows where a queued request's time went.
    slowest = max(attempts, key=lambda e: e.queue_s or 0.0)
    text = await explain_text(log, slowest.request_id)
    assert "for a slot on l1" in text and "connected in" in text and "first byte after" in text


async def test_a_configured_concurrency_above_the_slots_is_kept_and_warned_about(
    tmp_path: Path, llama_server_factory: LlamaServerFactory
) -> None:
    server = llama_server_factory(parallel=2)
    with capture_logs() as logs:
        async with Runtime.from_config(default_config(tmp_path, server, max_concurrency=3)) as rt:
            (endpoint,) = rt.statistics().endpoints
            await _burst(rt, 3)
    assert endpoint.max_concurrency == 3  # configured wins
    warned = [line for line in logs if line["event"] == "runtime.endpoint.concurrency_above_slots"]
    assert len(warned) == 1 and warned[0]["log_level"] == "warning"
    assert (warned[0]["endpoint"], warned[0]["max_concurrency"], warned[0]["slots"]) == ("l1", 3, 2)
