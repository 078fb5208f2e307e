"""Restart by replay: a handler that raises in the middle of concurrent traffic.

A crash is injected into one actor's handler (the quota, health or an endpoint actor)
while many requests run against chaos backends. What must hold: every request ends
(none hangs), the supervisor restarts the actor, the new incarnation's state is what a
replay of the log gives, no quota is overshot or lost, and the failure and the restart
are events in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.endpoint import EndpointActor
from actors.health import GetHealth, HealthActor, evolve_all
from actors.quota import GetLedger, QuotaActor
from actors.quota import evolve as evolve_quota
from events import ActorFailed, ActorRestarted, SqliteEventLog, fold
from runtime import LLMRuntimeError, QuotaConfig, QuotaExceeded, Runtime
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events

Servers = tuple[ChaosServer, ChaosServer]
REQUESTS = 60


def crash_on(call: int, method: Callable[..., Any], *, after: bool = False) -> Callable[..., Any]:
    """``method``, except that its ``call``-th call raises (before or after its work)."""
    calls = 0

    def crashing(self: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call and not after:
            raise RuntimeError(f"injected crash in {method.__name__}")
        result = method(self, *args)
        if calls == call:
            raise RuntimeError(f"injected crash after {method.__name__}")
        return result

    return crashing


async def traffic(rt: Runtime, n: int = REQUESTS, **kwargs: str) -> list[object]:
    """``n`` concurrent chats; each ends with a reply or an error (never hangs)."""

    async def one() -> object:
        try:
            return await rt.chat(MESSAGES, **kwargs)
        except LLMRuntimeError as exc:
            return exc

    async with asyncio.timeout(120):  # a hang guard, far above what the run takes
        return await asyncio.gather(*(one() for _ in range(n)))


async def supervision_events(path: Path, actor: str) -> list[type]:
    stored = await read_events(path, ActorFailed, ActorRestarted)
    return [type(e.event) for e in stored if e.stream == f"actor/{actor}"]


@pytest.mark.parametrize("after", [False, True], ids=["before-its-work", "after-its-work"])
async def test_a_quota_crash_overshoots_nothing_and_loses_nothing(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="latency", delay=0.01))
    limit = 40
    cfg = msgspec.structs.replace(
        config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}),
        quota=QuotaConfig(daily_requests=limit),
    )
    monkeypatch.setattr(QuotaActor, "_reserve", crash_on(15, QuotaActor._reserve, after=after))
    async with Runtime.from_config(cfg) as rt:
        results = await traffic(rt, model="llama3")
        await rt.flush_events()
        live = await rt._running().refs.quota.ask(GetLedger())
        usage = rt.usage()
    replies = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(replies) == limit and len(refused) == REQUESTS - limit  # exact: none lost
    assert usage.total.requests == limit and usage.in_flight == 0 and not live.reservations
    path = tmp_path / "events.sqlite3"
    async with await SqliteEventLog.open_readonly(path) as log:
        stored = [e.event async for e in log.read(stream="quota/ledger")]
    replayed = fold(evolve_quota, type(live)(), stored)
    assert replayed.settled == live.settled and replayed.reservations == {}
    assert await supervision_events(path, "quota") == [ActorFailed, ActorRestarted]


async def test_a_health_crash_rebuilds_exactly_what_the_log_says(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=503, every_nth=2))
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    monkeypatch.setattr(HealthActor, "_report", crash_on(12, HealthActor._report))
    async with Runtime.from_config(cfg) as rt:
        results = await traffic(rt, model="llama3")
        await rt.flush_events()
        live = (await rt._running().refs.health.ask(GetHealth())).states
        statuses = {d: h.status.value for d, h in live.items()}
    path = tmp_path / "events.sqlite3"
    async with await SqliteEventLog.open_readonly(path) as log:
        replayed = fold(evolve_all, {}, [e.event async for e in log.read()])
    assert all(not isinstance(r, Exception) for r in results)  # b answered what a did not
    for did, state in live.items():
        assert msgspec.structs.replace(state, probes_in_flight=0) == replayed[did], did
    assert statuses["llama3@a"] != "unknown"  # the run moved health: not vacuous
    assert await supervision_events(path, "health") == [ActorFailed, ActorRestarted]


@pytest.mark.parametrize("where", ["_admit", "_end"])
async def test_an_endpoint_crash_leaves_no_request_hanging(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="latency", delay=0.02))
    base = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a",)})
    # Two slots for 60 concurrent requests: most of them wait for a slot when it fails.
    endpoints = (msgspec.structs.replace(base.endpoints[0], max_concurrency=2), base.endpoints[1])
    cfg = msgspec.structs.replace(base, endpoints=endpoints)
    monkeypatch.setattr(EndpointActor, where, crash_on(20, getattr(EndpointActor, where)))
    async with Runtime.from_config(cfg) as rt:
        results = await traffic(rt, model="llama3")
        stats = rt.statistics()
        after = await rt.chat(MESSAGES, model="llama3")
    assert all(not isinstance(r, Exception) for r in results)
    assert after.endpoint == "a" and stats.router.inflight == {}
    [endpoint] = [s for s in stats.actors if s.name == "endpoint:a"]
    assert endpoint.restarts == 1
    path = tmp_path / "events.sqlite3"
    assert await supervision_events(path, "endpoint:a") == [ActorFailed, ActorRestarted]


async def test_the_synchronous_readers_say_when_an_actor_is_restarting(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        monkeypatch.setattr(HealthActor, "_report", crash_on(1, HealthActor._report))
        await rt.chat(MESSAGES, model="llama3")  # the report crashes the health actor
        with contextlib.suppress(LLMRuntimeError):
            rt.health()  # restarting now (or already back: both are fine)
        async with asyncio.timeout(30):
            while True:
                try:
                    summary = rt.health()
                    break
                except LLMRuntimeError as exc:
                    assert "restarting" in str(exc) and "health" in str(exc)
                    await asyncio.sleep(0.01)
    assert summary.status("llama3") in ("healthy", "unknown")
