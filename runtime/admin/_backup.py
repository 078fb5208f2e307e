"""``backup LOG DEST``: a consistent, verified copy of an SQLite event log.

Safe beside a running writer (``runtime.admin._backup_copy``: SQLite's online backup
API inside one read snapshot; the writer is never blocked). The copy is written to a
hidden ``.partial`` file next to DEST, then verified before it takes DEST's name:

- opened read-only as an event log, with every check ``inspect verify`` runs
  (integrity, gap-free positions and stream versions, well-typed rows, snapshots,
  every event decodes);
- it holds exactly the events the source held at the snapshot (same count, same last
  position).

A failed copy or check leaves no DEST behind. DEST may not exist (``--force`` replaces
a file, never a log in use: one with a ``-wal``/``-shm`` file beside it) and may not be
LOG. A PostgreSQL log is backed up with ``pg_dump``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sqlite3
from pathlib import Path
from typing import Any, TextIO

import msgspec

from events import EventLogError, SqliteEventLog
from events._sqlite_immutable import readonly_mode
from events._sqlite_schema import translate
from runtime._open_log import is_postgres_url
from runtime._progress import Progress
from runtime.admin._backup_copy import BackupSnapshot, Step, copy_log, discard
from runtime.admin._errors import UNREACHABLE, AdminError
from runtime.inspect._render import Style
from runtime.inspect._verify import VerifyReport, run_verify

__all__ = ["add_backup_parser", "backup_log", "render_backup", "run_backup"]

PROGRESS_ABOVE_PAGES = 10_000
"""Show progress on stderr when the log has more pages than this (about 40 MiB)."""
_SIDE_FILES = ("-wal", "-shm")


def add_backup_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``backup`` subcommand's arguments."""
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help="copy LOG to DEST consistently (safe beside a running writer), then verify DEST",
    )
    backup.add_argument("log", metavar="LOG", help="the event log file (SQLite)")
    backup.add_argument("dest", metavar="DEST", help="the backup file to write (must not exist)")
    backup.add_argument("--force", action="store_true", help="replace DEST if it exists")


async def run_backup(args: argparse.Namespace, err: TextIO) -> dict[str, Any]:
    """Back ``args.log`` up to ``args.dest``; the reply (what was copied and checked).

    Raises:
        AdminError: A bad LOG or DEST (exit 2); the log cannot be read, DEST written,
            or the copy failed a check (exit 3).
    """
    if args.serve is not None:
        raise AdminError("backup works on the log file, not through a serve: drop --serve")
    if is_postgres_url(args.log):
        raise AdminError(
            "backup copies an SQLite log file; back a PostgreSQL log up with pg_dump "
            "(e.g. pg_dump --format=custom --file=BACKUP URL)"
        )
    return await backup_log(Path(args.log), Path(args.dest), force=args.force, err=err)


async def backup_log(
    log: Path,
    dest: Path,
    *,
    force: bool = False,
    err: TextIO | None = None,
    pages: int | None = None,
    step: Step | None = None,
) -> dict[str, Any]:
    """Copy ``log`` to ``dest`` and verify the copy (see the module docstring).

    ``err``: where progress goes for a big log; ``pages``/``step``: pages per backup step
    and a callback after each (tests use them to write while the copy runs).
    """
    source, target = await asyncio.to_thread(_check_paths, log, dest, force)
    immutable = await _check_source(source)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    await asyncio.to_thread(discard, partial)
    try:
        snapshot = await _copy(source, partial, err, (pages, step, immutable))
        report = await _verify(partial, snapshot, err)
        await asyncio.to_thread(os.replace, partial, target)
    finally:
        await asyncio.to_thread(discard, partial)
    return {
        "log": str(source),
        "dest": str(target),
        "events": snapshot.events,
        "last_position": snapshot.last_position,
        "pages": snapshot.pages,
        "bytes": (await asyncio.to_thread(target.stat)).st_size,
        "checks": [msgspec.to_builtins(c) for c in report.checks],
    }


def render_backup(reply: dict[str, Any]) -> list[str]:
    """Text lines: what was copied where, and that it was verified."""
    return [
        f"backed up {reply['events']} events (positions through {reply['last_position']}, "
        f"{reply['bytes']} bytes) from {reply['log']} to {reply['dest']}",
        f"verified: {len(reply['checks'])} checks of inspect verify passed on the copy, "
        "and it holds every event the log held when the copy began",
    ]


