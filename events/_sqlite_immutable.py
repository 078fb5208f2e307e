"""Reading a log where SQLite cannot create its side files (a read-only mount).

A WAL database is read through its ``-shm`` index, which SQLite creates next to the
file when it is missing. In a directory nobody may write to (a read-only mount, a
restored backup on a write-protected volume) that fails, and a plain read-only open
cannot read the log at all. With no ``-wal`` content, every commit is in the main file
and SQLite's ``immutable=1`` URI parameter reads it with no lock and no side file.
``immutable`` skips the ``-wal`` file entirely, so it is never chosen while one holds
commits: those would silently be missing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Literal

import aiosqlite

from events._errors import StorageUnavailable
from events._sqlite_schema import readonly_uri, translate

__all__ = ["ReadonlyMode", "connect_immutable", "immutable_uri", "readonly_mode"]

ReadonlyMode = Literal["shared", "immutable"]
"""``shared``: ``mode=ro`` connections that see a running writer's commits.
``immutable``: ``mode=ro&immutable=1``, the file as it is (no lock, no side file)."""


def immutable_uri(path: Path) -> str:
    """The ``file:`` URI reading ``path`` as an immutable file (no lock, no side file)."""
    return f"{readonly_uri(path)}&immutable=1"


def readonly_mode(path: Path, *, dir_writable: bool | None = None) -> ReadonlyMode:
    """How to open ``path`` read-only: ``shared`` when SQLite can use its side files.

    ``immutable`` when the directory is not writable (``dir_writable``: checked with
    ``os.access`` if None; a read-only mount says no even to root) and no ``-shm`` file
    exists to read through. With ``-wal`` and ``-shm`` present SQLite reads them
    without writing, so ``shared`` still works.

    Raises:
        StorageUnavailable: The directory is not writable, no ``-shm`` exists and the
            ``-wal`` file holds commits: neither way can read every event.
    """
    if dir_writable is None:
        dir_writable = os.access(path.parent, os.W_OK)
    if dir_writable:
        return "shared"
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if shm.exists():
        return "shared"
    try:
        pending = wal.stat().st_size
    except FileNotFoundError:
        pending = 0
    if pending == 0:
        return "immutable"
    raise StorageUnavailable(
        f"cannot read event log {path}: its directory is not writable, so SQLite cannot "
        f"create {shm.name}, and {wal.name} holds {pending} bytes of commits not yet in "
        "the main file (reading without them would show a stale log). Copy the log with "
        f"its {wal.name} file to a writable directory and read the copy there"
    )


async def connect_immutable(path: Path, *, busy_timeout: float) -> aiosqlite.Connection:
    """An autocommit aiosqlite connection reading ``path`` as an immutable file."""
    target = immutable_uri(path)
    try:
        await asyncio.to_thread(_probe, target)
        return await aiosqlite.connect(target, uri=True, isolation_level=None, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc


def _probe(target: str) -> None:
    # As ``_sqlite_schema.connect``: find an unopenable path before aiosqlite's thread.
    sqlite3.connect(target, uri=True).close()
