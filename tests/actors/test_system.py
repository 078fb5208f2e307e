"""ActorSystem: names, stop/shutdown draining, statistics, supervision on a virtual clock."""

from __future__ import annotations

import asyncio
import random
from typing import cast

import pytest

from actors import (
    ActorDeadError,
    ActorNotFound,
    ActorState,
    ActorStatistics,
    ActorSystem,
    DuplicateActorName,
    ManualClock,
    SupervisionPolicy,
    SystemShutDown,
    backoff_delay,
)
from events import ActorFailed, ActorRestarted, ActorStopped, EventLog
from tests._logs import capture_logs
from tests.actors._support import Echo, Fail, RecordingLog, Wait, Worker

POLICY = SupervisionPolicy(max_restarts=3, window=60.0, backoff_base=1.0, backoff_cap=3.0)


def _system(clock: ManualClock, log: RecordingLog | None = None, **kwargs: object) -> ActorSystem:
    return ActorSystem(
        clock=clock,
        log=cast(EventLog, log),
        default_supervision=POLICY,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_duplicate_and_unknown_names_are_clear_errors(system: ActorSystem) -> None:
    ref = system.spawn(Worker, name="w")
    assert system.get("w") is ref
    with pytest.raises(DuplicateActorName, match="'w' is already running"):
        system.spawn(Worker, name="w")
    with pytest.raises(ActorNotFound, match=r"no actor named 'x'.*known actors: w"):
        system.get("x")
    await system.stop(ref)
    again = system.spawn(Worker, name="w")  # a stopped actor's name may be reused
    assert await again.ask(Echo(text="new")) == Echo(text="NEW")


async def test_stop_drains_queued_messages_when_time_allows(
    system: ActorSystem, clock: ManualClock
) -> None:
    gate = asyncio.Event()
    seen: list[str] = []
    hooks: list[str] = []
    ref = system.spawn(lambda: Worker(gate=gate, seen=seen, hooks=hooks), name="w")
    await ref.tell(Wait())
    await ref.tell(Echo(text="a"))
    asking = asyncio.create_task(ref.ask(Echo(text="b")))
    await clock.advance(0)
    stopping = asyncio.create_task(system.stop(ref, timeout=1.0))
    await clock.advance(0)
    with pytest.raises(ActorDeadError):
        await ref.tell(Echo(text="too late"))
    gate.set()
    await stopping
    assert await asking == Echo(text="B")
    assert seen == ["wait", "a", "b"]
    assert hooks == ["start", "stop"]
    stats = ref.statistics()
    assert (stats.state, stats.stop_reason, stats.processed) == (ActorState.STOPPED, "stopped", 3)


async def test_shutdown_fails_asks_it_cannot_drain_in_time(clock: ManualClock) -> None:
    hooks: list[str] = []
    system = _system(clock)
    ref = system.spawn(lambda: Worker(hooks=hooks), name="stuck")
    other = system.spawn(Worker, name="idle")
    in_flight = asyncio.create_task(ref.ask(Wait(), timeout=None))
    queued = asyncio.create_task(ref.ask(Echo(text="queued"), timeout=None))
    await clock.advance(0)
    await system.shutdown(timeout=0.02)  # real time: the gate never opens
    for task in (in_flight, queued):
        with pytest.raises(ActorDeadError, match="'stuck' is stopped \\(shutdown\\)"):
            await task
    assert hooks == ["start", "stop"]
    assert {s.state for s in system.statistics()} == {ActorState.STOPPED}
    assert other.statistics().stop_reason == "shutdown"
    with pytest.raises(SystemShutDown):
        system.spawn(Worker, name="late")
    await system.shutdown()  # idempotent


async def test_statistics_count_processed_failures_and_restarts(
    system: ActorSystem, clock: ManualClock
) -> None:
    ref = system.spawn(Worker, name="w", mailbox_size=10)
    other = system.spawn(Worker, name="a")
    for text in ("1", "2"):
        await ref.ask(Echo(text=text))
    await ref.tell(Fail(why="x"))
    await ref.tell(Echo(text="3"))
    await ref.tell(Echo(text="4"))
    await clock.advance(0)
    assert ref.statistics() == ActorStatistics(
        name="w",
        mailbox_depth=2,
        mailbox_size=10,
        processed=2,
        failures=1,
        restarts=0,
        state=ActorState.RESTARTING,
    )
    await clock.advance(0.1)
    stats = ref.statistics()
    assert (stats.processed, stats.failures, stats.restarts, stats.mailbox_depth) == (4, 1, 1, 0)
    assert stats.state is ActorState.RUNNING
    assert [s.name for s in system.statistics()] == ["a", "w"]
    assert other.statistics().processed == 0


async def test_restart_happens_only_after_the_seeded_backoff(clock: ManualClock) -> None:
    system = _system(clock, rng=random.Random(42))
    expected = backoff_delay(0, 1.0, 3.0, random.Random(42).random())
    assert 0 < expected < 1.0
    ref = system.spawn(Worker, name="w")
    with pytest.raises(ValueError):
        await ref.ask(Fail(why="first"))
    await clock.advance(expected * 0.99)
    assert ref.statistics().state is ActorState.RESTARTING
    await clock.advance(expected * 0.02)
    assert ref.statistics().state is ActorState.RUNNING
    assert ref.statistics().restarts == 1
    await system.shutdown(timeout=0.05)


async def test_backoff_delays_grow_and_are_capped(clock: ManualClock) -> None:
    log = RecordingLog()
    policy = SupervisionPolicy(max_restarts=5, window=600.0, backoff_base=1.0, backoff_cap=3.0)
    system = _system(clock, log, rng=lambda: 1.0)
    ref = system.spawn(Worker, name="w", supervision=policy)
    for expected in (1.0, 2.0, 3.0, 3.0):
        await ref.tell(Fail(why="again"))
        await clock.advance(expected - 0.001)
        assert ref.statistics().state is ActorState.RESTARTING
        await clock.advance(0.001)
        assert ref.statistics().state is ActorState.RUNNING
    restarts = log.events(ActorRestarted)
    assert [(e.restart, e.delay) for e in restarts] == [  # type: ignore[attr-defined]
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
        (4, 3.0),
    ]
    await system.shutdown(timeout=0.05)


async def test_too_many_restarts_stops_the_actor_and_fails_pending_asks(
    clock: ManualClock,
) -> None:
    log = RecordingLog()
    stopped: list[ActorStatistics] = []
    policy = SupervisionPolicy(max_restarts=1, window=60.0, backoff_base=1.0, backoff_cap=1.0)
    system = _system(clock, log, rng=lambda: 1.0, on_actor_stopped=stopped.append)
    ref = system.spawn(Worker, name="w", supervision=policy)
    await ref.tell(Fail(why="one"))
    await ref.tell(Fail(why="two"))
    pending = asyncio.create_task(ref.ask(Echo(text="never"), timeout=None))
    await clock.advance(1.0)
    with pytest.raises(ActorDeadError, match="too many restarts"):
        await pending
    stats = ref.statistics()
    assert (stats.state, stats.stop_reason) == (ActorState.STOPPED, "too many restarts")
    assert (stats.failures, stats.restarts) == (2, 1)
    assert [s.stop_reason for s in stopped] == ["too many restarts"]
    assert {stream for stream, _ in log.appended} == {"actor/w"}
    assert [type(e) for _, batch in log.appended for e in batch] == [
        ActorFailed,
        ActorRestarted,
        ActorFailed,
        ActorStopped,
    ]
    assert log.events(ActorFailed)[1] == ActorFailed(
        actor="w", error_type="ValueError", message="two", failures_in_window=2
    )
    assert log.events(ActorStopped) == [ActorStopped(actor="w", reason="too many restarts")]
    with pytest.raises(ActorDeadError):
        await ref.tell(Echo(text="x"))
    await system.shutdown(timeout=0.05)


async def test_failures_outside_the_window_do_not_accumulate(clock: ManualClock) -> None:
    policy = SupervisionPolicy(max_restarts=1, window=10.0, backoff_base=1.0, backoff_cap=1.0)
    system = _system(clock, rng=lambda: 1.0)
    ref = system.spawn(Worker, name="w", supervision=policy)
    for _ in range(3):
        await ref.tell(Fail(why="rare"))
        await clock.advance(11.0)
        assert ref.statistics().state is ActorState.RUNNING
    assert ref.statistics().restarts == 3
    await system.shutdown(timeout=0.05)


async def test_a_failing_event_log_is_logged_and_supervision_goes_on(clock: ManualClock) -> None:
    system = _system(clock, RecordingLog(fail=True), rng=lambda: 1.0)
    ref = system.spawn(Worker, name="w")
    with capture_logs() as logs:
        await ref.tell(Fail(why="boom"))
        await clock.advance(1.0)
    assert ref.statistics().state is ActorState.RUNNING
    assert await ref.ask(Echo(text="still here")) == Echo(text="STILL HERE")
    names = [e["event"] for e in logs]
    assert names.count("actor.event.append_failed") == 2  # ActorFailed, ActorRestarted
    assert "actor.failed" in names and "actor.restarted" in names
    await system.shutdown(timeout=0.05)


async def test_stop_during_backoff_fails_pending_asks(clock: ManualClock) -> None:
    log = RecordingLog()
    system = _system(clock, log, rng=lambda: 1.0)
    ref = system.spawn(Worker, name="w")
    await ref.tell(Fail(why="x"))
    pending = asyncio.create_task(ref.ask(Echo(text="queued"), timeout=None))
    await clock.advance(0)
    assert ref.statistics().state is ActorState.RESTARTING
    await system.stop(ref)
    with pytest.raises(ActorDeadError, match="stopped"):
        await pending
    assert log.events(ActorStopped) == [ActorStopped(actor="w", reason="stopped")]
    assert clock.pending == 0  # the backoff sleep was cancelled
    await system.shutdown(timeout=0.05)


async def test_stop_rejects_a_ref_from_another_system(clock: ManualClock) -> None:
    async with _system(clock) as first, _system(clock) as second:
        ref = first.spawn(Worker, name="w")
        with pytest.raises(ActorNotFound):
            await second.stop(ref)


async def test_context_manager_shuts_down(clock: ManualClock) -> None:
    async with _system(clock) as system:
        ref = system.spawn(Worker, name="w")
        await ref.ask(Echo(text="x"))
    assert ref.statistics().state is ActorState.STOPPED
    assert ref.statistics().stop_reason == "shutdown"
