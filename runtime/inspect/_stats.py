"""``stats``: what the log holds (counts by type, size, time span, requests).

Aggregates are SQL queries on one read-only ``sqlite3`` connection (``mode=ro``,
``query_only``) inside one read transaction, so they see one consistent snapshot and
need no memory per event, even on a log of millions of events.

``--since``/``--until`` restrict every count (events, types, streams, requests, span) to
the events committed inside the window (``_stats_window`` finds its positions). The file
size is still the whole file's (a window has no size of its own): the text says so.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

import msgspec

from events import EventLogError, EventRegistry, SqliteEventLog, default_registry
from events._sqlite_immutable import immutable_uri
from events._sqlite_schema import readonly_uri, translate
from runtime.inspect._errors import InspectError
from runtime.inspect._render import Style, Table, colorize, dumps_json, render_table, utc_iso
from runtime.inspect._stats_window import Window, window_where

__all__ = ["LogStats", "RequestCounts", "Window", "collect_stats", "in_snapshot", "run_stats"]

T = TypeVar("T")

_BUSY_TIMEOUT = 5.0


class RequestCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Requests by outcome, counted from their routing events."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    fell_back: int = 0
    """Requests that switched to a fallback model at least once."""


class LogStats(msgspec.Struct, frozen=True, kw_only=True):
    """What ``stats`` reports (also its ``--json`` output)."""

    path: str
    events: int
    first_position: int | None
    last_position: int | None
    first_time: str | None
    """Append time of the first event, ISO-8601 UTC."""
    last_time: str | None
    span_seconds: float
    """Seconds between the first and the last append."""
    file_bytes: int
    wal_bytes: int
    """Size of the ``-wal`` file (commits not yet checkpointed into the main file)."""
    streams: int
    unknown: int
    """Events whose type (or schema version) this release does not know."""
    by_type: dict[str, int]
    requests: RequestCounts
    compacted_through: int = 0
    """Events 1..this were deleted by compaction (retention); 0: never compacted."""
    compacted_at: str | None = None
    """When the last compaction ran, ISO-8601 UTC."""
    since: str | None = None
    """``--since``: only events committed at or after it are counted (ISO-8601 UTC)."""
    until: str | None = None
    """``--until``: only events committed at or before it are counted (ISO-8601 UTC)."""


def in_snapshot(
    path: Path, work: Callable[[sqlite3.Connection], T], *, immutable: bool = False
) -> T:
    """Run ``work`` on a read-only connection inside one read transaction (blocking).

    ``immutable``: the log was opened as an immutable file (``SqliteEventLog.immutable``,
    a directory SQLite cannot write to): read it the same way.

    Raises:
        InspectError: SQLite failed (damaged file, locked, I/O error).
    """
    try:
        uri = immutable_uri(path) if immutable else readonly_uri(path)
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=_BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise InspectError(str(translate(exc, path, "open"))) from None
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("BEGIN")  # one snapshot for every query of ``work``
        return work(conn)
    except sqlite3.Error as exc:
        raise InspectError(str(translate(exc, path, "read"))) from None
    finally:
        conn.close()


class _Aggregates(msgspec.Struct, frozen=True):
    count: int
    first: int | None
    last: int | None
    first_ts: float | None
    last_ts: float | None
    streams: int
    by_type_version: list[tuple[str, int, int]]
    fell_back: int


def _aggregate(conn: sqlite3.Connection, window: Window | None = None) -> _Aggregates:
    where, p = ("1 = 1", []) if window is None else window_where(conn, window)
    count, first, last = conn.execute(
        f"SELECT count(*), min(position), max(position) FROM events WHERE {where}", p
    ).fetchone()
    first_ts = conn.execute(
        f"SELECT timestamp FROM events WHERE {where} ORDER BY position LIMIT 1", p
    ).fetchone()
    last_ts = conn.execute(
        f"SELECT timestamp FROM events WHERE {where} ORDER BY position DESC LIMIT 1", p
    ).fetchone()
    streams = conn.execute(f"SELECT count(DISTINCT stream) FROM events WHERE {where}", p)
    rows = conn.execute(
        f"SELECT type, schema_version, count(*) FROM events WHERE {where} "
        "GROUP BY type, schema_version",
        p,
    ).fetchall()
    fell_back = conn.execute(
        f"SELECT count(DISTINCT stream) FROM events WHERE {where} AND type = 'FallbackSwitched'",
        p,
    ).fetchone()[0]
    return _Aggregates(
        count=int(count),
        first=first,
        last=last,
        first_ts=None if first_ts is None else float(first_ts[0]),
        last_ts=None if last_ts is None else float(last_ts[0]),
        streams=int(streams.fetchone()[0]),
        by_type_version=[(str(t), int(v), int(n)) for t, v, n in rows],
        fell_back=int(fell_back),
    )


def _unknown(rows: list[tuple[str, int, int]], registry: EventRegistry) -> int:
    """Events of a type this release lacks, or of a schema version newer than it writes."""
    known = registry.types
    return sum(
        n for name, version, n in rows if name not in known or version > known[name].schema_version
    )


def _sizes(path: Path) -> tuple[int, int]:
    wal = Path(f"{path}-wal")
    return os.path.getsize(path), os.path.getsize(wal) if wal.exists() else 0


async def collect_stats(
    log: SqliteEventLog, registry: EventRegistry = default_registry, window: Window | None = None
) -> LogStats:
    """Gather the statistics of the (open, read-only) log, or of the events in ``window``.

    Raises:
        InspectError: The file could not be read.
    """
    found = await asyncio.to_thread(
        in_snapshot, log.path, lambda conn: _aggregate(conn, window), immutable=log.immutable
    )
    try:
        file_bytes, wal_bytes = await asyncio.to_thread(_sizes, log.path)
    except OSError as exc:
        raise InspectError(f"cannot read the size of {log.path}: {exc.strerror}") from None
    by_type: dict[str, int] = {}
    for name, _, n in found.by_type_version:
        by_type[name] = by_type.get(name, 0) + n
    first_ts, last_ts = found.first_ts, found.last_ts
    bounds = await log.bounds()
    return LogStats(
        path=str(log.path),
        events=found.count,
        first_position=found.first,
        last_position=found.last,
        first_time=None if first_ts is None else utc_iso(first_ts),
        last_time=None if last_ts is None else utc_iso(last_ts),
        span_seconds=0.0 if first_ts is None or last_ts is None else last_ts - first_ts,
        file_bytes=file_bytes,
        wal_bytes=wal_bytes,
        streams=found.streams,
        unknown=_unknown(found.by_type_version, registry),
        by_type=dict(sorted(by_type.items(), key=lambda item: (-item[1], item[0]))),
        requests=RequestCounts(
            started=by_type.get("RequestStarted", 0),
            succeeded=by_type.get("RequestSucceeded", 0),
            failed=by_type.get("RequestFailed", 0),
            cancelled=by_type.get("RequestCancelled", 0),
            fell_back=found.fell_back,
        ),
        compacted_through=bounds.compacted_through,
        compacted_at=None if bounds.compacted_at is None else utc_iso(bounds.compacted_at),
        since=None if window is None or window.since is None else utc_iso(window.since),
        until=None if window is None or window.until is None else utc_iso(window.until),
    )


def human_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_span(seconds: float) -> str:
    """``3725`` -> ``1h 2m 5s``; ``0.25`` -> ``0.25 s``."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def _summary(stats: LogStats) -> list[tuple[str, str]]:
    """The ``stats`` header as (label, value) pairs."""
    windowed = stats.since is not None or stats.until is not None
    empty = "none in the window" if windowed else "empty"
    positions = (
        f"positions {stats.first_position}..{stats.last_position}" if stats.events else empty
    )
    span = "-"
    if stats.first_time is not None and stats.last_time is not None:
        span = f"{stats.first_time} .. {stats.last_time} ({human_span(stats.span_seconds)})"
    r = stats.requests
    in_flight = r.started - r.succeeded - r.failed - r.cancelled
    requests = (
        f"{r.started} started: {r.succeeded} succeeded, {r.failed} failed, "
        f"{r.cancelled} cancelled, {r.fell_back} fell back"
        + (f", {in_flight} unfinished" if in_flight > 0 and not windowed else "")
    )
    compacted = []
    if stats.compacted_through:
        compacted = [
            (
                "compacted",
                f"positions 1..{stats.compacted_through} at {stats.compacted_at} (older "
                "events were compacted away; see `range`)",
            )
        ]
    size = f"{human_bytes(stats.file_bytes)} (+ {human_bytes(stats.wal_bytes)} WAL)"
    window = []
    if windowed:
        size += " (the whole file, not the window)"
        window = [("window", f"{stats.since or 'start'} .. {stats.until or 'end'} (commit times)")]
    return [
        *window,
        ("events", f"{stats.events} ({positions})"),
        *compacted,
        ("time span", span),
        ("file size", size),
        ("streams", str(stats.streams)),
        ("unknown", f"{stats.unknown}" + (" (run verify for details)" if stats.unknown else "")),
        ("requests", requests),
    ]


