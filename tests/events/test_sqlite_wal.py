"""The SQLite log's WAL stays small: checkpoints on a size and time budget, a truncated
WAL when idle, and a full disk (``max_page_count``) that the writer recovers from."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from pathlib import Path

import pytest

from events._codec import EventRegistry
from events._errors import StorageFull
from events._sqlite import SqliteEventLog
from events._sqlite_checkpoint import CHECKPOINT_BUDGET_BYTES
from events._system import ActorFailed, ActorStopped
from tests._wait import eventually


def registry() -> EventRegistry:
    return EventRegistry([ActorFailed, ActorStopped])


def big(n: int) -> ActorFailed:
    """~3 KB that do not compress (the log's codec packs repetitive payloads)."""
    noise = random.Random(n).randbytes(1500).hex()
    return ActorFailed(actor=f"a{n}", error_type="E", message=noise, failures_in_window=1)


def small(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


def wal_size(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        return 0


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


async def test_the_wal_stays_bounded_under_sustained_appends(path: Path) -> None:
    # 8,000 events of ~3 KB (~30 MB of WAL frames): before checkpoints on a budget the
    # WAL grew to SQLite's automatic checkpoint at ~40 MB.
    high = 0
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        for _ in range(160):
            await asyncio.gather(*(log.append(f"s{i}", [big(i)]) for i in range(50)))
            high = max(high, wal_size(path))
        assert await log.last_position() == 8_000
    assert high <= 2 * CHECKPOINT_BUDGET_BYTES, f"WAL high-water mark {high:,} bytes"


async def test_one_commit_per_request_does_not_grow_the_wal(path: Path) -> None:
    # The runtime's pattern: small commits, each dirtying a few whole pages.
    high = 0
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        for i in range(3_000):
            await log.append(f"request/{i}", [small(i)])
            high = max(high, wal_size(path))
    assert high <= 2 * CHECKPOINT_BUDGET_BYTES, f"WAL high-water mark {high:,} bytes"


async def test_an_idle_log_truncates_its_wal(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        for i in range(200):
            await log.append(f"s{i}", [big(i)])
        await eventually(lambda: wal_size(path) == 0)
        assert log.statistics().batches_committed >= 200
        # And it still appends, and a reader beside it sees everything.
        assert await log.append("after", [small(0)]) == (201,)
        assert query(path, "SELECT count(*) FROM events") == [(201,)]


async def test_a_full_log_recovers_without_a_restart_and_after_one(path: Path) -> None:
    async with await SqliteEventLog.open(path, registry=registry(), max_page_count=60) as log:
        written = 0
        with pytest.raises(StorageFull, match="Free disk space or raise the size limit"):
            while True:
                await log.append("s", [big(written)])
                written += 1
        assert written > 0
        with pytest.raises(StorageFull):  # still full: every append fails the same way
            await log.append("t", [big(0)])
        assert query(path, "PRAGMA integrity_check") == [("ok",)]
        # While full, the WAL is truncated: its space is given back to the disk.
        await eventually(lambda: wal_size(path) == 0)
        assert await log.set_max_page_count(100_000) == 100_000  # space freed
        for i in range(50):  # no restart: the same writer appends again
            await log.append("t", [big(i)])
        assert await log.last_position() == written + 50
    async with await SqliteEventLog.open(path, registry=registry()) as reopened:
        assert await reopened.append("u", [small(0)]) == (written + 51,)
        assert await reopened.stream_version("t") == 50
        assert len([e async for e in reopened.read()]) == written + 51
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
