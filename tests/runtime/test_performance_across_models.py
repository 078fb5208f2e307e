"""A role with ``strategy: performance`` orders its models by score, on chaos backends.

llama3 and qwen are both served by a and b; a latency fault per model makes one slow.
Real time: the latencies measured are the backends' own delays, far apart (0.15 s or
more against a few ms) so a busy machine cannot swap them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import msgspec

from events import RequestStarted
from runtime import PerformanceConfig, RoleConfig, Runtime, RuntimeConfig
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events
from tests.runtime.inspect._requests import explain_text

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"
SETTINGS = PerformanceConfig(window=10, min_samples=5, explore_ratio=0.2)
SLOW = 0.15


def ranked_role(
    tmp_path: Path, servers: Servers, strategy: Literal["ordered", "performance"] = "performance"
) -> RuntimeConfig:
    """Role ``gen`` = [llama3, qwen] (llama3 configured first), each on a and b."""
    a, b = servers
    base = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "qwen": ("a", "b")})
    role = RoleConfig(models=("llama3", "qwen"), strategy=strategy)
    return msgspec.structs.replace(base, roles={"gen": role}, performance=SETTINGS)


def slow(servers: Servers, model: str, delay: float = SLOW) -> None:
    for server in servers:
        server.clear_faults()
        server.set_fault(Fault(kind="latency", delay=delay), model=model)


async def serve(rt: Runtime, n: int) -> Counter[str]:
    """Send ``n`` sequential requests to role ``gen``; which model answered each."""
    served: Counter[str] = Counter()
    for _ in range(n):
        served[(await rt.chat(MESSAGES, role="gen")).model] += 1
    return served


async def test_after_warm_up_the_fast_model_gets_most_requests(
    tmp_path: Path, servers: Servers
) -> None:
    slow(servers, "llama3")  # the configured primary is the slow one
    async with Runtime.from_config(ranked_role(tmp_path, servers)) as rt:
        warm_up = await serve(rt, 10)
        settled = await serve(rt, 30)
        windows = {(m.kind, m.model): m for m in rt.performance().models}
    # warm-up, both under 5 samples: the configured order (llama3), except that request
    # 5 explores (every 5th: the model sampled longest ago, qwen); from request 7 qwen
    # is the under-sampled one and goes first, request 10 explores llama3
    assert warm_up == {"llama3": 6, "qwen": 4}
    # then qwen leads; every 5th request explores llama3 (the model sampled longest ago)
    assert settled == {"qwen": 24, "llama3": 6}, settled
    assert windows[("gen", "llama3")].latency_p50_s is not None
    assert windows[("gen", "qwen")].latency_p50_s is not None
    assert windows[("gen", "qwen")].latency_p50_s < windows[("gen", "llama3")].latency_p50_s
    starts = [e.event for e in await read_events(tmp_path / LOG, RequestStarted)]
    chains = [s.chain for s in starts if isinstance(s, RequestStarted)]
    # the order decided is the order recorded: the first model of each chain answered
    assert [c[0] for c in chains[:10]] == [
        *["llama3"] * 4, "qwen", "llama3", *["qwen"] * 3, "llama3",
    ]  # fmt: skip
    assert Counter(c[0] for c in chains[10:]) == {"qwen": 24, "llama3": 6}
    last = starts[-2]  # request 39 (40 explores)
    assert isinstance(last, RequestStarted) and last.chain == ("qwen", "llama3")
    assert "qwen -> llama3" in await explain_text(tmp_path / LOG, last.request_id)


async def test_a_model_that_gets_slow_loses_its_lead(tmp_path: Path, servers: Servers) -> None:
    slow(servers, "llama3")
    async with Runtime.from_config(ranked_role(tmp_path, servers)) as rt:
        before = await serve(rt, 30)
        slow(servers, "qwen", 2 * SLOW)  # qwen turns slower than llama3 ever was
        turning = await serve(rt, 20)
        after = await serve(rt, 20)
    assert before["qwen"] >= 20, before
    assert turning["llama3"] >= 8, turning  # once qwen's median turned, llama3 leads
    assert after["llama3"] >= 15, after  # qwen only gets the explorations now
    assert after["qwen"] <= 5, after


async def test_the_configured_order_without_the_strategy(tmp_path: Path, servers: Servers) -> None:
    slow(servers, "llama3", 0.02)
    async with Runtime.from_config(ranked_role(tmp_path, servers, "ordered")) as rt:
        served = await serve(rt, 15)
    assert served == {"llama3": 15}


async def test_the_order_continues_from_the_log_after_a_restart(
    tmp_path: Path, servers: Servers
) -> None:
    slow(servers, "llama3")
    cfg = ranked_role(tmp_path, servers)
    async with Runtime.from_config(cfg) as rt:
        await serve(rt, 13)
        before = rt.performance()
    async with Runtime.from_config(cfg) as rt:
        after = rt.performance()
        # requests 14 and 15: 15 is an exploring one (every 5th), 14 is not
        fourteenth = (await rt.chat(MESSAGES, role="gen")).model
        fifteenth = (await rt.chat(MESSAGES, role="gen")).model
    assert after == before
    assert before.requests == {"gen": 13}
    assert (fourteenth, fifteenth) == ("qwen", "llama3")
