"""Several writers on one SQLite file: log objects in one process, and a real second process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events._codec import EventRegistry
from events._errors import ConcurrencyConflict
from events._pipeline import CommittedBatch
from events._sqlite import SqliteEventLog
from events._system import ActorFailed, ActorRestarted, ActorStopped
from tests._wait import eventually

ROOT = Path(__file__).resolve().parents[2]

# The other process: appends ``count`` events, one append each, to ``stream``.
PEER = """
import asyncio, sys
from events._codec import EventRegistry
from events._sqlite import SqliteEventLog
from events._system import ActorStopped

async def main(path, stream, count):
    async with await SqliteEventLog.open(path, registry=EventRegistry([ActorStopped])) as log:
        for n in range(count):
            await log.append(stream, [ActorStopped(actor=f"p{n}", reason="peer")])

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def registry() -> EventRegistry:
    return EventRegistry([ActorFailed, ActorRestarted, ActorStopped])


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


class Seen:
    """Every batch a log's hooks got."""

    def __init__(self, log: SqliteEventLog) -> None:
        self.batches: list[CommittedBatch] = []
        self.arrived: list[float] = []
        log.on_commit(self.add)

    def add(self, batch: CommittedBatch) -> None:
        self.batches.append(batch)
        self.arrived.append(time.monotonic())

    @property
    def positions(self) -> list[int]:
        return [e.position for b in self.batches for e in b.events]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture
