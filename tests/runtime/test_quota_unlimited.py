"""With no quota limit, requests append no quota events and usage is folded from the
requests' own events: the live ``usage()`` equals the one replayed after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from actors.quota import LedgerState, QuotaLimits, usage_summary
from events import QuotaEvent, QuotaPeriodStarted, QuotaReserved, QuotaSettled
from runtime import QuotaConfig, QuotaUsage, Runtime, RuntimeConfig
from runtime._build import QUOTA_PROJECTION
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
RESET = 1_700_006_400.0
"""2023-11-15 00:00 UTC: the first reset (the default hour, UTC) after the clock
fixture's wall time."""


def unlimited(
    tmp_path: Path, server: ChaosServer, quota: QuotaConfig | None = None
) -> RuntimeConfig:
    """llama3 and qwen on one backend; role ``gen`` = llama3, then qwen; no quota limit."""
    base = config(
        tmp_path, {"a": server}, {"llama3": ("a",), "qwen": ("a",)}, roles={"gen": ("llama3",)}
    )
    return msgspec.structs.replace(base, quota=quota or QuotaConfig())


async def replayed(path: Path) -> LedgerState:
    """The ledger folded from every event of the log, from its first (no snapshot)."""
    state = QUOTA_PROJECTION.initial
    for stored in await read_events(path):
        if QUOTA_PROJECTION.accepts(stored):
            state = QUOTA_PROJECTION.evolve(state, stored.event)
    return state


async def quota_events(path: Path) -> list[QuotaEvent]:
    return [e.event for e in await read_events(path) if isinstance(e.event, QuotaEvent)]


async def test_fifty_requests_append_no_quota_event_and_replay_to_the_live_usage(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = unlimited(tmp_path, a)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for n in range(40):
            await rt.chat(MESSAGES, role="gen") if n % 2 else await rt.chat(MESSAGES, model="qwen")
        for _ in range(10):
            async for _chunk in rt.stream(MESSAGES, model="llama3"):
                pass
        live = rt.usage()
    path = tmp_path / "events.sqlite3"
    assert [type(e) for e in await quota_events(path)] == [QuotaPeriodStarted]
    assert live.total.requests == 50 and live.total.tokens > 0
    assert live.roles == {"gen": QuotaUsage(requests=20, tokens=live.roles["gen"].tokens)}
    assert live.models["qwen"].requests == 20 and live.models["llama3"].requests == 30
    assert live.endpoints == {"a": live.total}
    ledger = await replayed(path)
    assert usage_summary(ledger, QuotaLimits(), clock.time()) == live
    async with Runtime.from_config(cfg, clock=clock) as again:
        assert again.usage() == live


async def test_usage_is_counted_once_across_restarts_that_set_and_drop_a_limit(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    path = tmp_path / "events.sqlite3"
    limited = QuotaConfig(daily_requests=100)
    counts = []
    for quota, requests in ((None, 3), (limited, 4), (None, 2), (limited, 1)):
        async with Runtime.from_config(unlimited(tmp_path, a, quota), clock=clock) as rt:
            for _ in range(requests):
                await rt.chat(MESSAGES, model="llama3")
            counts.append(rt.usage().total.requests)
    assert counts == [3, 7, 9, 10]
    reserved = [e for e in await quota_events(path) if isinstance(e, QuotaReserved)]
    settled = [e for e in await quota_events(path) if isinstance(e, QuotaSettled)]
    assert len(reserved) == len(settled) == 5  # only the requests made under the limit
    ledger = await replayed(path)
    assert ledger.settled["global"].requests == 10 and ledger.held == {} and ledger.open == {}


@pytest.mark.parametrize("quota", [None, QuotaConfig(daily_requests=1_000)], ids=["none", "limit"])
async def test_requests_racing_at_the_reset_append_one_period_start(
    tmp_path: Path, servers: Servers, clock: ManualClock, quota: QuotaConfig | None
) -> None:
    a, _ = servers
    async with Runtime.from_config(unlimited(tmp_path, a, quota), clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        clock.set_wall_time(RESET + 1.0)
        await asyncio.gather(*(rt.chat(MESSAGES, model="llama3") for _ in range(20)))
        usage = rt.usage()
    starts = [e for e in await quota_events(tmp_path / "events.sqlite3")]
    periods = [e.period for e in starts if isinstance(e, QuotaPeriodStarted)]
    assert periods == ["2023-11-14", "2023-11-15"]
    assert usage.period == "2023-11-15" and usage.total.requests == 20


async def test_two_runtimes_on_one_file_count_each_others_requests(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    cfg = unlimited(tmp_path, a)
    async with Runtime(cfg) as first, Runtime(cfg) as second:
        for _ in range(6):
            await first.chat(MESSAGES, model="llama3")
        await eventually(lambda: second.usage().total.requests == 6)
        for _ in range(4):
            await second.chat(MESSAGES, role="gen")
        await eventually(lambda: first.usage().total.requests == 10)
        one, two = first.usage(), second.usage()
        assert (one.total, one.models, one.roles, one.endpoints) == (
            two.total, two.models, two.roles, two.endpoints,
        )  # fmt: skip
        assert two.roles == {"gen": QuotaUsage(requests=4, tokens=two.roles["gen"].tokens)}
    path = tmp_path / "events.sqlite3"
    quota = await quota_events(path)
    assert [type(e) for e in quota] == [QuotaPeriodStarted]  # the second folded the first's
    async with Runtime(cfg) as third:
        assert third.usage().total == one.total
    assert (await replayed(path)).settled["global"] == one.total
