"""Keeping the SQLite log's WAL small: checkpoints on a size and a time budget.

SQLite's own automatic checkpoint runs inside a COMMIT and waits for ~40 MB of WAL
(``WAL_AUTOCHECKPOINT_PAGES``, now a backstop only). The :class:`Checkpointer` decides
instead, from the writer's commits:

* ``PASSIVE``, once the WAL holds about ``budget_bytes`` (estimated from the frames per
  commit the last checkpoint saw) or ``interval`` seconds after the last checkpoint. It
  runs on the writer's connection between two batches (a flight of the committer, so
  appends meanwhile queue up and share the next commit): only there does it copy every
  frame with no commit in between, which is what lets the next commit start the WAL file
  over from its beginning. A checkpoint from another connection under sustained load
  never catches up with the writer, and the file keeps growing.
* ``TRUNCATE`` after ``idle`` seconds without a commit, from a connection of its own in
  a worker thread: the ``-wal`` file shrinks to zero bytes and gives its space back.
* After a commit failed with a full disk: ``TRUNCATE`` at once, then every ``interval``
  until it succeeds or a commit goes through again, so space freed on the disk goes to
  the database, not to a WAL that fills it again.

A checkpoint that fails (busy, disk still full) is logged and tried again later; the
data is committed either way, a failed checkpoint only leaves a larger ``-wal`` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from events._logger import get_logger

__all__ = [
    "CHECKPOINT_BUDGET_BYTES",
    "CHECKPOINT_IDLE",
    "CHECKPOINT_INTERVAL",
    "Checkpointer",
    "passive_checkpoint",
]

log = get_logger(__name__)

CHECKPOINT_BUDGET_BYTES = 8 * 1024 * 1024
"""WAL bytes (estimated) after which a passive checkpoint runs."""
CHECKPOINT_INTERVAL = 2.0
"""Seconds after the last checkpoint after which the next commit is followed by one."""
CHECKPOINT_IDLE = 1.0
"""Seconds without a commit after which the WAL is truncated."""
_FIRST_DUE = 64
"""Commits before the first passive checkpoint, before a checkpoint has measured any."""
_BUSY_TIMEOUT = 0.1
"""A truncating checkpoint waits this long for the writer's lock, then tries later."""

Checkpointed = tuple[int, int, int, int]
"""``(busy, frames in the WAL, frames copied, page size)``."""


def passive_checkpoint(conn: sqlite3.Connection) -> Checkpointed:
    """In the writer's thread, between batches: ``PRAGMA wal_checkpoint(PASSIVE)``."""
    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(busy), int(frames), int(copied), int(page_size)


