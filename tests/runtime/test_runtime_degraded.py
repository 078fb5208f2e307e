"""``health.degraded_latency_seconds`` end to end: a slow backend is degraded, gets less
traffic, and recovers once it is fast again (two real chaos servers, the real clock)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from actors.health import GetHealth, evolve_all
from actors.router import GetRouterState, RouterState, evolve_router
from events import DeploymentDegraded, DeploymentRecovered, SqliteEventLog, replay
from runtime import HealthConfig, Runtime
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events
from tests.runtime.inspect._requests import timeline_text

# The slow server sleeps 0.8 s before it answers, far over the 0.4 s threshold; the fast
# one answers in milliseconds, far under it. Only 3 slow calls of 5 degrade, so a busy
# machine making one fast call slow does not flip anything.
SLOW = Fault(kind="latency", delay=0.8)
HEALTH = HealthConfig(check_interval_seconds=0, degraded_latency_seconds=0.4)


async def test_a_slow_backend_is_degraded_gets_less_traffic_and_recovers(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    a, b = servers
    a.set_fault(SLOW)
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=HEALTH)
    async with Runtime.from_config(cfg) as rt:
        served: list[str] = []
        while rt.health().deployment("llama3@a").status != "degraded":
            served.append((await rt.chat(MESSAGES, model="llama3")).endpoint)
            assert len(served) < 20, "a never became degraded"
        degraded = rt.health().deployment("llama3@a")
        while_degraded = Counter(
            [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(16)]
        )
        a.clear_faults()
        recovered_after = 0
        while rt.health().deployment("llama3@a").status != "healthy":
            await rt.chat(MESSAGES, model="llama3")
            recovered_after += 1
            assert recovered_after < 40, "a never recovered"
        live = rt.health()
        parts = rt._running()  # white box: the actors that own the state, by message
        live_health = (await parts.refs.health.ask(GetHealth())).states
        live_cursors = await parts.refs.router.ask(GetRouterState())

    assert served.count("a") == 3  # the third slow answer tipped the median
    assert degraded.slow_calls == 3 and degraded.reason.startswith("slow: 3 of the last 3")
    assert while_degraded == {"b": 12, "a": 4}  # one request in four, not one in two
    assert live.deployment("llama3@b").status == "healthy"
    path = tmp_path / "events.sqlite3"
    kinds = [
        type(e.event) for e in await read_events(path, DeploymentDegraded, DeploymentRecovered)
    ]
    assert kinds[-2:] == [DeploymentDegraded, DeploymentRecovered]
    async with await SqliteEventLog.open_readonly(path) as log:
        replayed_health, _ = await replay(log, evolve_all, {})
        replayed_cursors, _ = await replay(log, evolve_router, RouterState())
    assert replayed_health == live_health and replayed_cursors == live_cursors
    assert replayed_health["llama3@a"].status.value == "healthy"
    timeline = await timeline_text(path, "llama3")
    assert "degraded" in timeline and "slow: 3 of the last 3" in timeline
