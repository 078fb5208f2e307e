"""A file that is not our log is refused before anything is written to it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from events._errors import InvalidLogFile
from events._sqlite import SqliteEventLog


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def other_app_db(path: Path, *, wal: bool) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada'), ('grace')")
    conn.commit()
    if wal:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
async def test_another_apps_database_is_left_byte_for_byte(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "app.db"
    other_app_db(path, wal=wal)
    before = digest(path)
    files = names(tmp_path)
    with pytest.raises(InvalidLogFile, match="not an event log"):
        await SqliteEventLog.open(path)
    with pytest.raises(InvalidLogFile, match="not an event log"):
        await SqliteEventLog.open_readonly(path)
    assert digest(path) == before
    assert names(tmp_path) == files  # no -wal/-shm left behind


async def test_an_empty_database_file_becomes_a_log(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    path.touch()
    async with await SqliteEventLog.open(path) as log:
        assert await log.last_position() == 0
