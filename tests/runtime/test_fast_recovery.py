"""Fast recovery: a backend that comes back is back in rotation within seconds.

Under load (8 concurrent callers), backend ``a`` stops listening: its deployment is
quarantined for a connection failure (300 s, the default) while ``b`` serves everyone.
Liveness checks (TCP connect, then the model list; never a completion) run 1 s, 2 s,
4 s... into the quarantine on the virtual clock. ``a`` starts listening again on the same
port; the next check, at most 2 s of virtual time later, finds it alive, the deployment
goes probing, and the next request that tries it brings it back to healthy. No caller
sees a failure at any point.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors import ManualClock
from events import DeploymentProbingStarted, DeploymentQuarantined, DeploymentRecovered
from runtime import HealthConfig, Reply, Runtime
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
WALL = 1_700_000_000.0
LOG = "events.sqlite3"
CALLERS = 8
PER_CALLER = 400
"""A bound on each caller's loop (it normally stops long before, when told)."""


async def test_a_restarted_backend_is_back_within_two_seconds_under_load(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    health = HealthConfig(check_interval_seconds=0)  # defaults: 300 s quarantine, 1 s checks
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=health)
    clock = ManualClock(wall=WALL)
    replies: list[Reply] = []
    stop = asyncio.Event()
    async with Runtime.from_config(cfg, clock=clock) as rt:

        async def caller() -> None:
            for _ in range(PER_CALLER):
                if stop.is_set():
                    return
                replies.append(await rt.chat(MESSAGES, model="llama3"))

        callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
        await eventually(lambda: len(replies) >= 20)
        await a.stop_listening()
        await eventually(lambda: rt.health().deployment("llama3@a").status == "quarantined")
        quarantined = rt.health().deployment("llama3@a")
        await clock.advance(1.0)  # the first liveness check: refused, next one 2 s later
        await eventually(lambda: rt.statistics().health.liveness_checks == 1)
        await eventually(lambda: len(replies) >= 60)
        still_out = rt.health().deployment("llama3@a").status

        await a.resume_listening()  # the same port again
        served_before = a.requests_for(route="/api/chat")
        await clock.advance(2.0)  # the second check: alive
        await eventually(lambda: rt.health().deployment("llama3@a").status == "healthy")
        await eventually(lambda: a.requests_for(route="/api/chat") > served_before)
        stop.set()
        await asyncio.gather(*callers)  # raises if any caller saw a failure
        back = rt.health().deployment("llama3@a")

    await clock.aclose()
    assert quarantined.last_failure == "connection"
    assert quarantined.quarantined_until is not None
    assert quarantined.quarantined_until - (quarantined.last_change or 0.0) == 300.0
    assert still_out == "quarantined"  # a failed check keeps it out
    assert back.status == "healthy"
    assert all(r.endpoint in ("a", "b") for r in replies)
    changes = [
        e.event
        for e in await read_events(
            tmp_path / LOG, DeploymentQuarantined, DeploymentProbingStarted, DeploymentRecovered
        )
        if e.stream == "health/llama3@a"
    ]
    quarantine, probing, recovered = changes[-3:]
    assert isinstance(quarantine, DeploymentQuarantined)
    assert isinstance(probing, DeploymentProbingStarted) and isinstance(
        recovered, DeploymentRecovered
    )
    assert probing.reason == "the endpoint accepts connections again"
    assert probing.at - quarantine.at == 3.0  # 1 s + 2 s of virtual time, not 300 s
