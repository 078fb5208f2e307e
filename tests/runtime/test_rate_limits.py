"""Per-deployment rate limits (rpm/tpm) through the Runtime: moving on to another
deployment, refusing or waiting when every one is over, and keeping the buckets across
a restart (replay)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from events import CandidateSkipped, QuotaExceededRecorded, QuotaReserved
from runtime import (
    ConfigError,
    QuotaConfig,
    QuotaExceeded,
    QuotaLimit,
    RateLimitConfig,
    RateLimited,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
T0 = 1_700_000_000.0
"""The clock fixture's wall time."""


def with_rates(tmp_path: Path, servers: Servers, quota: QuotaConfig) -> RuntimeConfig:
    """llama3 on ``a`` and ``b`` (round robin), with ``quota``."""
    a, b = servers
    base = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    return msgspec.structs.replace(base, quota=quota)


def both_one_per_minute(wait_seconds: float = 0.0) -> QuotaConfig:
    return QuotaConfig(per_model={"llama3": QuotaLimit(rpm=1)}, wait_seconds=wait_seconds)


def served(servers: Servers) -> tuple[int, int]:
    a, b = servers
    return a.requests_for(route="/api/chat"), b.requests_for(route="/api/chat")


async def test_a_deployment_over_its_rpm_passes_the_request_to_the_next_one(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    quota = QuotaConfig(per_deployment={"llama3@a": RateLimitConfig(rpm=2)})
    cfg = with_rates(tmp_path, servers, quota)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for _ in range(6):  # round robin: a, b, a, b, then a is over its 2 per minute
            await rt.chat(MESSAGES, model="llama3")
        assert served(servers) == (2, 4)
        await clock.advance(30.0)  # half a minute refills one request of a's bucket
        for _ in range(2):
            await rt.chat(MESSAGES, model="llama3")
    assert served(servers) == (3, 5)
    skips = [
        e.event
        for e in await read_events(Path(cfg.event_log.path), CandidateSkipped)
        if isinstance(e.event, CandidateSkipped)
    ]
    assert [(s.deployment, s.reason) for s in skips] == [("llama3@a", "rate_limited")]
    assert "deployment:llama3@a.rpm" in skips[0].detail


async def test_every_deployment_over_its_rate_refuses_naming_the_limit_and_when_it_frees(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    cfg = with_rates(tmp_path, servers, both_one_per_minute())
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="llama3")
        with pytest.raises(RateLimited) as refused:
            await rt.chat(MESSAGES, model="llama3")
    assert served(servers) == (1, 1)  # the refused request reached no backend
    error = refused.value
    assert isinstance(error, QuotaExceeded)
    assert error.limit in ("deployment:llama3@a.rpm", "deployment:llama3@b.rpm")
    assert error.limit_value == 1 and error.resets_at == pytest.approx(T0 + 60)
    assert error.retry_after == pytest.approx(60)
    assert {r.deployment for r in error.refusals if isinstance(r, RateLimited)} == {
        "llama3@a",
        "llama3@b",
    }
    text = str(error)
    assert "every deployment is over its rate limit" in text
    assert "1 requests per minute" in text and "frees in 60.0 s" in text
    records = [
        e.event
        for e in await read_events(Path(cfg.event_log.path), QuotaExceededRecorded)
        if isinstance(e.event, QuotaExceededRecorded)
    ]
    assert sorted(r.limit for r in records) == [
        "deployment:llama3@a.rpm",
        "deployment:llama3@b.rpm",
    ]


async def test_with_wait_seconds_the_request_waits_for_the_soonest_refill(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    cfg = with_rates(tmp_path, servers, both_one_per_minute(wait_seconds=60.0))
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await clock.advance(10.0)  # b's bucket is emptied 10 s later: a frees first
        await rt.chat(MESSAGES, model="llama3")
        sleepers = clock.pending
        waiting = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
        await eventually(lambda: clock.pending > sleepers)  # parked on the virtual clock
        assert not waiting.done() and served(servers) == (1, 1)
        await clock.advance(50.0)  # a minute after a's request: a has room again
        reply = await waiting
    assert reply.deployment == "llama3@a" and served(servers) == (2, 1)


async def test_a_wait_longer_than_wait_seconds_is_not_started(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    cfg = with_rates(tmp_path, servers, both_one_per_minute(wait_seconds=5.0))
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="llama3")
        with pytest.raises(RateLimited):
            await rt.chat(MESSAGES, model="llama3")
    assert served(servers) == (1, 1)


async def test_a_restart_within_the_minute_keeps_the_buckets(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    cfg = with_rates(tmp_path, servers, both_one_per_minute())
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="llama3")
    await clock.advance(20.0)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        with pytest.raises(RateLimited) as refused:  # replay rebuilt both empty buckets
            await rt.chat(MESSAGES, model="llama3")
        assert refused.value.retry_after == pytest.approx(40)
        await clock.advance(40.0)
        await rt.chat(MESSAGES, model="llama3")
    assert served(servers) == (2, 1) or served(servers) == (1, 2)
    reserved = [
        e.event
        for e in await read_events(Path(cfg.event_log.path), QuotaReserved)
        if isinstance(e.event, QuotaReserved)
    ]
    assert [r.rpm for r in reserved] == [1, 1, 1]


async def test_a_token_rate_is_corrected_by_the_real_usage(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    # Each request estimates ceil(11/4) + 100 = 103 tokens; the chaos backend reports far
    # fewer, so settling gives most back and a third request fits in 250 tokens a minute.
    quota = QuotaConfig(per_deployment={"llama3@a": RateLimitConfig(tpm=250)})
    a, _ = servers
    cfg = msgspec.structs.replace(config(tmp_path, {"a": a}, {"llama3": ("a",)}), quota=quota)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for _ in range(3):
            reply = await rt.chat(MESSAGES, model="llama3", max_tokens=100)
            assert reply.usage is not None and reply.usage.total_tokens < 100
    assert a.requests_for(route="/api/chat") == 3


def test_rate_limits_are_checked_with_the_config(tmp_path: Path, servers: Servers) -> None:
    quota = QuotaConfig(
        per_role={},
        per_model={"llama3": QuotaLimit(rpm=0)},
        per_deployment={"llama3@zzz": RateLimitConfig(tpm=5), "nodeployment": RateLimitConfig()},
        wait_seconds=-1.0,
    )
    with pytest.raises(ConfigError) as rejected:
        Runtime.from_config(with_rates(tmp_path, servers, quota))
    text = str(rejected.value)
    assert "quota.wait_seconds" in text and "quota.per_model.llama3.rpm" in text
    assert "no model 'llama3' is served by endpoint 'zzz'" in text
    assert "'nodeployment' is not a deployment" in text