def _check_paths(log: Path, dest: Path, force: bool) -> tuple[Path, Path]:
    """LOG and DEST made absolute, after refusing a pair that cannot be backed up."""
    source, target = Path(os.path.abspath(log)), Path(os.path.abspath(dest))
    if not source.is_file():
        what = "a directory" if source.is_dir() else "no file"
        raise AdminError(f"{source} is {what}: pass the event log file to back up")
    real = Path(os.path.realpath(target))
    own = {Path(os.path.realpath(f"{source}{end}")) for end in ("", *_SIDE_FILES)}
    if real in own or (target.exists() and os.path.samefile(source, target)):
        raise AdminError(f"DEST {target} is the log itself: name a new file for the backup")
    if not target.parent.is_dir():
        raise AdminError(f"DEST's directory {target.parent} does not exist: create it first")
    if target.is_dir():
        raise AdminError(f"DEST {target} is a directory: name the backup file inside it")
    in_use = [f"{target.name}{end}" for end in _SIDE_FILES if Path(f"{target}{end}").exists()]
    if in_use:
        raise AdminError(
            f"DEST {target} has {', '.join(in_use)} beside it: it looks like a log in use. "
            "Stop its writer or remove those files, or back up to another name"
        )
    if target.exists() and not force:
        raise AdminError(f"DEST {target} exists: pass --force to replace it, or name a new file")
    return source, target


async def _check_source(source: Path) -> bool:
    """Refuse, with the log's own message, a file that is not a readable event log;
    whether to read it as an immutable file (a read-only directory)."""
    try:
        immutable = await asyncio.to_thread(readonly_mode, source) == "immutable"
        opened = await SqliteEventLog.open_readonly(source, immutable=immutable)
    except EventLogError as exc:
        raise AdminError(f"cannot back up {source}: {_line(exc)}", UNREACHABLE) from None
    await opened.close()
    return immutable


async def _copy(
    source: Path, partial: Path, err: TextIO | None, how: tuple[int | None, Step | None, bool]
) -> BackupSnapshot:
    pages, step, immutable = how
    bar: Progress | None = None

    def each(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and err is not None and total > PROGRESS_ABOVE_PAGES:
            bar = Progress(total, label="backup (pages)", stream=err)
        if bar is not None:
            bar.advance(done - bar.count)
        if step is not None:
            step(done, total)

    kwargs = {} if pages is None else {"pages": pages}
    try:
        return await asyncio.to_thread(
            copy_log, source, partial, step=each, immutable=immutable, **kwargs
        )
    except sqlite3.Error as exc:
        problem = translate(exc, source, "backup")
        raise AdminError(f"backup of {source} failed: {_line(problem)}", UNREACHABLE) from None
    except OSError as exc:
        raise AdminError(f"cannot write {partial}: {exc.strerror}", UNREACHABLE) from None
    finally:
        if bar is not None:
            bar.close()


async def _verify(partial: Path, snapshot: BackupSnapshot, err: TextIO | None) -> VerifyReport:
    """Run ``inspect verify``'s checks on the copy (its decode pass shows progress on
    ``err`` when that is a terminal and the log big); compare it with the snapshot."""
    try:
        copy = await SqliteEventLog.open_readonly(partial)
    except EventLogError as exc:
        raise AdminError(
            f"the copy does not open as an event log: {_line(exc)}", UNREACHABLE
        ) from None
    out = io.StringIO()
    try:
        shown = err if err is not None else io.StringIO()
        await run_verify(copy, json=True, style=Style(), out=out, err=shown)
        last = await copy.last_position()
    finally:
        await copy.close()
    report = msgspec.json.decode(out.getvalue(), type=VerifyReport)
    if not report.ok:
        failed = "; ".join(f"{c.check}: {c.detail}" for c in report.checks if c.status == "failed")
        raise AdminError(f"the copy failed verification ({failed}); DEST not written", UNREACHABLE)
    if (report.events, last) != (snapshot.events, snapshot.last_position):
        raise AdminError(
            f"the copy holds {report.events} events through position {last}, the log held "
            f"{snapshot.events} through {snapshot.last_position}; DEST not written",
            UNREACHABLE,
        )
    return report


def _line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
