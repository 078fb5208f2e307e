"""Open an event log read-only for the viewer, turning every failure into one clear line.

The viewer never writes: the log is opened with ``SqliteEventLog.open_readonly``
(``mode=ro`` connections with ``query_only``), so it is safe beside a running writer.
SQLite may still create the empty ``-wal``/``-shm`` side files a WAL database needs
for reading; the log itself is not modified. Where it cannot (a read-only mount, a
directory the user may not write to) and no ``-wal`` file holds commits, the log is
opened as an immutable file instead (``events._sqlite_immutable``) and one line on
stderr says so: a running writer's changes are then not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from events import (
    EventLogError,
    InvalidLogFile,
    LogFromNewerVersion,
    SqliteEventLog,
    StorageUnavailable,
)
from events._sqlite_immutable import readonly_mode
from runtime.inspect._errors import InspectError

__all__ = ["check_path", "immutable_note", "open_log"]

_SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file."""


def check_path(path: Path) -> None:
    """Refuse a path that cannot be a readable log file, with a message saying why.

    Raises:
        InspectError: The path is missing, a directory, unreadable, or not SQLite.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InspectError(f"no event log at {path}: the file does not exist") from None
    except PermissionError:
        raise InspectError(f"cannot reach {path}: permission denied on a directory") from None
    except OSError as exc:
        raise InspectError(f"cannot read {path}: {exc.strerror}") from None
    if os.path.isdir(path):
        raise InspectError(f"{path} is a directory; pass the event log file inside it")
    if info.st_size == 0:
        raise InspectError(f"{path} is an empty file, not an event log")
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except PermissionError:
        raise InspectError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise InspectError(f"cannot read {path}: {reason}") from None
    if head != _SQLITE_HEADER:
        raise InspectError(
            f"{path} is not an SQLite database (wrong header), so not an event log; "
            "pass the path of a log a runtime wrote"
        )


def translate(exc: EventLogError, path: Path) -> InspectError:
    """The viewer's message for an error the event log raised about ``path``.

    ``InvalidLogFile`` (not SQLite, not an event log, damaged) and
    ``LogFromNewerVersion`` already say what is wrong with which file and what to do.
    """
    if isinstance(exc, InvalidLogFile | LogFromNewerVersion):
        return InspectError(str(exc))
    if isinstance(exc, StorageUnavailable) and str(path) not in str(exc):
        return InspectError(f"cannot read {path}: {exc}")
    return InspectError(str(exc))


def immutable_note(path: Path) -> str:
    """The line saying a log was opened as an immutable file, and what that means."""
    return (
        f"opened read-only as immutable: {path} (its directory is not writable, so SQLite "
        "cannot create its -shm file); changes by a running writer are not seen"
    )


def _checked(path: str | Path) -> Path:
    """``path`` made absolute (once: the cwd must not matter later), after ``check_path``."""
    where = Path(os.path.abspath(path))
    check_path(where)
    return where


@contextlib.asynccontextmanager
async def open_log(path: str | Path, *, err: TextIO | None = None) -> AsyncIterator[SqliteEventLog]:
    """Open the log at ``path`` read-only for the body of the ``async with``.

    Errors the log raises while opening *or reading* (a damaged page found late, say)
    come out as ``InspectError`` with a one-line message. When the log's directory is
    not writable it is opened as an immutable file, said in one line on ``err``
    (default ``sys.stderr``).

    Raises:
        InspectError: Missing, not a file, not SQLite, not an event log, from a newer
            release, damaged or unreadable.
    """
    where = await asyncio.to_thread(_checked, path)
    try:
        immutable = await asyncio.to_thread(readonly_mode, where) == "immutable"
        log = await SqliteEventLog.open_readonly(where, immutable=immutable)
    except EventLogError as exc:
        raise translate(exc, where) from exc
    if immutable:
        (err if err is not None else sys.stderr).write(immutable_note(where) + "\n")
    try:
        yield log
    except EventLogError as exc:
        raise translate(exc, where) from exc
    finally:
        await log.close()
