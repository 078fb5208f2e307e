"""``Projector`` on a compacted log: a snapshot at or after the compacted prefix, or
``LogCompacted``; never a silent replay of what is left from the initial state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from events import LogCompacted
from events._memory import MemoryEventLog
from events._snapshots import Projector
from tests.events.contract import TOTALS, FakeClock, Ping, Totals, new_registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def log(clock: FakeClock) -> AsyncIterator[MemoryEventLog]:
    opened = await MemoryEventLog.open(registry=new_registry(), now=clock)
    yield opened
    await opened.close()


async def pings(log: MemoryEventLog, clock: FakeClock, *ns: int) -> None:
    for n in ns:
        clock.now += 10.0
        await log.append("s", [Ping(n=n)])


async def test_a_compacted_log_without_a_snapshot_is_refused(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2, 3)
    await log.compact(2)
    with pytest.raises(LogCompacted) as info:
        await Projector.start(log, TOTALS)
    message = str(info.value)
    assert "compacted through position 2" in message
    assert "no usable snapshot of it" in message
    assert "'totals'" in message


async def test_a_snapshot_at_the_compacted_position_restores_the_full_state(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2, 3)
    projector = await Projector.start(log, TOTALS)
    await projector.snapshot_now()  # at 3
    await pings(log, clock, 4)
    await log.compact(3)
    await pings(log, clock, 5)
    restarted = await Projector.start(log, TOTALS)
    assert restarted.state == Totals(pings={"": 5}, total=15)
    assert restarted.position == 5


async def test_a_snapshot_before_the_compacted_position_is_not_enough(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2, 3)
    projector = await Projector.start(log, TOTALS)
    await projector.snapshot_now()  # at 3, deleted by compacting through 4
    await pings(log, clock, 4, 5)
    await log.compact(4)
    with pytest.raises(LogCompacted):
        await Projector.start(log, TOTALS)


async def test_a_damaged_snapshot_after_compaction_is_refused_not_replayed(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2)
    await log.save_snapshot(TOTALS.name, 2, b"not a sealed snapshot")
    await log.compact(2)
    with pytest.raises(LogCompacted):
        await Projector.start(log, TOTALS)


async def test_state_at_before_the_compacted_prefix_is_refused(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2, 3)
    first_time = clock.now - 20.0  # the first ping's time
    projector = await Projector.start(log, TOTALS)
    await projector.snapshot_now()
    clock.now += 10.0
    await log.compact(3)  # compacted_at = the clock now
    await pings(log, clock, 4)
    with pytest.raises(LogCompacted) as info:
        await projector.state_at(position=2)
    assert "ask for a point at or after position 3" in str(info.value)
    with pytest.raises(LogCompacted):
        await projector.state_at(at=first_time)
    assert await projector.state_at(position=3) == Totals(pings={"": 3}, total=6)
    assert await projector.state_at(position=4) == Totals(pings={"": 4}, total=10)
    assert await projector.state_at(at=clock.now) == Totals(pings={"": 4}, total=10)


async def test_a_log_never_compacted_still_replays_from_the_beginning(
    log: MemoryEventLog, clock: FakeClock
) -> None:
    await pings(log, clock, 1, 2)
    projector = await Projector.start(log, TOTALS)
    assert projector.state == Totals(pings={"": 2}, total=3)
    assert await projector.state_at(position=1) == Totals(pings={"": 1}, total=1)
    assert await projector.state_at(at=0.0) == Totals()
