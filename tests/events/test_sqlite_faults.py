"""Faults the SQLite event log must survive with a clear error and nothing lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from events._base import UnknownEvent
from events._codec import EventRegistry
from events._errors import (
    EventLogClosed,
    InvalidLogFile,
    LogFromNewerVersion,
    StorageFull,
    StorageUnavailable,
)
from events._sqlite import SqliteEventLog
from events._sqlite_schema import SCHEMA_VERSION
from events._system import ActorFailed, ActorStopped


def registry() -> EventRegistry:
    return EventRegistry([ActorFailed, ActorStopped])


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


def big(n: int) -> ActorFailed:
    return ActorFailed(actor=f"a{n}", error_type="E", message="x" * 3000, failures_in_window=1)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def truncate_to_a_third(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def remove_wal_and_shm(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_disk_full_fails_loudly_and_writes_nothing(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry(), max_page_count=40) as log:
        written = 0
        with pytest.raises(StorageFull) as caught:
            while True:
                await log.append("s", [big(written)])
                written += 1
        assert str(path) in str(caught.value)
        assert "nothing" in str(caught.value)
        assert written > 0
        assert await log.last_position() == written
        # A whole concurrent batch fails together, and nothing of it is half-written.
        results = await asyncio.gather(
            *(log.append(f"t{i}", [big(i), stopped(i)]) for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StorageFull) for r in results)
        assert await log.last_position() == written
        assert await log.stream_version("t0") == 0
        assert log.statistics().batches_failed >= 2
        assert query(path, "SELECT count(*) FROM events") == [(written,)]
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        assert await log.set_max_page_count(100_000) == 100_000
        # The writer survived and its caches were left as they were: no gap.
        assert await log.append("t0", [big(0)]) == (written + 1,)
        assert await log.stream_version("t0") == 1
    assert query(path, "SELECT max(position), count(*) FROM events") == [(written + 1, written + 1)]


async def test_a_file_that_is_not_sqlite(path: Path) -> None:
    write(path, b"name,value\nthis is a csv file, not a database\n" * 20)
    with pytest.raises(InvalidLogFile, match="not an SQLite database") as caught:
        await SqliteEventLog.open(path)
    assert str(path) in str(caught.value)
    with pytest.raises(InvalidLogFile):
        await SqliteEventLog.open_readonly(path)
    write(path, os.urandom(8192))
    with pytest.raises(InvalidLogFile):
        await SqliteEventLog.open(path)


async def test_an_sqlite_file_that_is_not_ours(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(InvalidLogFile, match="not an event log") as caught:
        await SqliteEventLog.open(path)
    assert "customers" in str(caught.value)
    assert query(path, "SELECT name FROM sqlite_master") == [("customers",)]  # untouched


async def test_a_truncated_log(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        for i in range(50):
            await log.append("s", [big(i)])
    truncate_to_a_third(path)
    with pytest.raises(InvalidLogFile, match="damaged"):
        async with await SqliteEventLog.open(path, registry=registry()) as log:
            [event async for event in log.read()]


async def test_a_path_under_a_regular_file(tmp_path: Path) -> None:
    # Works as root too: no permission bit can make a file a directory.
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StorageUnavailable, match="cannot open") as caught:
        await SqliteEventLog.open(tmp_path / "plain" / "events.sqlite3")
    assert "plain" in str(caught.value)


async def test_a_directory_nobody_may_write(tmp_path: Path) -> None:
    # /proc accepts no new files, even from root.
    with pytest.raises(StorageUnavailable, match="writable"):
        await SqliteEventLog.open(Path("/proc/events-test.sqlite3"))


async def test_a_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (see the /proc test)")
        with pytest.raises(StorageUnavailable):
            await SqliteEventLog.open(locked / "events.sqlite3")
    finally:
        locked.chmod(0o755)


async def test_a_log_from_a_newer_release(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        await log.append("s", [stopped(1)])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LogFromNewerVersion, match="upgrade") as caught:
        await SqliteEventLog.open(path)
    assert str(path) in str(caught.value)
    with pytest.raises(LogFromNewerVersion):
        await SqliteEventLog.open_readonly(path)


async def test_a_corrupt_row_is_counted_not_raised(path: Path) -> None:
    reg = registry()
    async with await SqliteEventLog.open(path, registry=reg) as log:
        await log.append("s", [stopped(1), stopped(2), stopped(3)])
        conn = sqlite3.connect(path)
        conn.execute("UPDATE log_events SET payload = x'00ff7b' WHERE position = 2")
        conn.execute("UPDATE log_events SET schema = 'garbage' WHERE position = 3")
        conn.commit()
        conn.close()
        stored = [event async for event in log.read()]
    assert [e.position for e in stored] == [1, 2, 3]
    assert stored[0].event == stopped(1)
    for bad in stored[1:]:
        assert isinstance(bad.event, UnknownEvent)
    assert isinstance(stored[1].event, UnknownEvent)
    assert stored[1].event.reason.startswith("undecodable")
    assert log.unknown_count == 2
    assert log.statistics().unknown_count == 2
    assert reg.unknown_count == 2


async def test_missing_wal_and_shm_after_a_clean_close(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        await log.append("s", [stopped(1)])
    remove_wal_and_shm(path)
    async with await SqliteEventLog.open_readonly(path, registry=registry()) as viewer:
        assert [e.position async for e in viewer.read()] == [1]
    remove_wal_and_shm(path)
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        assert await log.append("s", [stopped(2)]) == (2,)


async def test_a_database_locked_by_another_process(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry(), busy_timeout=0.3) as log:
        await log.append("s", [stopped(1)])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(StorageUnavailable, match="locked") as caught:
                await log.append("s", [stopped(2)])
            assert asyncio.get_running_loop().time() - started >= 0.25
            assert str(path) in str(caught.value)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await log.append("s", [stopped(2)]) == (2,)
        assert await log.stream_version("s") == 2


async def test_cancelling_close_between_begin_and_commit_rolls_back(path: Path) -> None:
    # (a busy timeout far beyond the test: the batch must still be waiting at the end)
    log = await SqliteEventLog.open(path, registry=registry(), busy_timeout=60)
    await log.append("s", [stopped(1)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the writer's batch waits in BEGIN IMMEDIATE
    pending = asyncio.create_task(log.append("s", [stopped(2)]))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(log.close())
    await asyncio.sleep(0.05)
    closing.cancel()
    await asyncio.sleep(0.05)
    other.execute("ROLLBACK")  # the batch now gets its lock, writes, and must roll back
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await closing
    with pytest.raises(EventLogClosed, match="in flight"):
        await pending
    assert query(path, "SELECT max(position), count(*) FROM events") == [(1, 1)]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    async with await SqliteEventLog.open(path, registry=registry()) as reopened:
        assert await reopened.append("s", [stopped(2)]) == (2,)


async def test_a_writer_cancelled_from_outside_fails_callers_not_hangs(path: Path) -> None:
    log = await SqliteEventLog.open(path, registry=registry(), queue_size=4)
    await log.append("s", [stopped(1)])
    (writer,) = [t for t in asyncio.all_tasks() if t.get_name() == f"eventlog-writer:{path}"]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # keep the writer busy so requests stay queued
    try:
        pending = [asyncio.create_task(log.append("s", [stopped(i)])) for i in range(2, 8)]
        await asyncio.sleep(0.05)
        writer.cancel()
        results = await asyncio.wait_for(
            asyncio.gather(*pending, return_exceptions=True), timeout=30
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert all(isinstance(r, EventLogClosed) for r in results)
    with pytest.raises(EventLogClosed, match="writer has stopped"):
        await log.append("s", [stopped(9)])
    await log.close()
    assert query(path, "SELECT count(*) FROM events") == [(1,)]
