"""The event pipeline's contract, on every log: background appends, linger, urgent,
room, failure counting and commit hooks (``events._pipeline``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from events import CommittedBatch, EventLogBacklogged, EventLogClosed, StorageFull
from events._memory import MemoryEventLog
from events._pipeline import Pipeline
from events._postgres import PostgresEventLog
from events._sqlite import SqliteEventLog
from tests.events._pg_backend import BackendName, make_full, open_postgres_at
from tests.events.contract import BACKEND_NAMES, Ping, collect, new_registry, pings

LONG = 3600.0
"""A linger no test waits out: only a cut (urgent, awaited, flush, full) commits."""


async def open_log(name: str, path: Path, **options: Any) -> Any:
    if name == "postgres":
        return await open_postgres_at(
            getattr(name, "dsn", None), registry=new_registry(), **options
        )
    if name == "memory":
        return await MemoryEventLog.open(registry=new_registry(), **options)
    return await SqliteEventLog.open(path / "events.sqlite3", registry=new_registry(), **options)


@pytest.fixture(params=[*BACKEND_NAMES, "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":  # the name carries the test database's URL
        return BackendName.of("postgres", request.getfixturevalue("postgres_dsn"))
    return str(request.param)


@pytest.fixture
async def lingering(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A log whose routine background appends would wait an hour."""
    log = await open_log(backend, tmp_path, linger=LONG)
    yield log
    await log.close()


