"""Streaming and cancellation through the Runtime."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from actors import ManualClock
from events import FallbackSwitched, RequestCancelled, RequestFailed, StreamInterrupted
from runtime import HealthConfig, Runtime, StreamBroken
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]


async def test_stream_yields_text_then_one_final_chunk(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, roles={"gen": ("llama3",)})
    async with Runtime.from_config(cfg) as rt:
        chunks = [chunk async for chunk in rt.stream(MESSAGES, role="gen")]
        reply = await rt.chat(MESSAGES, model="llama3")
    *body, final = chunks
    assert body and all(c.content and not c.done for c in body)
    assert final.done and final.usage is not None and final.usage.completion_tokens == len(body)
    assert {(c.model, c.endpoint) for c in chunks} == {("llama3", "a")}
    assert len({c.request_id for c in chunks}) == 1
    assert reply.endpoint == "b"  # the stream advanced the round-robin cursor too


async def test_stream_falls_back_before_the_first_chunk(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    a.set_fault(Fault(kind="error_in_stream", after_chunks=0), model="llama3")
    cfg = config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a",), "qwen": ("b",)},
        roles={"gen": ("llama3", "qwen")},
    )
    async with Runtime.from_config(cfg) as rt:
        chunks = [chunk async for chunk in rt.stream(MESSAGES, role="gen")]
    assert {(c.model, c.endpoint) for c in chunks} == {("qwen", "b")} and chunks[-1].done
    [switch] = await read_events(tmp_path / "events.sqlite3", FallbackSwitched)
    assert isinstance(switch.event, FallbackSwitched) and switch.event.to_model == "qwen"


@pytest.mark.parametrize(
    "fault",
    [Fault(kind="error_in_stream", after_chunks=3), Fault(kind="truncate", after_chunks=3)],
    ids=["error_line", "truncated"],
)
async def test_a_failure_after_text_raises_stream_interrupted_with_the_partial_text(
    tmp_path: Path, servers: Servers, fault: Fault
) -> None:
    a, b = servers
    a.set_fault(fault, model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    received: list[str] = []
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(StreamBroken) as caught:
            async for chunk in rt.stream(MESSAGES, model="llama3"):
                received.append(chunk.content)
    error = caught.value
    assert received and error.partial == "".join(received)
    assert error.deployment == "llama3@a" and error.failure in ("server_error", "bad_response")
    assert "retry the request" in str(error)
    assert b.requests_for(route="/api/chat") == 0  # no fallback once text was delivered
    [interrupted] = await read_events(tmp_path / "events.sqlite3", StreamInterrupted)
    assert isinstance(interrupted.event, StreamInterrupted)
    assert interrupted.event.partial_chars == len(error.partial)
    [failed] = await read_events(tmp_path / "events.sqlite3", RequestFailed)
    assert isinstance(failed.event, RequestFailed)
    assert failed.event.error_type == "StreamBroken"


async def test_cancelling_a_chat_releases_counts_and_is_recorded(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="hang"), model="llama3")
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        call = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
        await eventually(lambda: rt.statistics().router.inflight == {"llama3@a": 1})
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        stats = rt.statistics()
    assert stats.router.inflight == {} and stats.router.cancelled == 1
    assert [e.inflight for e in stats.endpoints] == [0]
    [cancelled] = await read_events(tmp_path / "events.sqlite3", RequestCancelled)
    assert isinstance(cancelled.event, RequestCancelled) and cancelled.event.attempts == 1


async def test_cancelling_a_probe_gives_its_permit_back(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    health = HealthConfig(check_interval_seconds=0, failure_threshold=1, quarantine_seconds=5)
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, health=health)
    a.set_fault(Fault(kind="http_error", status=500, count=1), model="llama3")
    async with Runtime.from_config(cfg, clock=clock) as rt:
        with contextlib.suppress(Exception):
            await rt.chat(MESSAGES, model="llama3")
        await clock.advance(6.0)
        a.set_fault(Fault(kind="hang"), model="llama3")
        probe = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
        await eventually(lambda: rt.statistics().health.probes_in_flight == 1)
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        released = rt.statistics().health.probes_in_flight
        a.clear_faults()
        reply = await rt.chat(MESSAGES, model="llama3")  # the slot is free for a new probe
        status = rt.health().status("llama3")
    assert released == 0 and reply.endpoint == "a" and status == "healthy"


async def test_closing_a_stream_early_releases_counts_and_is_recorded(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="slow_trickle", delay=0.05), model="llama3")
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        stream = rt.stream(MESSAGES, model="llama3")
        first = await anext(stream)
        await stream.aclose()
        stats = rt.statistics()
    assert first.content and stats.router.inflight == {} and stats.router.cancelled == 1
    assert [e.inflight for e in stats.endpoints] == [0]
    [cancelled] = await read_events(tmp_path / "events.sqlite3", RequestCancelled)
    assert isinstance(cancelled.event, RequestCancelled)
    assert cancelled.event.partial_chars == len(first.content)
