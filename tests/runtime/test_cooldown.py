"""Cool-downs through the Runtime: a 429 with Retry-After keeps every request away.

The chaos backend ``a`` answers 429 with ``Retry-After: 30``; ``b`` serves. The
deployment on ``a`` cools down for 30 s of the virtual clock: the next requests all go
to ``b`` (skipped as ``cool_down``), nothing fails for the caller, the 429 is not a
health failure, and the cool-down is in the log (replayed by a restart, shown by
``rt.health()`` and ``inspect state``/``timeline``) until the time has passed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actors import ManualClock
from actors.health import HealthPolicy
from events import CandidateSkipped, DeploymentCoolingDown, DeploymentQuarantined
from runtime import ConfigError, HealthConfig, Runtime, RuntimeConfig
from runtime._build import health_policy
from runtime._config_load import config_from_raw
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events
from tests.runtime.inspect._requests import (
    explain_text,
    state_json,
    state_text,
    timeline_json,
    timeline_text,
)

Servers = tuple[ChaosServer, ChaosServer]
WALL = 1_700_000_000.0
LOG = "events.sqlite3"
HEALTH = HealthConfig(check_interval_seconds=0, failure_threshold=1, liveness_check_seconds=0)
"""A threshold of 1: were a 429 a health failure, the first one would quarantine ``a``."""


def two_endpoints(tmp_path: Path, servers: Servers) -> RuntimeConfig:
    a, b = servers
    return config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=HEALTH)


async def test_a_429_cools_the_deployment_down_for_every_request(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="rate_limit", retry_after="30"), model="llama3")
    clock = ManualClock(wall=WALL)
    async with Runtime.from_config(two_endpoints(tmp_path, servers), clock=clock) as rt:
        during = [await rt.chat(MESSAGES, model="llama3") for _ in range(40)]
        cooling = rt.health().deployment("llama3@a")
        asked_a = a.requests_for(route="/api/chat")
        a.clear_faults()
        await clock.advance(29.0)
        still = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        await clock.advance(2.0)  # past the 30 s
        after = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        status = rt.health().deployment("llama3@a")
    await clock.aclose()

    assert [r.endpoint for r in during] == ["b"] * 40  # nothing failed for the caller
    assert asked_a == 1  # one 429, then a was skipped by every request
    assert cooling.status in ("unknown", "healthy") and cooling.consecutive_failures == 0
    assert cooling.cooling_until == pytest.approx(WALL + 30.0)
    assert "Retry-After 30 s" in cooling.cooling_reason
    assert still == ["b"] * 4
    assert "a" in after and status.cooling_until is None and status.status == "healthy"

    path = tmp_path / LOG
    cooled = [e.event for e in await read_events(path, DeploymentCoolingDown)]
    assert len(cooled) == 1 and isinstance(cooled[0], DeploymentCoolingDown)
    assert cooled[0].deployment == "llama3@a" and cooled[0].failure == "rate_limited"
    assert cooled[0].until == pytest.approx(WALL + 30.0)
    assert not await read_events(path, DeploymentQuarantined)  # not a health failure
    skips = [e.event for e in await read_events(path, CandidateSkipped)]
    reasons = {s.reason for s in skips if isinstance(s, CandidateSkipped)}
    assert reasons == {"cool_down"} and len(skips) >= 39
    explained = await explain_text(path, during[1].request_id)
    assert "skipped llama3@a: cooling down" in explained


async def test_a_restart_within_the_cool_down_still_skips_it(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    cfg = two_endpoints(tmp_path, servers)
    a.set_fault(Fault(kind="rate_limit", retry_after="30"), model="llama3")
    # The virtual wall clock starts at the real time: ``inspect state`` judges "cooling
    # down now" by the real clock (28 s of margin: generous on a busy machine).
    wall = time.time()
    first = ManualClock(wall=wall)
    async with Runtime.from_config(cfg, clock=first) as rt:
        for _ in range(2):
            await rt.chat(MESSAGES, model="llama3")
        before = rt.health().deployment("llama3@a")
    a.clear_faults()
    a.reset()

    second = ManualClock(wall=wall + 10.0)  # 20 s of the cool-down left
    async with Runtime.from_config(cfg, clock=second) as rt:
        replayed = rt.health().deployment("llama3@a")
        during = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
        asked_a = a.requests_for(route="/api/chat")
        text = await state_text(tmp_path / LOG)
        state = await state_json(tmp_path / LOG)
        second.set_wall_time(wall + 31.0)
        after = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
    await first.aclose()
    await second.aclose()

    assert replayed.cooling_until == before.cooling_until == pytest.approx(wall + 30.0)
    assert during == ["b"] * 4 and asked_a == 0
    assert "a" in after
    rows = {row["deployment"]: row for row in state["health"]}
    assert rows["llama3@a"]["cooling_until"] == pytest.approx(wall + 30.0)
    assert "cooling down until" in text and "llama3@a is cooling down: rate_limited" in text
    timeline = await timeline_json(tmp_path / LOG, "llama3@a")
    changes = timeline["deployments"][0]["changes"]
    assert [c["status"] for c in changes] == ["cool_down", "healthy"]
    assert changes[0]["until"] == pytest.approx(wall + 30.0)
    told = await timeline_text(tmp_path / LOG, "llama3@a")
    assert "cooling down for 30s (until " in told and "Retry-After 30 s" in told


async def test_reset_health_ends_a_cool_down(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="rate_limit", retry_after="30"), model="llama3")
    clock = ManualClock(wall=WALL)
    async with Runtime.from_config(two_endpoints(tmp_path, servers), clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        a.clear_faults()
        cooling = rt.health().deployment("llama3@a").cooling_until
        await rt.reset_health("llama3@a")
        after = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(4)]
    await clock.aclose()
    assert cooling == pytest.approx(WALL + 30.0)
    assert "a" in after


def test_the_health_settings_are_checked(tmp_path: Path) -> None:
    raw = {
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama3", "deployments": ["a"]}],
        "event_log": {"path": str(tmp_path / LOG)},
    }
    bad = {"cool_down_seconds": -1, "cool_down_max_seconds": 1e9, "liveness_check_seconds": 0.01}
    with pytest.raises(ConfigError) as refused:
        config_from_raw({**raw, "health": bad})
    assert set(refused.value.paths) == {f"health.{key}" for key in bad}
    off = {"cool_down_max_seconds": 0, "liveness_check_seconds": 0, "panic_probe": False}
    policy = health_policy(config_from_raw({**raw, "health": off}).health)
    assert (policy.cool_down_max_seconds, policy.liveness_seconds, policy.panic_probe) == (
        0.0,
        0.0,
        False,
    )
    assert health_policy(config_from_raw(raw).health) == HealthPolicy(
        failure_threshold=3, quarantine_seconds=300.0
    )  # the defaults agree: 5 s / 60 s cool-downs, panic probes on, 1 s liveness checks
