"""Panic probes through the Runtime: every deployment out, the backend fixed.

Both deployments of ``llama3`` are quarantined for 300 s (the default length) by 500s,
then the backends are fixed. With ``health.panic_probe`` (the default) the next request
does not fail without trying: it probes the deployment whose quarantine ends soonest,
is answered, and that deployment recovers. With the setting off it fails with
``NoCandidates`` as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import ManualClock
from events import DeploymentPanicProbe, DeploymentProbingStarted, DeploymentRecovered
from runtime import AllCandidatesFailed, HealthConfig, NoCandidates, Runtime, RuntimeConfig
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events
from tests.runtime.inspect._requests import explain_text, timeline_json

Servers = tuple[ChaosServer, ChaosServer]
WALL = 1_700_000_000.0
LOG = "events.sqlite3"


def health(panic: bool) -> HealthConfig:
    return HealthConfig(
        check_interval_seconds=0, failure_threshold=1, panic_probe=panic, liveness_check_seconds=0
    )


def two_endpoints(tmp_path: Path, servers: Servers, panic: bool) -> RuntimeConfig:
    a, b = servers
    return config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=health(panic))


async def quarantine_both(rt: Runtime, servers: Servers, clock: ManualClock) -> None:
    """One request fails on a, then on b: both quarantined for 300 s; then both fixed."""
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    b.set_fault(Fault(kind="http_error", status=500), model="llama3")
    with pytest.raises(AllCandidatesFailed):
        await rt.chat(MESSAGES, model="llama3")
    states = rt.health()
    assert states.deployment("llama3@a").status == "quarantined"
    assert states.deployment("llama3@b").status == "quarantined"
    a.clear_faults()
    b.clear_faults()
    await clock.advance(5.0)  # well inside both quarantines


async def test_every_deployment_out_the_next_request_probes_the_one_back_soonest(
    tmp_path: Path, servers: Servers
) -> None:
    clock = ManualClock(wall=WALL)
    async with Runtime.from_config(two_endpoints(tmp_path, servers, True), clock=clock) as rt:
        await quarantine_both(rt, servers, clock)
        until = {d: rt.health().deployment(d).quarantined_until for d in ("llama3@a", "llama3@b")}
        reply = await rt.chat(MESSAGES, model="llama3")
        after = rt.health()
    await clock.aclose()

    soonest = min(until, key=lambda d: until[d] or 0.0)
    assert reply.deployment == soonest
    assert after.deployment(soonest).status == "healthy"  # the probe succeeded: it recovered
    path = tmp_path / LOG
    panics = [e.event for e in await read_events(path, DeploymentPanicProbe)]
    assert len(panics) == 1 and isinstance(panics[0], DeploymentPanicProbe)
    assert panics[0].deployment == soonest and panics[0].status == "quarantined"
    assert panics[0].out_until == pytest.approx(until[soonest] or 0.0)
    assert set(panics[0].candidates) == {"llama3@a", "llama3@b"}
    kinds = [
        type(e.event).__name__
        for e in await read_events(path, DeploymentProbingStarted, DeploymentRecovered)
        if e.stream == f"health/{soonest}"
    ]
    assert kinds[-2:] == ["DeploymentProbingStarted", "DeploymentRecovered"]
    explained = await explain_text(path, reply.request_id)
    assert f"health: {soonest} panic probe: all 2 candidate(s) were out of rotation" in explained
    assert f"health: {soonest} probing early (panic probe)" in explained
    timeline = await timeline_json(path, soonest)
    statuses = [c["status"] for c in timeline["deployments"][0]["changes"]]
    assert statuses[-3:] == ["panic_probe", "probing", "healthy"]


async def test_with_panic_probes_off_the_request_fails_without_trying(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    clock = ManualClock(wall=WALL)
    async with Runtime.from_config(two_endpoints(tmp_path, servers, False), clock=clock) as rt:
        await quarantine_both(rt, servers, clock)
        asked = a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat")
        with pytest.raises(NoCandidates) as failed:
            await rt.chat(MESSAGES, model="llama3")
        tried = a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat")
    await clock.aclose()
    assert tried == asked  # not tried
    assert "quarantined" in str(failed.value)
    assert not await read_events(tmp_path / LOG, DeploymentPanicProbe)


async def test_a_failed_panic_probe_re_quarantines_and_the_request_fails(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    clock = ManualClock(wall=WALL)
    async with Runtime.from_config(two_endpoints(tmp_path, servers, True), clock=clock) as rt:
        await quarantine_both(rt, servers, clock)
        a.set_fault(Fault(kind="http_error", status=500), model="llama3")
        b.set_fault(Fault(kind="http_error", status=500), model="llama3")
        asked = a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat")
        with pytest.raises(AllCandidatesFailed):  # the backend is still broken
            await rt.chat(MESSAGES, model="llama3")
        tried = a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat")
        states = rt.health()
    await clock.aclose()
    assert tried == asked + 1  # exactly one probe, then no deployment was left
    for did in ("llama3@a", "llama3@b"):
        state = states.deployment(did)
        assert state.status == "quarantined"
        # a failed panic probe does not grow the quarantine (300 s, not 600 s)
        assert (state.quarantined_until or 0.0) - (state.last_change or 0.0) == 300.0