def render_stats(stats: LogStats, style: Style) -> str:
    """The terminal form of ``stats``: a summary, then counts by type."""
    lines = [colorize(f"Event log {stats.path}", "bold", style)]
    pairs = _summary(stats)
    label_width = max(len(label) for label, _ in pairs)
    lines += [f"  {colorize(label.ljust(label_width), 'dim', style)}  {v}" for label, v in pairs]
    total = stats.events or 1
    table = Table(
        title="Events by type",
        headers=("type", "count", "share"),
        rows=tuple((name, str(n), f"{100 * n / total:.1f}%") for name, n in stats.by_type.items()),
    )
    return "\n".join([*lines, "", render_table(table, style)])


async def run_stats(
    log: SqliteEventLog, *, json: bool, style: Style, out: TextIO, window: Window | None = None
) -> int:
    """Write the log's statistics (a JSON object with ``json``); returns 0.

    Args:
        window: Count only the events committed inside it (None: all).

    Raises:
        InspectError: The file could not be read, or the window ends before it starts.
    """
    since, until = (None, None) if window is None else (window.since, window.until)
    if since is not None and until is not None and until < since:
        raise InspectError(
            f"--until ({utc_iso(until)}) is before --since ({utc_iso(since)}): "
            "no event can be in that window"
        )
    try:
        stats = await collect_stats(log, window=window)
    except EventLogError as exc:
        raise InspectError(str(exc)) from exc
    out.write((dumps_json(stats) if json else render_stats(stats, style)) + "\n")
    return 0
