"""Closing the SQLite log's writer: flush what is queued, then checkpoint the WAL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from events._logger import get_logger

if TYPE_CHECKING:
    from events._sqlite_committer import Committer

__all__ = ["close_writer"]

log = get_logger(__name__)

_STALL = 2.0
"""Seconds without a commit after which closing gives up on the writer."""


async def close_writer(
    committer: Committer, task: asyncio.Task[None], conn: aiosqlite.Connection, path: Path
) -> None:
    """Stop the writer task after it flushed the queue, then checkpoint the WAL.

    A writer that commits nothing for ``_STALL`` seconds (a locked or broken file)
    is given up on: what is still queued fails with ``EventLogClosed`` (counted),
    and no checkpoint is tried, so closing never hangs on a stuck log.
    """
    committer.stop()
    stalled = False
    try:
        while not task.done():  # else it was cancelled from outside: nothing to flush
            before = committer.batches_committed
            await asyncio.wait([task], timeout=_STALL)  # never raises the task's error
            if not task.done() and committer.batches_committed == before:
                stalled = True
                log.error("eventlog.close.stalled", path=str(path), queued=committer.depth)
                break
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        committer.fail_pending()
        await committer.checkpointer.stop()
    if stalled:
        return
    try:
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        # The data is committed; a failed checkpoint only leaves a larger -wal file.
        log.warning("eventlog.checkpoint.failed", path=str(path), error=str(exc))