class Checkpointer:
    """Decides one log file's checkpoints and runs the truncating ones (module docstring).

    The committer calls ``committed()`` on the event loop after every commit that wrote
    rows (a counter and two comparisons), runs the passive checkpoint it asks for and
    reports it with ``passive_done``; ``storage_full()`` after a commit failed on a full
    disk.
    """

    def __init__(
        self,
        path: Path,
        *,
        budget_bytes: int = CHECKPOINT_BUDGET_BYTES,
        interval: float = CHECKPOINT_INTERVAL,
        idle: float = CHECKPOINT_IDLE,
    ) -> None:
        self._path = path
        self._budget = budget_bytes
        self._interval = interval
        self._idle = idle
        self._conn: sqlite3.Connection | None = None
        self._commits = 0
        """Commits since the last checkpoint."""
        self._commits_due = _FIRST_DUE
        """Commits after which the WAL is estimated to pass the budget."""
        self._last = time.monotonic()
        self._last_commit = 0.0
        self._passive = False
        """A passive checkpoint is running on the writer's connection."""
        self._clean = False
        """The WAL was truncated and nothing was committed since."""
        self._full = False
        """A commit failed with a full disk; no truncating checkpoint or commit succeeded since."""
        self._retry_at = 0.0
        """After a failed or busy truncating checkpoint: no other one before this time."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._truncating: asyncio.Future[tuple[int, int, int]] | None = None
        """The truncating checkpoint running in a worker thread (it cannot be cancelled)."""
        self.checkpoints = 0
        """Checkpoints that completed (passive or truncating)."""
        self.failures = 0
        """Checkpoints that failed (busy, disk full, I/O error)."""

    def start(self) -> None:
        """Start the truncating task (on the running loop)."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"eventlog-checkpoint:{self._path}"
        )

    async def stop(self) -> None:
        """Stop the task (waiting for a checkpoint in progress) and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._truncating is not None:  # its thread still uses the connection
            await asyncio.wait([self._truncating])
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    def committed(self) -> bool:
        """The writer committed a batch that wrote rows; whether to checkpoint now."""
        self._commits += 1
        now = self._last_commit = time.monotonic()
        if self._clean:
            self._clean = False  # the task waits for a wake only while the WAL is clean
            self._wake.set()
        room_again = self._full  # a commit went through after a full disk
        if room_again:
            self._full = False
            self._retry_at = 0.0
            log.info("eventlog.checkpoint.room_again", path=str(self._path))
        if self._passive:
            return False
        due = self._commits >= self._commits_due or now - self._last >= self._interval
        if due or room_again:
            self._passive = True
            return True
        return False

    def passive_done(self, outcome: Checkpointed | BaseException) -> None:
        """The passive checkpoint ``committed()`` asked for finished (or failed)."""
        self._passive = False
        self._last = time.monotonic()
        commits, self._commits = self._commits, 0
        if isinstance(outcome, BaseException):
            self._failed("PASSIVE", outcome)
            return
        busy, frames, copied, page_size = outcome
        self.checkpoints += 1
        if frames > 0 and commits > 0:
            per_commit = max(1.0, frames / commits)
            self._commits_due = max(1, int(self._budget / (per_commit * page_size)))
        log.debug(
            "eventlog.checkpoint.complete",
            path=str(self._path),
            mode="PASSIVE",
            busy=busy,
            frames=frames,
            copied=copied,
        )

    def storage_full(self) -> None:
        """A commit failed because the disk (or the size cap) is full."""
        self._full = True
        self._clean = False
        self._wake.set()

    async def _run(self) -> None:
        while True:
            wait = self._truncate_in(time.monotonic())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), None if self._clean else wait)
                self._wake.clear()
                continue
            await self._truncate()

    def _truncate_in(self, now: float) -> float:
        """Seconds until a truncating checkpoint is due (<= 0: now)."""
        if self._clean:
            return self._idle
        if now < self._retry_at:
            return self._retry_at - now
        if self._full:
            return 0.0
        return self._last_commit + self._idle - now

    async def _truncate(self) -> None:
        started = self._last = time.monotonic()
        try:
            self._truncating = asyncio.ensure_future(asyncio.to_thread(self._run_truncate))
            busy, frames, copied = await asyncio.shield(self._truncating)
        except sqlite3.Error as exc:
            self._retry_at = time.monotonic() + self._interval
            self._failed("TRUNCATE", exc)
            return
        if busy:
            self._retry_at = time.monotonic() + self._interval
            return
        self.checkpoints += 1
        self._commits = 0
        self._clean = self._last_commit <= started
        if self._full:
            self._full = False
            log.info("eventlog.checkpoint.recovered", path=str(self._path), frames=frames)
        log.debug(
            "eventlog.checkpoint.complete",
            path=str(self._path),
            mode="TRUNCATE",
            frames=frames,
            copied=copied,
        )

    def _failed(self, mode: str, exc: BaseException) -> None:
        self.failures += 1
        log.warning("eventlog.checkpoint.failed", path=str(self._path), mode=mode, error=str(exc))

    def _run_truncate(self) -> tuple[int, int, int]:
        """In a worker thread: ``PRAGMA wal_checkpoint(TRUNCATE)``; (busy, frames, copied)."""
        if self._conn is None:
            self._conn = sqlite3.connect(
                self._path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(busy), int(frames), int(copied)
