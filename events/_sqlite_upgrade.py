"""Upgrading a format-1 SQLite log (one ``events`` table of names and JSON) to format 2.

Runs when a writer opens an old file: one transaction under the write lock, so a crash
or a failure leaves the old file as it was, and another process opening it meanwhile
waits, then finds it upgraded. Progress is logged every ``_PROGRESS`` rows.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from events._errors import InvalidLogFile
from events._logger import get_logger
from events._sqlite_codec import TypeInfo, first_dictionary, pack, tag_prefix

__all__ = ["upgrade"]

log = get_logger(__name__)

_CHUNK = 10_000
_PROGRESS = 100_000

_COPY = (
    "SELECT position, CAST(stream AS TEXT), stream_version, timestamp, CAST(type AS TEXT), "
    "schema_version, idempotency_key, payload FROM events_v1 ORDER BY position"
)
_KEPT = ("TABLE snapshots", "TABLE meta")
"""Tables format 1 already has, unchanged in format 2."""
_INSERT = "INSERT INTO log_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def upgrade(conn: sqlite3.Connection, path: Path, ddl: str, version: int) -> None:
    """Rewrite a format-1 log in place as format ``version`` (in one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
            conn.execute("ROLLBACK")  # another process upgraded it while we waited
            return
        started = time.monotonic()
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        log.info("eventlog.upgrade.started", path=str(path), events=total, to_version=version)
        conn.execute("ALTER TABLE events RENAME TO events_v1")
        for statement in ddl.split(";"):
            if statement.strip() and not any(t in statement for t in _KEPT):
                conn.execute(statement)
        streams = _copy_streams(conn)
        try:
            _copy_events(conn, path, streams, total)
        except (KeyError, TypeError, ValueError) as exc:  # a damaged row: nothing changed
            raise InvalidLogFile(
                f"cannot upgrade event log {path} to format {version}: a row is damaged "
                f"({exc!r}); the file was left as it was. Check it with `python -m "
                f"runtime.inspect {path} verify`, or restore it from a backup"
            ) from exc
        conn.execute("DROP TABLE events_v1")
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),)
        )
        conn.execute(f"PRAGMA user_version={int(version)}")
        conn.execute("COMMIT")
        seconds = round(time.monotonic() - started, 3)
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        log.info(
            "eventlog.upgrade.done",
            path=str(path),
            events=total,
            seconds=seconds,
            free_pages=free,
            hint=f"the file keeps its size (new rows reuse the free pages); to shrink it, run "
            f"`sqlite3 {path} VACUUM` while no process has it open",
        )
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _copy_streams(conn: sqlite3.Connection) -> dict[str, int]:
    conn.execute(
        "INSERT INTO log_streams (name, version) SELECT CAST(stream AS TEXT), max(stream_version) "
        "FROM events_v1 GROUP BY CAST(stream AS TEXT) ORDER BY min(position)"
    )
    return {name: sid for sid, name in conn.execute("SELECT id, name FROM log_streams")}


def _copy_events(conn: sqlite3.Connection, path: Path, streams: dict[str, int], total: int) -> None:
    types: dict[str, TypeInfo] = {}
    chunk: list[tuple[object, ...]] = []
    done = 0
    reader = conn.cursor()
    for position, stream, version, stamp, name, schema, key, payload in reader.execute(_COPY):
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        info = types.get(name)
        if info is None:
            prefix = tag_prefix(name)
            dictionary = first_dictionary(raw, prefix)
            row = conn.execute(
                "INSERT INTO log_types (name, dictionary) VALUES (?, ?) RETURNING id",
                (name, dictionary),
            ).fetchone()
            info = types[name] = TypeInfo(int(row[0]), name, dictionary, prefix)
        stored = pack(info, raw) if isinstance(payload, bytes) else payload
        chunk.append((position, streams[stream], version, stamp, info.id, schema, key, stored))
        if len(chunk) >= _CHUNK:
            done += _flush(conn, chunk)
            if done % _PROGRESS < _CHUNK:
                log.info("eventlog.upgrade.progress", path=str(path), copied=done, of=total)
    _flush(conn, chunk)


def _flush(conn: sqlite3.Connection, chunk: list[tuple[object, ...]]) -> int:
    conn.executemany(_INSERT, chunk)
    count = len(chunk)
    chunk.clear()
    return count
