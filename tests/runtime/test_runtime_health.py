"""Health through the Runtime: quarantine under load, recovery, restart, reset, checks."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from actors import ManualClock
from actors.health import DeploymentHealth, GetHealth, evolve_all
from actors.router import GetRouterState, RouterState, evolve_router
from events import (
    AttemptFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    HealthReset,
    SqliteEventLog,
    replay,
)
from runtime import HealthConfig, InvalidRequest, LLMRuntimeError, Reply, Runtime, RuntimeConfig
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
WALL = 1_700_000_000.0
QUARANTINE = HealthConfig(
    check_interval_seconds=0, failure_threshold=3, quarantine_seconds=30.0, min_calls=10
)


def two_endpoints(tmp_path: Path, servers: Servers, health: HealthConfig) -> RuntimeConfig:
    a, b = servers
    return config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=health)


async def test_killed_endpoint_mid_load_fails_no_request_and_recovers(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    replies: list[Reply] = []
    async with Runtime.from_config(two_endpoints(tmp_path, servers, QUARANTINE), clock=clock) as rt:

        async def worker() -> None:
            for _ in range(10):
                replies.append(await rt.chat(MESSAGES, model="llama3"))

        workers = [asyncio.create_task(worker()) for _ in range(20)]  # 200 requests
        await eventually(lambda: len(replies) >= 50)
        await a.stop_listening()
        # Replies a sent before the kill may still be read afterwards, but at most one per
        # worker was in flight: everything after those was served by b.
        stopped_at = len(replies) + 20
        served_by_a = a.requests_for(route="/api/chat")
        await asyncio.gather(*workers)  # raises if any request failed
        quarantined = rt.health().deployment("llama3@a")
        after_stop = [r.endpoint for r in replies[stopped_at:]]

        await a.resume_listening()
        await clock.advance(31.0)  # past the quarantine deadline: probing may start
        recovered = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        health = rt.health().deployment("llama3@a")

    assert len(replies) == 200  # zero failed user requests
    assert quarantined.status == "quarantined" and quarantined.last_failure == "connection"
    assert after_stop and after_stop.count("a") == 0  # a dead endpoint never answers
    assert sorted(recovered) == ["a", "a", "b", "b"] and health.status == "healthy"
    assert a.requests_for(route="/api/chat") >= served_by_a + 2
    failed_on_a = [
        e for e in await read_events(tmp_path / "events.sqlite3", AttemptFailed)
        if isinstance(e.event, AttemptFailed) and e.event.deployment == "llama3@a"
    ]  # fmt: skip
    assert 3 <= len(failed_on_a) <= 3 + 20  # the threshold, plus what was in flight
    kinds = [
        type(e.event)
        for e in await read_events(
            tmp_path / "events.sqlite3",
            DeploymentQuarantined,
            DeploymentProbingStarted,
            DeploymentRecovered,
        )
        if e.stream == "health/llama3@a"
    ]
    assert kinds[-3:] == [DeploymentQuarantined, DeploymentProbingStarted, DeploymentRecovered]


async def test_quarantine_survives_a_restart(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = two_endpoints(tmp_path, servers, QUARANTINE)
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    first = ManualClock(wall=WALL)
    async with Runtime.from_config(cfg, clock=first) as rt:
        for _ in range(6):  # every other request starts on a: 3 failures quarantine it
            await rt.chat(MESSAGES, model="llama3")
        before = rt.health()
    assert before.deployment("llama3@a").status == "quarantined"
    until = before.deployment("llama3@a").quarantined_until
    assert until == pytest.approx(WALL + 30.0)

    a.clear_faults()
    a.reset()
    second = ManualClock(wall=WALL + 10.0)  # restarted 10 s later: 20 s of quarantine left
    async with Runtime.from_config(cfg, clock=second) as rt:
        assert rt.health() == before  # replayed == what the first process had live
        during = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        second.set_wall_time(WALL + 31.0)
        after = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        status = rt.health().status("llama3")
    assert during == ["b"] * 4 and a.requests_for(route="/api/chat") == 2
    assert "a" in after and status == "healthy"
    await first.aclose()
    await second.aclose()


async def test_replayed_state_equals_live_state(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=503, every_nth=2), model="llama3")
    b.set_fault(Fault(kind="rate_limit", retry_after="0", every_nth=3), model="llama3")
    cfg = two_endpoints(tmp_path, servers, QUARANTINE)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for _ in range(30):
            with contextlib.suppress(LLMRuntimeError):  # b's retry budget runs dry
                await rt.chat(MESSAGES, model="llama3")
            await clock.advance(3.0)
        await rt.flush_events()
        parts = rt._running()  # white box: the actors that own the state, by message
        live_health = (await parts.refs.health.ask(GetHealth())).states
        live_cursors = await parts.refs.router.ask(GetRouterState())
        log = parts.log
        replayed_health, _ = await replay(log, evolve_all, {})
        replayed_cursors, _ = await replay(log, evolve_router, RouterState())
    assert replayed_health == live_health
    assert replayed_cursors == live_cursors
    assert {d: h.status for d, h in live_health.items()} != {
        d: DeploymentHealth(deployment=d).status for d in live_health
    }  # the run did move health, so the equality is not vacuous


async def test_reset_health_by_model_deployment_or_endpoint(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=500, count=3), model="llama3")
    async with Runtime.from_config(two_endpoints(tmp_path, servers, QUARANTINE), clock=clock) as rt:
        for _ in range(6):
            await rt.chat(MESSAGES, model="llama3")
        assert rt.health().deployment("llama3@a").status == "quarantined"
        assert await rt.reset_health("llama3") == ("llama3@a", "llama3@b")
        status = rt.health().deployment("llama3@a").status
        assert await rt.reset_health("llama3@b") == ("llama3@b",)
        assert await rt.reset_health("a") == ("llama3@a",)
        with pytest.raises(InvalidRequest, match="not a model, deployment or endpoint"):
            await rt.reset_health("nothing")
        replies = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(2)]
    assert status == "unknown" and sorted(replies) == ["a", "b"]
    resets = await read_events(tmp_path / "events.sqlite3", HealthReset)
    assert [e.stream for e in resets] == [
        "health/llama3@a",
        "health/llama3@b",
        "health/llama3@b",
        "health/llama3@a",
    ]


async def test_background_checks_skip_deployments_traffic_proves_healthy(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    health = HealthConfig(check_interval_seconds=10.0, check_generation=True)
    async with Runtime.from_config(two_endpoints(tmp_path, servers, health), clock=clock) as rt:
        await clock.advance(10.0)  # first round: both unknown, both checked
        checked = [s.requests_for(route="/api/chat") for s in servers]
        statuses = [d.status for d in rt.health().models["llama3"].deployments]
        await rt.chat(MESSAGES, model="llama3")  # a is proven by traffic
        await clock.advance(10.0)
        second = [s.requests_for(route="/api/chat") for s in servers]
    assert checked == [1, 1] and statuses == ["healthy", "healthy"]
    assert second == [2, 2]  # a: the real request only; b: one more check


async def test_background_check_probes_a_quarantined_deployment_back(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    health = HealthConfig(check_interval_seconds=10.0, failure_threshold=3, quarantine_seconds=25.0)
    async with Runtime.from_config(two_endpoints(tmp_path, servers, health), clock=clock) as rt:
        await a.stop_listening()
        for _ in range(6):
            await rt.chat(MESSAGES, model="llama3")
        assert rt.health().deployment("llama3@a").status == "quarantined"
        await clock.advance(20.0)  # checks skip it: the quarantine runs its course
        still = rt.health().deployment("llama3@a").status
        await a.resume_listening()
        await clock.advance(10.0)  # deadline passed: the check is a probe, and it passes
        status = rt.health().deployment("llama3@a").status
    assert still == "quarantined" and status == "healthy"


async def test_snapshots_make_the_next_start_replay_only_the_tail(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = two_endpoints(tmp_path, servers, QUARANTINE)
    async with Runtime.from_config(cfg) as rt:
        for _ in range(5):
            await rt.chat(MESSAGES, model="llama3")
        cursors = await rt._running().refs.router.ask(GetRouterState())
    async with await SqliteEventLog.open_readonly(tmp_path / "events.sqlite3") as log:
        snapshot = await log.load_snapshot("runtime.router.v1")
        started = [e.position async for e in log.read(types={"RequestStarted"})]
    assert snapshot is not None and snapshot[0] >= max(started)  # the tail has none
    async with Runtime.from_config(cfg) as rt:
        assert await rt._running().refs.router.ask(GetRouterState()) == cursors
        assert (await rt.chat(MESSAGES, model="llama3")).endpoint == "b"  # a, b, a, b, a, b