async def pair(path: Path) -> AsyncIterator[tuple[SqliteEventLog, SqliteEventLog]]:
    first = await SqliteEventLog.open(path, registry=registry())
    second = await SqliteEventLog.open(path, registry=registry())
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_two_logs_interleave_gap_free_and_each_hears_the_other(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    seen_a, seen_b = Seen(a), Seen(b)

    async def writer(log: SqliteEventLog, name: str) -> list[int]:
        got: list[int] = []
        for n in range(30):
            got += await log.append(f"{name}{n % 3}", [stopped(n)])
            log.append_nowait(name, [stopped(n)])
        await log.flush()
        return got

    await asyncio.gather(writer(a, "a"), writer(b, "b"))
    assert [e.position async for e in a.read()] == list(range(1, 121))
    last = await a.last_position()
    assert last == await b.last_position() == 120
    await eventually(lambda: seen_a.positions == list(range(1, 121)))
    await eventually(lambda: seen_b.positions == list(range(1, 121)))
    for seen, own in ((seen_a, "a"), (seen_b, "b")):
        for batch in seen.batches:
            assert {e.stream[0] for e in batch.events} == (
                {own} if not batch.foreign else {"ab"[own == "a"]}
            )
    assert await a.stream_version("a") == await b.stream_version("a") == 30


async def test_own_commit_delivers_the_others_rows_first(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    seen = Seen(a)
    await b.append("b", [stopped(1), stopped(2)])
    await a.append("a", [stopped(3)])  # may come before the tail's poll: delivered in order
    await eventually(lambda: seen.positions == [1, 2, 3])
    assert [batch.foreign for batch in seen.batches] == [True, False]
    assert seen.batches[0].appends == 0 and seen.batches[0].seconds == 0.0


async def test_expected_version_sees_the_other_writers_commit(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    await a.append("q", [stopped(1)], expected_version=0)  # a caches q at version 1
    await b.append("q", [stopped(2)], expected_version=1)
    with pytest.raises(ConcurrencyConflict):
        await a.append("q", [stopped(3)], expected_version=1)
    conflict = a.append_nowait("q", [stopped(3)], expected_version=1)
    fine = a.append_nowait("q", [stopped(4)], expected_version=2)
    with pytest.raises(ConcurrencyConflict):
        await conflict
    assert await fine == (3,)  # the conflict wrote nothing
    assert await b.stream_version("q") == 3
    assert a.pipeline_statistics().failed_appends == 0


async def test_catch_up_returns_the_last_position_and_delivers(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    await b.append("b", [stopped(1)])
    seen = Seen(a)
    await b.append("b", [stopped(2), stopped(3)])
    assert await a.catch_up() == 3
    assert seen.positions == [1, 2, 3]  # everything committed since ``a`` opened


async def test_compaction_keeps_versions_and_later_positions(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    await a.append("s", [stopped(1), stopped(2), stopped(3)])
    await b.append("t", [stopped(4)])
    await a.save_snapshot("p", 2, b"two")
    await a.save_snapshot("p", 3, b"three")
    assert await b.compact(3) == 3
    bounds = await a.bounds()
    assert (bounds.first_position, bounds.last_position, bounds.compacted_through) == (4, 4, 3)
    assert bounds.compacted_at is not None
    assert await a.stream_version("s") == 3
    assert await a.load_snapshot("p") == (3, b"three")
    assert await a.load_snapshot("p", at_or_before=2) is None
    assert await a.append("s", [stopped(5)], expected_version=3) == (5,)
    assert [(e.position, e.stream_version) async for e in a.read(stream="s")] == [(5, 4)]
    assert [e.position async for e in b.read(types=["ActorStopped"])] == [4, 5]
    assert await b.compact(5) == 2
    assert await a.append("u", [stopped(6)]) == (6,)  # numbering goes on after emptying


async def test_an_empty_compacted_log_keeps_its_last_position(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        await log.append("s", [stopped(1), stopped(2)])
        await log.compact(2)
        assert (await log.bounds()).first_position == 3
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        assert await log.last_position() == 2
        assert await log.stream_version("s") == 2
        assert await log.append("s", [stopped(3)]) == (3,)


async def test_a_second_process_is_tailed_in_order(path: Path) -> None:
    count = 40
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        seen = Seen(log)
        peer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PEER,
            str(path),
            "peer",
            str(count),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        mine: list[int] = []
        while peer.returncode is None:
            mine += await log.append("mine", [stopped(len(mine))])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(peer.wait(), 0.01)
        assert peer.returncode == 0
        total = count + len(mine)
        await eventually(lambda: seen.positions == list(range(1, total + 1)))
        foreign = [e for b in seen.batches if b.foreign for e in b.events]
        assert [e.event for e in foreign] == [
            ActorStopped(actor=f"p{n}", reason="peer") for n in range(count)
        ]
        assert {e.stream for e in foreign} == {"peer"}
        assert [e.stream_version for e in foreign] == list(range(1, count + 1))
        assert await log.stream_version("peer") == count


async def test_tail_delivery_latency_is_reported(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    """Not a bound (a busy machine): prints how long the idle tail took, for the notes."""
    a, b = pair
    seen = Seen(a)
    delays: list[float] = []
    for n in range(20):
        await b.append("b", [stopped(n)])
        committed = time.monotonic()
        await eventually(lambda n=n: len(seen.positions) == n + 1)  # type: ignore[misc]
        delays.append(seen.arrived[-1] - committed)
    delays.sort()
    print(f"tail delivery: median {delays[10] * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms")


async def test_a_tail_behind_a_compaction_logs_and_goes_on(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        await SqliteEventLog.open(path, registry=registry(), tail_interval=3600) as slow,
        await SqliteEventLog.open(path, registry=registry()) as other,
    ):
        seen = Seen(slow)
        assert await slow.catch_up() == 0  # its first poll is behind it: next one in an hour
        await other.append("s", [stopped(1), stopped(2), stopped(3)])
        await other.compact(2)
        assert await slow.catch_up() == 3
        assert seen.positions == [3]
        assert "eventlog.tail.compacted" in caplog.text


async def test_a_type_another_writer_added_first_is_found_by_a_filter(
    pair: tuple[SqliteEventLog, SqliteEventLog],
) -> None:
    a, b = pair
    failed = ActorFailed(actor="x", error_type="E", message="m", failures_in_window=1)
    await b.append("b", [failed])  # log_types id 1, unknown to ``a``
    await a.append("a", [stopped(1)])  # id 2, known to ``a`` as it adds it
    assert [e.event async for e in a.read(types=["ActorFailed"])] == [failed]
    assert [e.position async for e in a.read(types=["ActorStopped", "Nope"])] == [2]
    assert [e.position async for e in a.read(types=["Nope"])] == []
