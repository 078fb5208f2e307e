"""SQLite-specific behaviour of ``SqliteEventLog`` (the shared contract runs elsewhere)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events._base import StoredEvent
from events._codec import EventRegistry
from events._errors import ConcurrencyConflict, EventLogClosed, EventLogError
from events._sqlite import SqliteEventLog
from events._sqlite_read import PAGE_SIZE
from events._system import ActorFailed, ActorRestarted, ActorStopped
from tests._wait import eventually


def registry() -> EventRegistry:
    return EventRegistry([ActorFailed, ActorRestarted, ActorStopped])


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture
async def log(path: Path) -> AsyncIterator[SqliteEventLog]:
    opened = await SqliteEventLog.open(path, registry=registry())
    try:
        yield opened
    finally:
        await opened.close()


async def collect(log: SqliteEventLog, **filters: object) -> list[StoredEvent]:
    return [event async for event in log.read(**filters)]  # type: ignore[arg-type]


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_events_persist_across_reopen(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        assert await log.append("s", [stopped(1), stopped(2)]) == (1, 2)
        await log.append("t", [stopped(3)])
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        assert await log.last_position() == 3
        assert await log.stream_version("s") == 2
        stored = await collect(log)
        assert [(e.position, e.stream, e.stream_version) for e in stored] == [
            (1, "s", 1),
            (2, "s", 2),
            (3, "t", 1),
        ]
        assert stored[2].event == stopped(3)
        assert await log.append("s", [stopped(4)]) == (4,)
        assert await log.stream_version("s") == 3


async def test_200_concurrent_appenders_get_gap_free_positions(log: SqliteEventLog) -> None:
    async def appender(k: int) -> list[int]:
        got: list[int] = []
        for i in range(10):
            got += await log.append(f"s{k % 20}", [stopped(i)])
        return got

    results = await asyncio.gather(*(appender(k) for k in range(200)))
    positions = sorted(p for got in results for p in got)
    assert positions == list(range(1, 2001))
    stored = await collect(log)
    assert [e.position for e in stored] == list(range(1, 2001))
    for k in range(20):
        versions = [e.stream_version for e in stored if e.stream == f"s{k}"]
        assert versions == list(range(1, 101))


async def test_group_commit_batches_concurrent_appends(log: SqliteEventLog) -> None:
    await asyncio.gather(*(log.append(f"s{k}", [stopped(k)]) for k in range(500)))
    stats = log.statistics()
    assert stats.appends_committed == 500
    assert stats.events_committed == 500
    assert stats.batches_committed < 50  # 500 appends in one go share a few transactions
    assert stats.average_batch_size > 10
    assert stats.queue_depth == 0
    assert stats.last_commit_latency > 0


async def test_conflict_fails_only_its_request_in_a_batch(log: SqliteEventLog) -> None:
    await log.append("s", [stopped(0)])
    results = await asyncio.gather(
        log.append("a", [stopped(1)]),
        log.append("s", [stopped(2)], expected_version=0),  # stale
        log.append("b", [stopped(3)]),
        log.append("s", [stopped(4)], expected_version=1),  # current
        return_exceptions=True,
    )
    assert isinstance(results[1], ConcurrencyConflict)
    assert (results[1].expected, results[1].actual) == (0, 1)
    assert results[0] == (2,)
    assert results[2] == (3,)
    assert results[3] == (4,)
    assert log.statistics().batches_committed == 2
    assert await log.stream_version("s") == 2


async def test_idempotency_key_holds_across_reopen(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        first = await log.append("s", [stopped(1), stopped(2), stopped(3)], idempotency_key="k")
        await log.append("s", [stopped(4)], idempotency_key="k2")
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        again = await log.append("s", [stopped(1), stopped(2), stopped(3)], idempotency_key="k")
        assert again == first == (1, 2, 3)
        assert await log.append("s", [stopped(4)], idempotency_key="k2") == (4,)
        assert await log.last_position() == 4
        assert {e.idempotency_key for e in await collect(log)} == {"k", "k2"}
    stored = rows(path, "SELECT idempotency_key FROM events ORDER BY position")
    assert stored == [("k",), ("k\x1f1",), ("k\x1f2",), ("k2",)]


async def test_idempotency_key_may_not_contain_the_separator(log: SqliteEventLog) -> None:
    with pytest.raises(ValueError, match="x1f"):
        await log.append("s", [stopped(1)], idempotency_key="a\x1fb")


async def test_reads_do_not_wait_for_a_busy_writer(path: Path) -> None:
    # The writer would wait a minute for the lock: a read that waited for the writer
    # would take that long, so 10 s tells them apart on any machine.
    async with await SqliteEventLog.open(path, registry=registry(), busy_timeout=60) as log:
        await log.append("s", [stopped(1)])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the writer now waits in its BEGIN IMMEDIATE
        try:
            pending = asyncio.create_task(log.append("s", [stopped(2)]))
            await asyncio.sleep(0.05)  # room for the append to (wrongly) get through
            assert not pending.done()
            stored = await asyncio.wait_for(collect(log), timeout=10)
            assert [e.position for e in stored] == [1]
            assert await asyncio.wait_for(log.last_position(), timeout=10) == 1
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await pending == (2,)


async def test_close_flushes_queued_appends_then_refuses(path: Path) -> None:
    log = await SqliteEventLog.open(path, registry=registry())
    tasks = [asyncio.create_task(log.append("s", [stopped(i)])) for i in range(300)]
    await asyncio.sleep(0)  # every task has queued its request
    await log.close()
    assert sorted(p for t in tasks for p in t.result()) == list(range(1, 301))
    with pytest.raises(EventLogClosed):
        await log.append("s", [stopped(0)])
    with pytest.raises(EventLogClosed):
        await collect(log)
    await log.close()  # idempotent
    assert wal_size(path) == 0  # checkpointed and truncated
    assert rows(path, "SELECT count(*) FROM events") == [(300,)]


async def test_backpressure_with_a_tiny_queue(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry(), queue_size=2) as log:
        results = await asyncio.gather(*(log.append("s", [stopped(i)]) for i in range(50)))
        assert sorted(p for r in results for p in r) == list(range(1, 51))


async def test_subscribe_yields_existing_then_new_events(log: SqliteEventLog) -> None:
    await log.append("s", [stopped(1)])
    await log.append("t", [stopped(2)])
    seen: list[int] = []

    async def follow() -> None:
        async for event in log.subscribe(stream="s"):
            seen.append(event.position)
            if len(seen) == 3:
                return

    follower = asyncio.create_task(follow())
    await eventually(lambda: seen == [1])
    await log.append("t", [stopped(3)])
    await log.append("s", [stopped(4), stopped(5)])
    await asyncio.wait_for(follower, timeout=30)
    assert seen == [1, 4, 5]


async def test_subscribe_ends_when_the_log_closes(path: Path) -> None:
    log = await SqliteEventLog.open(path, registry=registry())
    await log.append("s", [stopped(1)])
    seen: list[int] = []

    async def follow() -> None:
        async for event in log.subscribe():
            seen.append(event.position)

    follower = asyncio.create_task(follow())
    await eventually(lambda: seen == [1])  # following, and waiting for more
    await log.close()
    await asyncio.wait_for(follower, timeout=30)
    assert seen == [1]


async def test_readonly_viewer_beside_an_active_writer(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as writer:
        await writer.append("s", [stopped(1)])
        async with await SqliteEventLog.open_readonly(path, registry=registry()) as viewer:
            assert [e.position for e in await collect(viewer)] == [1]
            with pytest.raises(EventLogError, match="read-only"):
                await viewer.append("s", [stopped(2)])
            with pytest.raises(EventLogError, match="read-only"):
                await viewer.save_snapshot("p", 1, b"x")
            seen: list[int] = []

            async def follow() -> None:
                async for event in viewer.subscribe():
                    seen.append(event.position)
                    if len(seen) == 3:
                        return

            follower = asyncio.create_task(follow())
            await writer.append("s", [stopped(2), stopped(3)])
            await asyncio.wait_for(follower, timeout=30)  # found by polling
            assert seen == [1, 2, 3]
            assert await viewer.last_position() == 3


async def test_readonly_open_of_a_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="no event log"):
        await SqliteEventLog.open_readonly(tmp_path / "missing.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()


async def test_snapshots_round_trip(log: SqliteEventLog) -> None:
    assert await log.load_snapshot("health") is None
    await log.save_snapshot("health", 10, b"ten")
    await log.save_snapshot("health", 20, b"twenty")
    await log.save_snapshot("ledger", 15, b"other")
    assert await log.load_snapshot("health") == (20, b"twenty")
    assert await log.load_snapshot("health", at_or_before=19) == (10, b"ten")
    assert await log.load_snapshot("health", at_or_before=9) is None
    await log.save_snapshot("health", 20, b"replaced")
    assert await log.load_snapshot("health") == (20, b"replaced")


async def test_reads_page_through_large_results(log: SqliteEventLog) -> None:
    total = PAGE_SIZE * 2 + 17
    for start in range(0, total, 500):
        batch = [ActorRestarted(actor="x", restart=i, delay=0.0) for i in range(start, start + 500)]
        await log.append("big" if start % 1000 == 0 else "other", batch[: total - start])
    everything = await collect(log)
    assert [e.position for e in everything] == list(range(1, total + 1))
    big = await collect(log, stream="big")
    assert [e.stream_version for e in big] == list(range(1, len(big) + 1))
    assert len(big) == sum(1 for e in everything if e.stream == "big") > PAGE_SIZE
    limited = await collect(log, from_position=10, limit=PAGE_SIZE + 5)
    assert [e.position for e in limited] == list(range(10, PAGE_SIZE + 15))


async def test_cancelled_callers_leave_a_consistent_log(log: SqliteEventLog) -> None:
    tasks = [asyncio.create_task(log.append("s", [stopped(i)])) for i in range(100)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    after = await log.append("s", [stopped(999)])
    stored = await collect(log)
    assert [e.position for e in stored] == list(range(1, after[0] + 1))
    assert [e.stream_version for e in stored] == list(range(1, after[0] + 1))


async def test_backpressure_bounds_the_queue_and_survives_cancelled_waiters(
    path: Path,
) -> None:
    async with await SqliteEventLog.open(path, registry=registry(), queue_size=2) as log:
        await log.append("s", [stopped(0)])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the writer's next batch waits for the lock
        try:
            tasks = [asyncio.create_task(log.append("s", [stopped(i)])) for i in range(1, 11)]
            await eventually(lambda: log.statistics().queue_depth == 2)
            await asyncio.sleep(0.05)  # room for the queue to (wrongly) grow
            assert log.statistics().queue_depth == 2  # 1 in flight, 2 queued, 7 waiting
            for task in tasks[4:7]:
                task.cancel()  # gave up while waiting for room: must not block the rest
            await asyncio.sleep(0)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    done = [r for r in results if isinstance(r, tuple)]
    assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 3
    assert sorted(p for r in done for p in r) == list(range(2, 9))
    assert rows(path, "SELECT count(*) FROM events") == [(8,)]
