"""Tests for ``fold``/``replay`` (events/_replay.py) and ``Projector`` (events/_snapshots.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from events._base import Event, StoredEvent, UnknownEvent
from events._memory import MemoryEventLog
from events._replay import Projection, fold, fold_from, replay
from events._snapshot_seal import seal
from events._snapshots import Projector
from events._system import ActorFailed, ActorStopped
from tests._logs import capture_logs
from tests._wait import eventually
from tests.events.contract import (
    TOTALS,
    FakeClock,
    Ping,
    Pong,
    Totals,
    collect,
    evolve_totals,
    new_registry,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def log(clock: FakeClock) -> AsyncIterator[MemoryEventLog]:
    opened = await MemoryEventLog.open(registry=new_registry(), now=clock)
    yield opened
    await opened.close()


def failed(actor: str = "a") -> ActorFailed:
    return ActorFailed(actor=actor, error_type="E", message="m", failures_in_window=1)


# -- fold -------------------------------------------------------------------------------


def test_fold_accepts_events_stored_events_and_ignores_unknown() -> None:
    unknown = UnknownEvent(type="Future", schema_version=1, payload=b"{}")
    stored = StoredEvent(
        position=1,
        stream="s",
        stream_version=1,
        timestamp=0.0,
        type="contract.Ping",
        schema_version=1,
        idempotency_key=None,
        event=Ping(n=5, note="x"),
    )
    state = fold(evolve_totals, Totals(), [stored, unknown, Ping(n=2), failed()])
    assert state == Totals(pings={"x": 1, "": 1}, total=7, failures=1)


def test_fold_of_nothing_is_the_initial_state() -> None:
    assert fold(evolve_totals, Totals(total=3), []) == Totals(total=3)


def test_fold_from_continues_a_fold() -> None:
    a: list[Event] = [Ping(n=1), failed()]
    b: list[Event] = [Ping(n=2, note="y")]
    assert fold_from(fold(evolve_totals, Totals(), a), evolve_totals, b) == fold(
        evolve_totals, Totals(), a + b
    )


# -- replay -----------------------------------------------------------------------------


async def test_replay_everything_returns_state_and_last_position(
    log: MemoryEventLog,
) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2)])
    await log.append("t", [failed(), Pong(n=9)])
    state, last = await replay(log, evolve_totals, Totals())
    assert state == Totals(pings={"": 2}, total=3, failures=1)
    assert last == 4


async def test_replay_point_in_time_by_position_and_by_time(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await log.append("s", [Ping(n=1)])
    cut = clock.now
    clock.advance(5)
    await log.append("s", [Ping(n=10)])
    await log.append("s", [Ping(n=100)])
    assert await replay(log, evolve_totals, Totals(), to_position=2) == (
        Totals(pings={"": 2}, total=11),
        2,
    )
    assert await replay(log, evolve_totals, Totals(), until=cut) == (
        Totals(pings={"": 1}, total=1),
        1,
    )


async def test_replay_filters_by_stream_and_type(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), failed()])
    await log.append("t", [Ping(n=2), failed()])
    state, last = await replay(log, evolve_totals, Totals(), stream="t")
    assert (state.total, state.failures, last) == (2, 1, 4)
    state, last = await replay(log, evolve_totals, Totals(), types=["ActorFailed"])
    assert (state.total, state.failures, last) == (0, 2, 4)


async def test_replay_with_nothing_matching_reports_the_start(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1)])
    assert await replay(log, evolve_totals, Totals(), stream="none") == (Totals(), 0)
    assert await replay(log, evolve_totals, Totals(), from_position=2) == (Totals(), 1)


# -- Projector --------------------------------------------------------------------------


async def test_start_without_snapshot_is_a_full_replay(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2), failed()])
    projector = await Projector.start(log, TOTALS)
    assert projector.state == Totals(pings={"": 2}, total=3, failures=1)
    assert projector.position == 3


async def test_start_uses_the_latest_snapshot_then_the_tail(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2)])
    # A snapshot that deliberately differs from the fold proves it was used.
    await log.save_snapshot("totals", 2, seal("totals", 2, msgspec.json.encode(Totals(total=1000))))
    await log.append("s", [Ping(n=3)])
    projector = await Projector.start(log, TOTALS)
    assert projector.state == Totals(pings={"": 1}, total=1003)
    assert projector.position == 3


async def test_undecodable_snapshot_is_ignored_and_logged(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2)])
    await log.save_snapshot("totals", 2, seal("totals", 2, b'{"total": "not an int"}'))
    with capture_logs() as logs:
        projector = await Projector.start(log, TOTALS)
    assert projector.state.total == 3
    assert any(e["event"] == "projection.snapshot.undecodable" for e in logs)


async def test_apply_advances_skips_duplicates_and_filters() -> None:
    log = MemoryEventLog(registry=new_registry())
    only_s = Projection(
        name="s-only",
        initial=Totals(),
        evolve=evolve_totals,
        state_type=Totals,
        stream="s",
        types=frozenset({"contract.Ping"}),
    )
    projector = await Projector.start(log, only_s)
    await log.append("s", [Ping(n=1), failed()])
    await log.append("t", [Ping(n=100)])
    applied = [await projector.apply(stored) for stored in await collect(log.read())]
    assert applied == [True, False, False]
    assert await projector.apply((await collect(log.read()))[0]) is False  # already seen
    assert projector.state == Totals(pings={"": 1}, total=1)
    assert projector.position == 3


async def test_apply_snapshots_every_n_positions(log: MemoryEventLog) -> None:
    projector = await Projector.start(log, TOTALS, snapshot_every=3)
    await log.append("s", [Ping(n=i) for i in range(7)])
    for stored in await collect(log.read()):
        await projector.apply(stored)
    expected = fold(evolve_totals, Totals(), [Ping(n=i) for i in range(6)])
    assert await log.load_snapshot("totals") == (
        6,
        seal("totals", 6, msgspec.json.encode(expected)),
    )
    assert await log.load_snapshot("totals", at_or_before=5) is not None
    restarted = await Projector.start(log, TOTALS)
    assert restarted.state == projector.state


async def test_tampered_snapshot_is_discarded_for_the_one_before(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2), Ping(n=3)])
    await log.save_snapshot("totals", 1, seal("totals", 1, msgspec.json.encode(Totals(total=7))))
    sealed = seal("totals", 2, msgspec.json.encode(Totals(total=3)))
    await log.save_snapshot("totals", 2, sealed.replace(b"3", b"9"))  # one digit changed
    with capture_logs() as logs:
        projector = await Projector.start(log, TOTALS)
    assert projector.state.total == 7 + 2 + 3  # the sound snapshot at 1, then the tail
    assert projector.discarded_snapshots == 1
    assert [e["reason"] for e in logs if e["event"] == "projection.snapshot.discarded"] == [
        "checksum mismatch (the snapshot was changed after it was written)"
    ]


async def test_unsealed_snapshot_is_not_trusted(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1), Ping(n=2)])
    await log.save_snapshot("totals", 2, msgspec.json.encode(Totals(total=1000)))
    with capture_logs() as logs:
        projector = await Projector.start(log, TOTALS)
    assert projector.state.total == 3  # a full replay, not the unchecked 1000
    assert any(e["event"] == "projection.snapshot.discarded" for e in logs)


class BrokenStore:
    """A snapshot store whose saves always fail (a full disk)."""

    async def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        raise OSError("disk full")

    async def load_snapshot(
        self, name: str, *, at_or_before: int | None = None
    ) -> tuple[int, bytes] | None:
        return None


async def test_snapshot_failure_is_logged_and_loses_nothing(log: MemoryEventLog) -> None:
    projector = await Projector.start(log, TOTALS, snapshot_every=2, store=BrokenStore())
    await log.append("s", [Ping(n=i) for i in range(5)])
    with capture_logs() as logs:
        for stored in await collect(log.read()):
            await projector.apply(stored)
    assert projector.state.total == 10
    assert projector.snapshot_failures == 2
    assert [e["event"] for e in logs].count("projection.snapshot.failed") == 2
    with pytest.raises(OSError):
        await projector.snapshot_now()


async def test_snapshot_now_and_state_at(log: MemoryEventLog, clock: FakeClock) -> None:
    projector = await Projector.start(log, TOTALS)
    for n in range(1, 6):  # positions 1..5 at times +0, +10, ... +40
        (position,) = await log.append("s", [Ping(n=n)])
        for stored in await collect(log.read(position)):
            await projector.apply(stored)
        if n == 2:
            await projector.snapshot_now()
        clock.advance(10)
    assert await log.load_snapshot("totals") == (
        2,
        seal("totals", 2, msgspec.json.encode(Totals(pings={"": 2}, total=3))),
    )
    start = clock.now - 50
    assert (await projector.state_at(position=4)).total == 10
    assert (await projector.state_at(position=1)).total == 1
    assert (await projector.state_at(position=0)) == Totals()
    assert (await projector.state_at(at=start + 25)).total == 6
    assert (await projector.state_at(at=start + 1000)).total == 15
    assert (await projector.state_at(at=start - 1)) == Totals()
    with pytest.raises(ValueError):
        await projector.state_at()


async def test_follow_applies_live_events_until_close(log: MemoryEventLog) -> None:
    await log.append("s", [Ping(n=1)])
    projector = await Projector.start(log, TOTALS)
    task = asyncio.create_task(projector.follow())
    await log.append("s", [Ping(n=2), ActorStopped(actor="x", reason="stopped")])
    await eventually(lambda: projector.position == 3)
    assert (projector.state.total, projector.position) == (3, 3)
    await log.close()
    await asyncio.wait_for(task, 30)


async def test_start_needs_a_snapshot_store() -> None:
    class LogOnly:
        async def last_position(self) -> int:
            return 0

    with pytest.raises(TypeError):
        await Projector.start(LogOnly(), TOTALS)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await Projector.start(MemoryEventLog(), TOTALS, snapshot_every=0)
