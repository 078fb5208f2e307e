"""The Runtime's lifecycle: checked states, a lock around start/aclose, and calls in
flight drained, then cancelled, at close (``runtime._lifecycle``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import pytest

from runtime import (
    InvalidLogFile,
    LLMRuntimeError,
    Runtime,
    RuntimeConfig,
    RuntimeNotRunning,
    RuntimeState,
    ShutdownConfig,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually

Servers = tuple[ChaosServer, ChaosServer]


def draining(cfg: RuntimeConfig, seconds: float) -> RuntimeConfig:
    return msgspec.structs.replace(cfg, shutdown=ShutdownConfig(drain_seconds=seconds))


async def test_the_states_in_order(tmp_path: Path, servers: Servers) -> None:
    rt = Runtime.from_config(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}))
    assert rt.state is RuntimeState.UNOPENED
    await rt.start()
    assert rt.state is RuntimeState.OPEN
    await rt.start()  # idempotent while open
    await rt.aclose()
    assert rt.state is RuntimeState.CLOSED
    await rt.aclose()  # idempotent
    assert rt.state is RuntimeState.CLOSED


async def test_concurrent_starts_open_the_log_once(
    tmp_path: Path, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    rt = Runtime.from_config(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}))
    with caplog.at_level(logging.INFO, logger="runtime"):
        await asyncio.gather(rt.start(), rt.start(), rt.start())
        try:
            assert (await rt.chat(MESSAGES, model="llama3")).content
        finally:
            await rt.aclose()
    opened = [r for r in caplog.records if getattr(r, "llmrt_event", None) == "eventlog.opened"]
    assert len(opened) == 1


async def test_aclose_during_start_leaves_nothing_running(tmp_path: Path, servers: Servers) -> None:
    before = asyncio.all_tasks()
    rt = Runtime.from_config(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}))
    starting = asyncio.create_task(rt.start())
    await asyncio.sleep(0)  # a yield: start() is now underway, holding the lock
    assert rt.state is RuntimeState.STARTING
    await rt.aclose()
    await starting  # it finished; aclose waited for it, then closed what it started
    assert rt.state is RuntimeState.CLOSED
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert not [t for t in left if not t.done()]
    with pytest.raises(RuntimeNotRunning, match="closed"):
        await rt.chat(MESSAGES, model="llama3")


async def test_calls_after_close_or_before_start_are_refused(
    tmp_path: Path, servers: Servers
) -> None:
    rt = Runtime.from_config(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}))
    with pytest.raises(RuntimeNotRunning, match="not started"):
        await rt.chat(MESSAGES, model="llama3")
    async with rt:
        pass
    for call in (
        rt.chat(MESSAGES, model="llama3"),
        anext(rt.stream(MESSAGES, model="llama3")),
        rt.start(),
    ):
        with pytest.raises(RuntimeNotRunning, match="closed; create a new Runtime"):
            await call
    with pytest.raises(RuntimeNotRunning):
        rt.health()


async def test_aclose_before_start_closes_it_for_good(tmp_path: Path, servers: Servers) -> None:
    rt = Runtime.from_config(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}))
    await rt.aclose()
    assert rt.state is RuntimeState.CLOSED
    with pytest.raises(RuntimeNotRunning):
        await rt.start()


async def test_a_failed_start_is_a_runtime_error_and_can_be_retried(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = Path(cfg.event_log.path)
    await asyncio.to_thread(path.write_text, "not a database, just text\n" * 100)
    rt = Runtime.from_config(cfg)
    with pytest.raises(LLMRuntimeError) as raised:
        await rt.start()
    assert isinstance(raised.value, InvalidLogFile)
    assert rt.state is RuntimeState.UNOPENED
    await asyncio.to_thread(path.unlink)
    async with rt:
        assert (await rt.chat(MESSAGES, model="llama3")).content


async def test_close_drains_a_request_in_flight(tmp_path: Path, servers: Servers) -> None:
    a = servers[0]
    a.set_fault(Fault(kind="latency", delay=0.5), model="llama3")
    rt = Runtime.from_config(draining(config(tmp_path, {"a": a}, {"llama3": ("a",)}), 60.0))
    await rt.start()
    chat = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
    await eventually(lambda: a.requests_for(route="/api/chat") >= 1, within=60)
    await rt.aclose()
    assert chat.done() and (chat.result()).content  # it finished before the log closed


async def test_close_cancels_what_outlives_the_drain(tmp_path: Path, servers: Servers) -> None:
    a = servers[0]
    a.set_fault(Fault(kind="hang"), model="llama3")
    # The drain period is what is under test: a short one, on a request that never ends.
    rt = Runtime.from_config(draining(config(tmp_path, {"a": a}, {"llama3": ("a",)}), 0.2))
    await rt.start()
    chat = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
    await eventually(lambda: a.requests_for(route="/api/chat") >= 1, within=60)
    await rt.aclose()
    with pytest.raises(RuntimeNotRunning, match="closed while this call was in flight"):
        await chat
    assert not chat.cancelled()


async def test_close_during_a_stream(tmp_path: Path, servers: Servers) -> None:
    a = servers[0]
    a.set_fault(Fault(kind="slow_trickle", after_chunks=1, delay=3600.0), model="llama3")
    rt = Runtime.from_config(draining(config(tmp_path, {"a": a}, {"llama3": ("a",)}), 0.0))
    await rt.start()
    waiting = rt.stream(MESSAGES, model="llama3")  # its consumer waits for the next chunk
    assert (await anext(waiting)).content
    between = rt.stream(MESSAGES, model="llama3")  # its consumer is busy elsewhere
    assert (await anext(between)).content
    next_chunk = asyncio.create_task(anext(waiting))
    await asyncio.sleep(0)  # a yield: the task is now inside the stream, waiting
    await rt.aclose()
    with pytest.raises(RuntimeNotRunning):
        await next_chunk
    with pytest.raises(RuntimeNotRunning):
        await anext(between)
