"""The copy behind ``backup``: SQLite's online backup API inside one read snapshot.

Copying the log file alone is not a backup: in WAL mode the newest commits live in the
``-wal`` file until a checkpoint moves them into the main file, so a copy of the main
file misses them (after a crash, possibly every event). ``copy_log`` reads through
SQLite instead, which sees the main file and the WAL together:

- one read transaction on the source holds a snapshot for the whole copy. In WAL mode a
  reader does not block a writer, so a running runtime keeps appending meanwhile; its
  commits after the snapshot are simply not in the backup. Holding the snapshot also
  keeps the backup from restarting when another connection writes;
- the pages are copied in steps (``sqlite3.Connection.backup(pages=...)``), reporting
  progress after each;
- the copy is switched to ``journal_mode=DELETE``: a single self-contained file that
  needs no ``-wal``/``-shm`` to be read (a runtime opening it switches back to WAL).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec

from events._sqlite_immutable import immutable_uri
from events._sqlite_schema import readonly_uri

__all__ = ["BackupSnapshot", "copy_log", "discard"]

STEP_PAGES = 1024
"""Pages copied per backup step (4 MiB with SQLite's default page size)."""
_BUSY_TIMEOUT = 30.0
"""Seconds to wait for a lock (a writer's checkpoint, say) before giving up."""


class BackupSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the source held at the backup's read snapshot (the copy must hold the same)."""

    events: int
    last_position: int
    pages: int


Step = Callable[[int, int], None]
"""Called after each step with (pages copied so far, pages in all)."""


def copy_log(
    source: Path,
    target: Path,
    *,
    pages: int = STEP_PAGES,
    step: Step | None = None,
    immutable: bool = False,
) -> BackupSnapshot:
    """Copy the log at ``source`` into the new file ``target`` (blocking).

    ``immutable``: read ``source`` as an immutable file (a read-only directory with no
    WAL commits: ``events._sqlite_immutable.readonly_mode``).

    Raises:
        sqlite3.Error: The source could not be read or the target written.
    """
    uri = immutable_uri(source) if immutable else readonly_uri(source)
    src = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=_BUSY_TIMEOUT)
    try:
        src.execute("BEGIN")  # the snapshot: every query and step below reads it
        events, last = src.execute(
            "SELECT count(*), coalesce(max(position), 0) FROM events"
        ).fetchone()
        total = int(src.execute("PRAGMA page_count").fetchone()[0])
        dst = sqlite3.connect(target, isolation_level=None)
        try:

            def progress(status: int, remaining: int, count: int) -> None:
                if step is not None:
                    step(count - remaining, count)

            src.backup(dst, pages=pages, progress=progress)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        src.execute("COMMIT")
    finally:
        src.close()
    return BackupSnapshot(events=int(events), last_position=int(last), pages=total)


def discard(target: Path) -> None:
    """Remove a partial copy and any side file SQLite left beside it."""
    for path in (target, *(Path(f"{target}{end}") for end in ("-journal", "-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
