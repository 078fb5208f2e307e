"""Several runtimes on one log: health, resets, quotas and snapshots are shared.

Each test runs twice: on one SQLite file that every runtime opens for itself (as the
processes of ``uvicorn --workers 3`` would) and on one ``MemoryEventLog`` with peers.
The multi-process acceptance test is ``test_many_processes.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import msgspec
import pytest

from events import MemoryEventLog
from runtime import (
    HealthConfig,
    LLMRuntimeError,
    QuotaConfig,
    QuotaExceeded,
    Runtime,
    RuntimeConfig,
)
from runtime.inspect._cli import main as inspect_main
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually

Servers = tuple[ChaosServer, ChaosServer]
QUARANTINE = HealthConfig(
    check_interval_seconds=0, failure_threshold=3, quarantine_seconds=600.0, min_calls=10
)
Opener = Callable[[int], "asyncio.Future[list[Runtime]]"]


@pytest.fixture(params=["sqlite", "memory"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def runtimes(kind: str, cfg: RuntimeConfig, count: int) -> AsyncIterator[list[Runtime]]:
    """``count`` started runtimes on one log (closed, with their logs, at the end)."""
    async with AsyncExitStack() as stack:
        opened: list[Runtime] = []
        first: MemoryEventLog | None = None
        for _ in range(count):
            if kind == "sqlite":
                rt = Runtime(cfg)
            else:
                log = MemoryEventLog() if first is None else first.peer()
                first = first or log
                stack.push_async_callback(log.close)
                rt = Runtime(cfg, event_log=log)
            opened.append(await stack.enter_async_context(rt))
        yield opened


def status(rt: Runtime, deployment: str = "llama3@a") -> str:
    return rt.health().deployment(deployment).status


async def quarantine_through(rt: Runtime, server: ChaosServer) -> None:
    """Fail requests through ``rt`` until it quarantines ``llama3@a``."""
    await server.stop_listening()
    try:
        while status(rt) != "quarantined":
            with contextlib.suppress(LLMRuntimeError):  # with a fallback it may succeed
                await rt.chat(MESSAGES, model="llama3")
    finally:
        await server.resume_listening()


async def test_a_quarantine_by_one_runtime_holds_in_the_others(
    kind: str, tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=QUARANTINE)
    async with runtimes(kind, cfg, 3) as (one, two, three):
        await quarantine_through(one, a)
        # no request through the others: the tail brought the quarantine
        await eventually(lambda: status(two) == status(three) == "quarantined")
        before = a.requests_for(route="/api/chat")
        replies = [await rt.chat(MESSAGES, model="llama3") for rt in (two, three) for _ in "xy"]
        assert {r.endpoint for r in replies} == {"b"}
        assert a.requests_for(route="/api/chat") == before


async def test_a_reset_through_one_runtime_reaches_the_others(
    kind: str, tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, health=QUARANTINE)
    async with runtimes(kind, cfg, 2) as (one, two):
        await quarantine_through(one, a)
        await eventually(lambda: status(two) == "quarantined")
        assert await two.reset_health("llama3") == ("llama3@a",)
        await eventually(lambda: status(one) == "unknown")  # what a reset makes it
        assert (await one.chat(MESSAGES, model="llama3")).endpoint == "a"


async def test_a_shutdown_snapshot_keeps_another_runtimes_reset(
    tmp_path: Path, servers: Servers
) -> None:
    """Regression: the server's shutdown snapshot carried its own state, which had
    never seen a reset made by a second process, so the next start was quarantined."""
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, health=QUARANTINE)
    cfg = msgspec.structs.replace(
        cfg, event_log=msgspec.structs.replace(cfg.event_log, snapshot_every=1)
    )
    async with Runtime(cfg) as server:
        await quarantine_through(server, a)
        async with Runtime(cfg) as operator:
            await operator.reset_health("llama3")
        await eventually(lambda: status(server) == "unknown")
        assert (await server.chat(MESSAGES, model="llama3")).endpoint == "a"
    async with Runtime(cfg) as restarted:
        assert status(restarted) in ("unknown", "healthy")
    out, err = io.StringIO(), io.StringIO()
    argv = [str(tmp_path / "events.sqlite3"), "state"]
    code = await asyncio.to_thread(inspect_main, argv, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    line = next(x for x in out.getvalue().splitlines() if "llama3@a" in x)
    assert "quarantined" not in line


async def test_a_daily_limit_holds_across_runtimes_under_concurrent_load(
    kind: str, tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    cfg = msgspec.structs.replace(cfg, quota=QuotaConfig(daily_requests=12))
    async with runtimes(kind, cfg, 3) as group:

        async def one(rt: Runtime) -> str:
            try:
                await rt.chat(MESSAGES, model="llama3")
            except QuotaExceeded:
                return "refused"
            return "answered"

        outcomes = await asyncio.gather(*(one(rt) for rt in group for _ in range(15)))
        assert outcomes.count("answered") == 12
        assert outcomes.count("refused") == 45 - 12
        assert a.requests_for(route="/api/chat") == 12
        for rt in group:
            await rt.flush_events()
        for rt in group:  # every ledger folded every runtime's reservations
            await eventually(lambda rt=rt: rt.usage().limits[0].used == 12)  # type: ignore[misc]


async def test_a_starting_runtime_leaves_a_running_peers_reservations_alone(
    tmp_path: Path, servers: Servers
) -> None:
    """A reservation of a request still running elsewhere is no orphan: the peer's own
    settle charges what it used, not the estimate."""
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    cfg = msgspec.structs.replace(cfg, quota=QuotaConfig(daily_tokens=1_000_000))
    a.set_faults([Fault(kind="latency", delay=3.0)], model="llama3")  # chats only
    async with Runtime(cfg) as running:
        slow = asyncio.create_task(running.chat(MESSAGES, model="llama3"))
        await eventually(lambda: running.usage().in_flight == 1)
        async with Runtime(cfg) as late:
            assert late.usage().in_flight == 1  # held, not settled as an orphan
            reply = await slow
            used = reply.usage.prompt_tokens + reply.usage.completion_tokens
            await running.flush_events()
            await eventually(lambda: late.usage().total.tokens == used)
        assert running.usage().total.tokens == used
