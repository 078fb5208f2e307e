"""The SQLite event log's file format: DDL, opening, validation and error translation.

Everything here runs synchronously on a ``sqlite3.Connection`` inside the owning
aiosqlite connection's thread (see :func:`run_sync`), so one open or one batch costs one
hop between the event loop and that thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote

import aiosqlite

from events._errors import (
    EventLogError,
    InvalidLogFile,
    LogFromNewerVersion,
    StorageFull,
    StorageUnavailable,
)
from events._sqlite_upgrade import upgrade

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Durability",
    "connect",
    "prepare_readonly",
    "prepare_writer",
    "run_sync",
    "translate",
]

T = TypeVar("T")

Durability = Literal["normal", "full"]

APPLICATION_ID = 0x45564C47
"""``PRAGMA application_id`` of our files: ASCII ``EVLG``; tells our logs from other DBs."""

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` this release writes; a larger one is a newer release's file."""

WAL_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite's own automatic checkpoint, after ~40 MB of WAL: a backstop only. The writer
checkpoints on its own budget (``events._sqlite_checkpoint``: passive every ~8 MiB or
2 s between batches, truncating when idle or after a full disk); SQLite's default of
4 MB checkpoints inside a commit, and with many small group commits that made them the
largest cost (measured: ~+40-80 % append throughput). ``close()`` truncates the WAL."""

_SQLITE_MAGIC = b"SQLite format 3\x00"

_DDL = """
CREATE TABLE log_streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL
);
CREATE TABLE log_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dictionary BLOB NOT NULL
);
CREATE TABLE log_events (
    position INTEGER PRIMARY KEY,
    stream INTEGER NOT NULL,
    version INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    type INTEGER NOT NULL,
    schema INTEGER NOT NULL,
    key TEXT,
    payload BLOB NOT NULL
);
CREATE UNIQUE INDEX log_events_stream ON log_events (stream, version);
CREATE UNIQUE INDEX log_events_key ON log_events (key) WHERE key IS NOT NULL;
CREATE INDEX log_events_type ON log_events (type);
CREATE TABLE snapshots (
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    created REAL NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (name, position)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIEW events AS
    SELECT e.position, s.name AS stream, e.version AS stream_version, e.timestamp,
        t.name AS type, e.schema AS schema_version, e.key AS idempotency_key, e.payload
    FROM log_events AS e
    JOIN log_streams AS s ON s.id = e.stream
    JOIN log_types AS t ON t.id = e.type;
"""
"""File format 2. Stream and type names are interned (``log_streams``, ``log_types``);
a stream's version lives in its ``log_streams`` row, so it survives compaction and is
read in O(1). Payloads are packed (``events._sqlite_codec``). The ``events`` view shows
the rows in format 1's shape (names instead of ids; the payload stays packed)."""

_OUR_TABLES = frozenset({"log_events", "log_streams", "log_types", "snapshots", "meta"})
_V1_TABLES = frozenset({"events", "snapshots", "meta"})


async def run_sync(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(raw_sqlite3_connection, *args)`` in ``conn``'s own thread, in one hop.

    aiosqlite's public API costs one thread hop per statement; a group-commit batch
    (BEGIN, lookups, executemany, COMMIT) and a page fetch are cheaper as one call, and
    running them as one function also makes a batch atomic with respect to the loop: a
    cancelled awaiter cannot leave a transaction open between two hops. ``_execute`` is
    aiosqlite's queue-to-thread primitive (stable since 0.x); this is its only use.
    """
    execute = cast(Callable[..., Awaitable[Any]], conn._execute)
    return cast(T, await execute(lambda: fn(conn._conn, *args)))


def readonly_uri(path: Path) -> str:
    """The ``file:`` URI opening ``path`` read-only (reader connections, viewers)."""
    return f"file:{quote(str(path))}?mode=ro"


async def connect(path: Path, *, readonly: bool, busy_timeout: float) -> aiosqlite.Connection:
    """Open an aiosqlite connection in autocommit mode (we issue BEGIN/COMMIT ourselves)."""
    target = readonly_uri(path) if readonly else str(path)
    try:
        # aiosqlite's failed connect leaves its worker thread to report to the event
        # loop later (possibly after it closed): find unopenable paths without it.
        await asyncio.to_thread(_probe, target, readonly)
        return await aiosqlite.connect(
            target, uri=readonly, isolation_level=None, timeout=busy_timeout
        )
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc


def _probe(target: str, readonly: bool) -> None:
    sqlite3.connect(target, uri=readonly).close()


def check_header(path: Path) -> None:
    """Refuse a file that exists but is not SQLite, before SQLite sees it."""
    if path.is_dir():
        raise InvalidLogFile(f"{path} is a directory; pass the path of the event log file")
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageUnavailable(f"cannot read event log {path}: {exc.strerror}") from exc
    if head and head != _SQLITE_MAGIC:
        raise InvalidLogFile(
            f"{path} is not an SQLite database (wrong header); it is not an event log. "
            "Pass the path of an event log, or a new path to create one"
        )
    if head and not Path(f"{path}-wal").exists():
        _check_settled(path)


def _check_settled(path: Path) -> None:
    """Validate a file with no WAL beside it through an ``immutable`` connection.

    With no ``-wal`` file the main file holds every commit, and an immutable read takes
    no lock and creates no ``-wal``/``-shm`` files: another application's database (even
    one in WAL mode) is refused without a single byte written next to it.
    """
    try:
        conn = sqlite3.connect(f"{readonly_uri(path)}&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc
    try:
        if not _is_empty(conn):
            _validate(conn, path)
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc
    finally:
        conn.close()


def prepare_writer(
    conn: sqlite3.Connection, path: Path, durability: Durability, max_page_count: int | None
) -> None:
    """Configure the writer connection, then validate the file or create the schema."""
    check_header(path)
    try:
        # Validate before the first write (switching to WAL rewrites the header): a
        # database that is not our log must be left byte-for-byte as it was.
        empty = _is_empty(conn)
        version = SCHEMA_VERSION if empty else _validate(conn, path)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageUnavailable(
                f"cannot switch {path} to WAL mode (got {mode!r}); use a local file system"
            )
        sync = "FULL" if durability == "full" else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        if max_page_count is not None:
            conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")
        if empty:
            _create(conn, path)
        elif version < SCHEMA_VERSION:
            upgrade(conn, path, _DDL, SCHEMA_VERSION)
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc


def prepare_readonly(conn: sqlite3.Connection, path: Path) -> int:
    """Validate a file opened read-only (an uninitialised file is not a log yet); its
    schema version (format 1 files are read as they are, without upgrading them)."""
    check_header(path)
    try:
        conn.execute("PRAGMA query_only=ON")
        if _is_empty(conn):
            raise InvalidLogFile(
                f"{path} is an empty database, not an event log yet; open it for writing "
                "once (SqliteEventLog.open) to create the log"
            )
        return _validate(conn, path)
    except sqlite3.Error as exc:
        raise translate(exc, path, "open") from exc


def _is_empty(conn: sqlite3.Connection) -> bool:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return bool(app_id == 0 and version == 0 and tables == 0)


def _create(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-check inside the write lock: another process may have created it meanwhile.
        if not _is_empty(conn):
            conn.execute("ROLLBACK")
            if _validate(conn, path) < SCHEMA_VERSION:
                upgrade(conn, path, _DDL, SCHEMA_VERSION)
            return
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('format', ?)",
            (str(SCHEMA_VERSION), "events.SqliteEventLog"),
        )
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _validate(conn: sqlite3.Connection, path: Path) -> int:
    """Check the file is our log, of a format this release reads; its schema version."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id != APPLICATION_ID:
        raise InvalidLogFile(
            f"{path} is an SQLite database but not an event log (application_id={app_id}, "
            f"tables: {', '.join(sorted(tables)) or 'none'}); pass another path"
        )
    if version > SCHEMA_VERSION:
        raise LogFromNewerVersion(
            f"{path} has log schema version {version}, newer than the {SCHEMA_VERSION} this "
            "release reads; upgrade this package to open it"
        )
    missing = (_V1_TABLES if version == 1 else _OUR_TABLES) - tables
    if version < 1 or missing:
        raise InvalidLogFile(
            f"{path} is marked as an event log but is incomplete (schema version {version}, "
            f"missing tables: {', '.join(sorted(missing)) or 'none'}); restore it from a backup"
        )
    return int(version)


def translate(exc: sqlite3.Error, path: Path, doing: str) -> EventLogError:
    """Map an sqlite3 error to our error tree, with a message a user can act on."""
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return StorageFull(
            f"event log {path} is full ({exc}); nothing of this {doing} was written. "
            "Free disk space or raise the size limit, then retry"
        )
    if code == sqlite3.SQLITE_NOTADB:
        return InvalidLogFile(
            f"{path} is not an SQLite database ({exc}); pass the path of an event log"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return InvalidLogFile(
            f"event log {path} is damaged ({exc}); restore it from a backup or run "
            f"`sqlite3 {path} .recover`"
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StorageUnavailable(
            f"event log {path} is locked by another connection or process ({exc}); "
            f"the {doing} gave up after the busy timeout. Stop the other writer and retry"
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return StorageUnavailable(
            f"cannot {doing} event log {path} ({exc}); check that its directory exists and "
            "is writable (SQLite creates -wal and -shm files next to the log)"
        )
    return StorageUnavailable(f"event log {path}: {doing} failed: {exc}")