async def settle_loop(turns: int = 20) -> None:
    """Let every ready task run a few times (the writer included)."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def test_positions_follow_call_order_across_both_kinds(lingering: Any) -> None:
    first = lingering.append_nowait("a", pings(1))
    second = lingering.append_nowait("b", pings(2, 3))
    third = await lingering.append("a", pings(4))
    assert await first == (1,)
    assert await second == (2, 3)
    assert third == (4,)
    stored = await collect(lingering.read())
    assert [(s.stream, s.stream_version, s.event.n) for s in stored] == [
        ("a", 1, 1),
        ("b", 1, 2),
        ("b", 2, 3),
        ("a", 2, 4),
    ]


async def test_routine_appends_linger_until_flushed(lingering: Any) -> None:
    future = lingering.append_nowait("a", pings(1))
    await settle_loop()
    assert not future.done()
    assert await lingering.last_position() == 0
    assert lingering.pipeline_statistics().queued == 1
    await lingering.flush()
    assert future.result() == (1,)
    assert await lingering.last_position() == 1


async def test_urgent_cuts_the_linger_for_everything_queued(lingering: Any) -> None:
    routine = lingering.append_nowait("a", pings(1))
    urgent = lingering.append_nowait("b", pings(2), urgent=True)
    async with asyncio.timeout(60):
        assert await urgent == (2,)
    assert routine.result() == (1,)


async def test_an_awaited_append_cuts_the_linger(lingering: Any) -> None:
    routine = lingering.append_nowait("a", pings(1))
    async with asyncio.timeout(60):
        assert await lingering.append("a", pings(2)) == (2,)
    assert routine.result() == (1,)


async def test_short_linger_commits_without_a_cut(backend: str, tmp_path: Path) -> None:
    log = await open_log(backend, tmp_path, linger=0.01)
    try:
        async with asyncio.timeout(60):
            assert await log.append_nowait("a", pings(1)) == (1,)
    finally:
        await log.close()


async def test_a_full_queue_makes_the_producer_wait_and_drops_nothing(
    backend: str, tmp_path: Path
) -> None:
    log = await open_log(backend, tmp_path, linger=LONG, queue_size=3)
    try:
        futures = [log.append_nowait("s", pings(n)) for n in range(10)]
        assert log.pipeline_statistics().queued == 10  # over capacity, still queued
        async with asyncio.timeout(60):
            await log.wait_for_room()
        stats = log.pipeline_statistics()
        assert stats.room_waits == 1
        assert stats.room_wait_seconds >= 0.0
        assert stats.queued < 3
        await log.flush()
        assert [f.result() for f in futures] == [(n,) for n in range(1, 11)]
        assert await log.last_position() == 10
    finally:
        await log.close()


async def test_many_background_appends_all_reach_the_log(backend: str, tmp_path: Path) -> None:
    log = await open_log(backend, tmp_path, queue_size=50, linger=0.001)
    try:
        for n in range(2_000):
            if n % 100 == 0:
                await log.wait_for_room()
            log.append_nowait(f"s{n % 7}", pings(n))
        await log.flush()
        assert await log.last_position() == 2_000
        stats = log.pipeline_statistics()
        assert (stats.background_appends, stats.background_events) == (2_000, 2_000)
        assert (stats.failed_appends, stats.queued) == (0, 0)
    finally:
        await log.close()


BIG = os.urandom(100_000).hex()
"""A note too large for the room a full log has left: incompressible (the SQLite log
deflates payloads, so ``"x" * 200_000`` would fit in a page's free bytes)."""


async def fill(log: Any) -> None:
    """Make the log's storage full: later appends fail with ``StorageFull``."""
    if isinstance(log, MemoryEventLog):
        log.max_events = await log.last_position()
    elif isinstance(log, PostgresEventLog):
        await make_full(log._url)
    else:
        await log.set_max_page_count(1)  # never below the file's size: full from here


async def test_failed_background_appends_are_counted(lingering: Any) -> None:
    await lingering.append("a", pings(1))
    await fill(lingering)
    big = [Ping(n=2, note=BIG)]
    future = lingering.append_nowait("a", big, urgent=True)
    with pytest.raises(StorageFull):
        async with asyncio.timeout(60):
            await future
    stats = lingering.pipeline_statistics()
    assert (stats.failed_appends, stats.failed_events) == (1, 1)
    assert stats.last_error is not None and "StorageFull" in stats.last_error
    assert await lingering.last_position() == 1


async def test_a_failure_nobody_awaits_is_still_counted(lingering: Any) -> None:
    await lingering.append("a", pings(1))
    await fill(lingering)
    lingering.append_nowait("a", [Ping(n=2, note=BIG)], urgent=True)
    await lingering.flush()
    assert lingering.pipeline_statistics().failed_appends == 1


async def test_commit_hooks_see_what_readers_see(lingering: Any) -> None:
    batches: list[CommittedBatch] = []
    undo = lingering.on_commit(batches.append)
    lingering.append_nowait("a", pings(1, 2))
    await lingering.append("b", pings(3), idempotency_key="k")
    await lingering.append("b", pings(3), idempotency_key="k")  # a repeat writes nothing
    hooked = [s for batch in batches for s in batch.events]
    assert hooked == await collect(lingering.read())
    undo()
    await lingering.append("c", pings(4))
    assert sum(len(b.events) for b in batches) == 3


async def test_a_failing_hook_does_not_stop_the_log(lingering: Any) -> None:
    def broken(batch: CommittedBatch) -> None:
        raise RuntimeError("hook bug")

    lingering.on_commit(broken)
    assert await lingering.append("a", pings(1)) == (1,)
    assert await lingering.append_nowait("a", pings(2), urgent=True) == (2,)


async def test_closing_commits_what_is_queued(backend: str, tmp_path: Path) -> None:
    log = await open_log(backend, tmp_path, linger=LONG)
    future = log.append_nowait("a", pings(1))
    await log.close()
    assert future.result() == (1,)
    with pytest.raises(EventLogClosed):
        log.append_nowait("a", pings(2))


async def test_room_waits_are_bounded() -> None:
    pipeline = Pipeline(capacity=1, linger=0.0, room_timeout=0.05)  # the timeout is the point
    with pytest.raises(EventLogBacklogged, match="stayed full"):
        await pipeline.wait_for_room(lambda: 5)
    assert pipeline.room_waits == 1
    assert pipeline.longest_room_wait >= 0.05
