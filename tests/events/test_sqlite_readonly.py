"""Reading a log where SQLite cannot create its ``-shm`` file (a read-only mount).

The decision (``readonly_mode``) is tested with the directory's writability given,
since root writes everywhere; the immutable open itself is real.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events import EventLogError, StorageUnavailable
from events._sqlite import SqliteEventLog
from events._sqlite_immutable import readonly_mode
from events._system import ActorStopped


async def closed_log(path: Path, events: int) -> Path:
    async with await SqliteEventLog.open(path) as log:
        for i in range(events):
            await log.append(f"s-{i % 3}", [ActorStopped(actor=str(i), reason="r")])
    return path


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_readonly_mode_decides_by_directory_and_side_files(tmp_path: Path) -> None:
    log = asyncio.run(closed_log(tmp_path / "events.sqlite3", 3))
    assert side_files(log) == []  # a cleanly closed log: everything is in the main file
    assert readonly_mode(log, dir_writable=True) == "shared"
    assert readonly_mode(log, dir_writable=False) == "immutable"
    wal, shm = Path(f"{log}-wal"), Path(f"{log}-shm")
    wal.write_bytes(b"")
    assert readonly_mode(log, dir_writable=False) == "immutable"  # an empty WAL holds nothing
    wal.write_bytes(b"\0" * 4096)
    with pytest.raises(StorageUnavailable, match=r"events\.sqlite3-wal holds 4096 bytes"):
        readonly_mode(log, dir_writable=False)
    shm.write_bytes(b"")
    assert readonly_mode(log, dir_writable=False) == "shared"  # SQLite reads both as they are
    assert readonly_mode(log) == "shared"  # tmp_path is writable


async def test_immutable_open_reads_every_event_and_creates_no_file(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "events.sqlite3", 25)
    async with await SqliteEventLog.open_readonly(log) as shared:
        expected = [(e.position, e.stream, e.event) async for e in shared.read()]
        assert not shared.immutable
    for name in side_files(log):  # a shared reader may leave empty side files
        (tmp_path / name).unlink()
    async with await SqliteEventLog.open_readonly(log, immutable=True) as opened:
        assert opened.immutable
        assert [(e.position, e.stream, e.event) async for e in opened.read()] == expected
        assert await opened.last_position() == 25
        with pytest.raises(EventLogError):
            await opened.append("s-0", [ActorStopped(actor="x", reason="r")])
        assert side_files(log) == []
    assert side_files(log) == []
