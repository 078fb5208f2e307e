"""Quotas through the Runtime: limits, concurrency, fallback, warnings, restarts, clocks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from events import (
    CandidateSkipped,
    FallbackSwitched,
    QuotaPeriodStarted,
    QuotaReserved,
    QuotaWarningIssued,
    SqliteEventLog,
    StorageFull,
)
from runtime import (
    LLMRuntimeError,
    QuotaConfig,
    QuotaExceeded,
    QuotaLimit,
    QuotaUnavailable,
    QuotaUsage,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
RESET = 1_700_024_400.0
"""2023-11-15 06:00 Europe/Berlin: the first reset after the clock fixture's wall time."""


def with_quota(tmp_path: Path, server: ChaosServer, quota: QuotaConfig) -> RuntimeConfig:
    """llama3 and qwen on one backend; role ``gen`` = llama3, then qwen."""
    base = config(
        tmp_path,
        {"a": server},
        {"llama3": ("a",), "qwen": ("a",)},
        roles={"gen": ("llama3", "qwen")},
    )
    return msgspec.structs.replace(base, quota=quota)


def berlin(**limits: int) -> QuotaConfig:
    return QuotaConfig(timezone="Europe/Berlin", reset_hour=6, **limits)


async def test_the_request_over_the_limit_is_refused_before_reaching_the_backend(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = with_quota(tmp_path, a, berlin(daily_requests=3))
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for _ in range(3):
            await rt.chat(MESSAGES, model="llama3")
        with pytest.raises(QuotaExceeded) as refused:
            await rt.chat(MESSAGES, model="llama3")
        usage = rt.usage()
    assert a.requests_for(route="/api/chat") == 3
    error = refused.value
    assert isinstance(error, LLMRuntimeError)
    assert error.limit == "global.requests" and error.used == 3 and error.limit_value == 3
    assert error.resets_at == RESET
    assert "3 of 3 used" in str(error) and "2023-11-15 06:00 Europe/Berlin" in str(error)
    assert usage.total.requests == 3 and usage.resets_at == RESET
    assert [(s.limit, s.used, s.left) for s in usage.limits] == [("global.requests", 3, 0)]


async def test_a_token_limit_counts_real_usage_and_refuses_what_would_not_fit(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = with_quota(tmp_path, a, berlin(per_model={"llama3": QuotaLimit(daily_tokens=60)}))
    replies = []
    async with Runtime.from_config(cfg, clock=clock) as rt:
        with pytest.raises(QuotaExceeded) as refused:
            for _ in range(10):
                replies.append(await rt.chat(MESSAGES, model="llama3", max_tokens=10))
        usage = rt.usage()
    charged = sum(r.usage.prompt_tokens + r.usage.completion_tokens for r in replies if r.usage)
    assert replies and a.requests_for(route="/api/chat") == len(replies)
    assert usage.models["llama3"].tokens == charged <= 60
    error = refused.value
    # the estimate: ceil(11 prompt chars / 4) + max_tokens 10
    assert error.limit == "model:llama3.tokens" and error.requested == 13
    assert error.used == charged and charged + 13 > 60
    assert "daily token quota for model 'llama3'" in str(error)


async def test_a_burst_of_50_concurrent_requests_never_overshoots_a_limit_of_10(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    async with Runtime.from_config(
        with_quota(tmp_path, a, berlin(daily_requests=10)), clock=clock
    ) as rt:
        results = await asyncio.gather(
            *(rt.chat(MESSAGES, model="llama3") for _ in range(50)), return_exceptions=True
        )
        usage = rt.usage()
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(ok) == 10 and len(refused) == 40
    assert a.requests_for(route="/api/chat") == 10
    assert usage.total.requests == 10 and usage.in_flight == 0


async def test_fallback_goes_to_the_next_model_with_quota(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    quota = berlin(per_model={"llama3": QuotaLimit(daily_requests=2)})
    quota = msgspec.structs.replace(quota, on_exceeded="fallback")
    async with Runtime.from_config(with_quota(tmp_path, a, quota), clock=clock) as rt:
        models = [(await rt.chat(MESSAGES, role="gen")).model for _ in range(4)]
        usage = rt.usage()
    assert models == ["llama3", "llama3", "qwen", "qwen"]
    assert a.requests_for(model="llama3") == 2
    assert usage.models["llama3"].requests == 2 and usage.models["qwen"].requests == 2
    switches = [
        e.event for e in await read_events(tmp_path / "events.sqlite3", FallbackSwitched)
        if isinstance(e.event, FallbackSwitched)
    ]  # fmt: skip
    assert [(s.from_model, s.to_model, s.reason) for s in switches] == [
        ("llama3", "qwen", "quota")
    ] * 2
    assert "daily request quota for model 'llama3' exhausted" in switches[0].detail
    skips = [
        e.event for e in await read_events(tmp_path / "events.sqlite3", CandidateSkipped)
        if isinstance(e.event, CandidateSkipped)
    ]  # fmt: skip
    assert [(s.deployment, s.reason) for s in skips] == [("llama3@a", "quota")] * 2


async def test_fallback_with_every_model_out_of_quota_lists_each_refusal(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    quota = berlin(
        per_model={"llama3": QuotaLimit(daily_requests=1), "qwen": QuotaLimit(daily_requests=1)}
    )
    quota = msgspec.structs.replace(quota, on_exceeded="fallback")
    async with Runtime.from_config(with_quota(tmp_path, a, quota), clock=clock) as rt:
        await rt.chat(MESSAGES, role="gen")
        await rt.chat(MESSAGES, role="gen")
        with pytest.raises(QuotaExceeded) as refused:
            await rt.chat(MESSAGES, role="gen")
    assert a.requests_for(route="/api/chat") == 2
    assert [r.limit for r in refused.value.refusals] == [
        "model:llama3.requests",
        "model:qwen.requests",
    ]
    assert "every model of the chain is out of quota" in str(refused.value)


async def test_the_warning_fires_once_per_period_even_across_a_restart(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = with_quota(tmp_path, a, berlin(daily_requests=10))
    warnings: list[QuotaWarningIssued] = []
    async with Runtime.from_config(cfg, clock=clock) as rt:
        rt.on(QuotaWarningIssued, warnings.append)
        for _ in range(9):
            await rt.chat(MESSAGES, model="llama3")
        # callbacks run soon after the event, not inside it: wait for the one expected
        await eventually(lambda: len(warnings) == 1)
        first = list(warnings)
        before = rt.usage()
    async with Runtime.from_config(cfg, clock=clock) as rt:
        rt.on(QuotaWarningIssued, warnings.append)
        assert rt.usage() == before  # a restart mid-day continues the same counts
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        await asyncio.sleep(0.01)  # room for a second warning to (wrongly) be called
        after = rt.usage()
    assert [(w.limit, w.used, w.limit_value) for w in first] == [("global.requests", 8, 10)]
    assert warnings == first
    assert after.total.requests == 10
    logged = await read_events(tmp_path / "events.sqlite3", QuotaWarningIssued)
    assert len(logged) == 1


async def test_a_jump_past_the_reset_hour_resets_once_and_a_backward_jump_never(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    async with Runtime.from_config(
        with_quota(tmp_path, a, berlin(daily_requests=2)), clock=clock
    ) as rt:
        for _ in range(2):
            await rt.chat(MESSAGES, model="llama3")
        clock.set_wall_time(RESET - 1.0)  # one second before 06:00: still the same day
        with pytest.raises(QuotaExceeded):
            await rt.chat(MESSAGES, model="llama3")
        clock.jump_wall(2.0)  # 06:00:01: a new period
        await rt.chat(MESSAGES, model="llama3")
        fresh = rt.usage()
        clock.jump_wall(-3_600.0)  # stepped back before the reset: no second reset...
        await rt.chat(MESSAGES, model="llama3")
        clock.jump_wall(3_600.0)  # ...and back over it: not a new period either
        with pytest.raises(QuotaExceeded) as refused:
            await rt.chat(MESSAGES, model="llama3")
        final = rt.usage()
    assert fresh.period == "2023-11-15" and fresh.total.requests == 1
    assert final.period == "2023-11-15" and final.total.requests == 2
    assert refused.value.resets_at == RESET + 86_400.0
    assert a.requests_for(route="/api/chat") == 4
    starts = [
        e.event.period for e in await read_events(tmp_path / "events.sqlite3", QuotaPeriodStarted)
        if isinstance(e.event, QuotaPeriodStarted)
    ]  # fmt: skip
    assert starts == ["2023-11-14", "2023-11-15"]


async def test_a_reservation_that_cannot_be_recorded_refuses_the_request(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = with_quota(tmp_path, a, berlin(daily_requests=100))
    # serve: the log's own failure policy would refuse first (tests/runtime/test_log_failure.py);
    # this is the quota's fail-closed path, which holds under either policy.
    section = msgspec.structs.replace(cfg.event_log, on_log_failure="serve")
    cfg = msgspec.structs.replace(cfg, event_log=section)
    log = await SqliteEventLog.open(tmp_path / "events.sqlite3")
    async with log, Runtime.from_config(cfg, clock=clock, event_log=log) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        before = rt.usage()
        await fill(log)
        with pytest.raises(QuotaUnavailable) as refused:
            await rt.chat(MESSAGES, model="llama3")
        after = rt.usage()
        stats = rt.statistics().quota
    assert a.requests_for(route="/api/chat") == 1  # nothing reached the backend for it
    assert "could not be recorded" in str(refused.value) and "fail closed" in str(refused.value)
    assert after == before  # the reservation was undone in memory
    assert stats.unrecorded >= 1 and stats.outstanding == 0
    reserved = await read_events(tmp_path / "events.sqlite3", QuotaReserved)
    assert len(reserved) == 1


async def fill(log: SqliteEventLog) -> None:
    """Cap the file at its size and fill what is left: every later append fails."""
    await log.set_max_page_count(1)  # SQLite keeps the cap at the current size
    for size in (4_000, 400, 40, 1):
        try:
            while True:
                await log.append("filler", [QuotaPeriodStarted(at=0.0, period="x" * size)])
        except StorageFull:
            continue


async def test_a_stream_is_settled_at_its_end_and_counted(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    async with Runtime.from_config(
        with_quota(tmp_path, a, berlin(daily_tokens=1_000)), clock=clock
    ) as rt:
        chunks = [c async for c in rt.stream(MESSAGES, model="llama3", max_tokens=10)]
        usage = rt.usage()
    final = chunks[-1].usage
    assert chunks[-1].done and final is not None
    assert usage.in_flight == 0 and usage.total.requests == 1
    assert usage.total.tokens == final.prompt_tokens + final.completion_tokens
    assert usage.endpoints["a"] == usage.total


async def test_embeddings_count_their_prompt_tokens_against_the_quota(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = with_quota(tmp_path, a, berlin(per_model={"llama3": QuotaLimit(daily_tokens=10_000)}))
    async with Runtime.from_config(cfg, clock=clock) as rt:
        result = await rt.embed(["one text", "and another one"], model="llama3")
        usage = rt.usage()
    assert result.usage is not None and result.usage.completion_tokens == 0
    assert usage.models["llama3"] == QuotaUsage(requests=1, tokens=result.usage.prompt_tokens)
