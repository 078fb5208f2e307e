"""ManualClock and RealClock: timers, sleeps, wall-clock jumps, callback failures."""

from __future__ import annotations

import asyncio
import time

import pytest

from actors import ManualClock, RealClock
from tests._logs import capture_logs
from tests._wait import eventually


async def test_schedule_once_fires_at_its_deadline_in_deadline_order(clock: ManualClock) -> None:
    fired: list[str] = []
    clock.schedule_once(3.0, lambda: fired.append("c"))
    clock.schedule_once(1.0, lambda: fired.append("a"))
    clock.schedule_once(2.0, lambda: fired.append("b1"))
    clock.schedule_once(2.0, lambda: fired.append("b2"))  # tie: scheduling order

    await clock.advance(0.999)
    assert fired == []
    await clock.advance(0.001)
    assert fired == ["a"]
    await clock.advance(5.0)
    assert fired == ["a", "b1", "b2", "c"]
    assert clock.monotonic() == pytest.approx(106.0)


async def test_cancelled_once_timer_never_fires(clock: ManualClock) -> None:
    fired: list[int] = []
    handle = clock.schedule_once(1.0, lambda: fired.append(1))
    handle.cancel()
    handle.cancel()  # idempotent
    await clock.advance(2.0)
    assert fired == []
    assert handle.cancelled
    assert clock.pending == 0


async def test_schedule_every_repeats_until_cancelled(clock: ManualClock) -> None:
    ticks: list[float] = []
    handle = clock.schedule_every(2.0, lambda: ticks.append(clock.monotonic()))
    await clock.advance(7.0)
    assert ticks == [102.0, 104.0, 106.0]
    handle.cancel()
    await clock.advance(10.0)
    assert ticks == [102.0, 104.0, 106.0]


async def test_schedule_every_rejects_non_positive_interval(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="interval"):
        clock.schedule_every(0.0, lambda: None)


async def test_timer_scheduled_by_a_timer_fires_in_the_same_advance(clock: ManualClock) -> None:
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.monotonic())
        clock.schedule_once(1.0, lambda: fired.append(clock.monotonic()))

    clock.schedule_once(1.0, first)
    await clock.advance(3.0)
    assert fired == [101.0, 102.0]


async def test_sleepers_wake_in_deadline_order_and_run_before_advance_returns(
    clock: ManualClock,
) -> None:
    woke: list[tuple[str, float]] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((label, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(label, s)) for label, s in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.advance(0)
    assert clock.next_deadline() == 101.0
    await clock.advance(1.5)
    assert woke == [("a", 101.0)]
    await clock.advance(1.5)
    assert woke == [("a", 101.0), ("b", 102.0), ("c", 103.0)]
    await asyncio.gather(*tasks)


async def test_cancelled_sleeper_is_skipped(clock: ManualClock) -> None:
    task = asyncio.create_task(clock.sleep(1.0))
    await clock.advance(0)
    task.cancel()
    await clock.advance(2.0)
    assert task.cancelled()
    assert clock.pending == 0


async def test_zero_sleep_returns_without_advancing(clock: ManualClock) -> None:
    await clock.sleep(0)
    assert clock.monotonic() == 100.0


async def test_wall_jumps_do_not_move_monotonic_time(clock: ManualClock) -> None:
    assert clock.time() == 1_700_000_000.0
    clock.jump_wall(-3600.0)
    assert clock.time() == 1_699_996_400.0
    assert clock.monotonic() == 100.0
    clock.set_wall_time(1_800_000_000.0)
    assert clock.monotonic() == 100.0
    await clock.advance(10.0)
    assert clock.time() == 1_800_000_010.0
    assert clock.monotonic() == 110.0


async def test_advance_rejects_negative_time(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="advance"):
        await clock.advance(-1.0)


async def test_async_callback_runs_as_task_and_its_failure_is_logged(clock: ManualClock) -> None:
    ran: list[str] = []

    async def good() -> None:
        ran.append("good")

    async def bad() -> None:
        raise RuntimeError("boom")

    clock.schedule_once(1.0, good)
    clock.schedule_once(1.0, bad)
    with capture_logs() as logs:
        await clock.advance(1.0)
    assert ran == ["good"]
    failures = [e for e in logs if e["event"] == "clock.callback.failed"]
    assert len(failures) == 1
    assert "RuntimeError: boom" in failures[0]["exception"]


async def test_sync_callback_failure_is_logged_and_timers_keep_running(
    clock: ManualClock,
) -> None:
    ticks: list[int] = []

    def flaky() -> None:
        ticks.append(1)
        raise KeyError("nope")

    clock.schedule_every(1.0, flaky)
    with capture_logs() as logs:
        await clock.advance(3.0)
    assert len(ticks) == 3
    assert [e["event"] for e in logs] == ["clock.callback.failed"] * 3


async def test_real_clock_timers_sleep_and_time() -> None:
    clock = RealClock()
    fired = asyncio.Event()
    ticks: list[float] = []
    clock.schedule_once(0.005, fired.set)
    cancelled = clock.schedule_once(0.005, lambda: ticks.append(-1.0))
    cancelled.cancel()
    every = clock.schedule_every(0.005, lambda: ticks.append(clock.monotonic()))
    start = clock.monotonic()
    await clock.sleep(0.03)
    assert clock.monotonic() - start >= 0.03
    assert fired.is_set()
    # (how many ticks fit in the 30 ms depends on the machine's load: wait for two)
    await eventually(lambda: len(ticks) >= 2)
    every.cancel()
    assert all(t >= 0 for t in ticks)
    assert abs(clock.time() - time.time()) < 1.0
    await clock.aclose()
