"""Reading the SQLite event log: filtered keyset pages, decoding, a reader pool.

Each page is one query and one ``fetchmany`` in the reader connection's thread; no
connection or read transaction is held while a consumer sits at a ``yield``, so an
abandoned iterator leaks nothing and never pins the WAL.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from math import isfinite
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from events._base import StoredEvent, UnknownEvent
from events._codec import EventRegistry
from events._errors import EventLogClosed
from events._read_filter import PAGE_SIZE, ReadFilter
from events._sqlite_codec import TypeTable, unpack
from events._sqlite_immutable import connect_immutable
from events._sqlite_rows import COLUMNS, FROM, Row
from events._sqlite_rows import KEY_SEPARATOR as _SEP
from events._sqlite_schema import connect, run_sync, translate

__all__ = ["PAGE_SIZE", "Filter", "ReaderPool", "decode_rows", "fetch_page"]

T = TypeVar("T")

_V1_COLUMNS = (
    "position, stream, stream_version, timestamp, type, schema_version, idempotency_key, payload"
)


@dataclass(frozen=True, slots=True)
class Filter(ReadFilter):
    """A read's filters (``ReadFilter``), with the type ids a format-2 file reads by."""

    type_ids: tuple[int, ...] | None = None
    """Format 2: the ids of ``types`` (set by ``with_type_ids``)."""

    def query(
        self, after: int, after_version: int | None, limit: int, *, v1: bool = False
    ) -> tuple[str, list[Any]]:
        """SQL and parameters for the next page after ``after`` (a position).

        A stream read pages on the stream's version (same order as position within a
        stream) so it walks the ``(stream, version)`` index instead of scanning the
        stream on every page. ``v1``: the query for a format-1 file (read-only opens).
        """
        if v1:
            return self._query_v1(after, after_version, limit)
        if self.stream is None and self.type_ids is not None and len(self.type_ids) > 1:
            return self._query_types(after, limit)
        where = ["e.position > ?"]
        params: list[Any] = [after]
        if self.to_position is not None:
            where.append("e.position <= ?")
            params.append(self.to_position)
        order = "e.position"
        if self.stream is not None:
            where.append("e.stream = (SELECT id FROM log_streams WHERE name = ?) AND e.version > ?")
            params += [self.stream, after_version or 0]
            order = "e.version"
        if self.type_ids is not None:  # one id: the index yields rows in position order
            where.append(f"e.type IN ({','.join('?' * len(self.type_ids))})")
            params += self.type_ids
        elif self.types is not None:
            marks = ",".join("?" * len(self.types))
            where.append(f"e.type IN (SELECT id FROM log_types WHERE name IN ({marks}))")
            params += self.types
        if self.since is not None:
            where.append("e.timestamp >= ?")
            params.append(self.since)
        if self.until is not None:
            where.append("e.timestamp <= ?")
            params.append(self.until)
        sql = f"SELECT {COLUMNS} FROM {FROM} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        params.append(limit)
        return sql, params

    def _query_types(self, after: int, limit: int) -> tuple[str, list[Any]]:
        """A page of several types: each type's next ``limit`` rows from the ``type``
        index (already in position order), merged.

        Asking for ``type IN (...) ORDER BY position`` instead makes SQLite collect every
        later row of those types and sort them, for every page: a read of a large log
        grew with its square (minutes for the web view's start on a 1M-event log).
        """
        assert self.type_ids is not None
        bounds = ["position > ?"]
        extra: list[Any] = [after]
        if self.to_position is not None:
            bounds.append("position <= ?")
            extra.append(self.to_position)
        if self.since is not None:
            bounds.append("timestamp >= ?")
            extra.append(self.since)
        if self.until is not None:
            bounds.append("timestamp <= ?")
            extra.append(self.until)
        each = (
            f"SELECT position FROM (SELECT position FROM log_events WHERE type = ? AND "
            f"{' AND '.join(bounds)} ORDER BY position LIMIT ?)"
        )
        params: list[Any] = []
        for type_id in self.type_ids:
            params += [type_id, *extra, limit]
        merged = " UNION ALL ".join([each] * len(self.type_ids))
        sql = (
            f"SELECT {COLUMNS} FROM {FROM} WHERE e.position IN ({merged}) "
            "ORDER BY e.position LIMIT ?"
        )
        params.append(limit)
        return sql, params

    def with_type_ids(self, types: TypeTable) -> Filter:
        """This filter for a format-2 file: type names replaced by their ids (a name
        the file has no row for matches nothing)."""
        if self.types is None:
            return self
        found = (types.by_name(name) for name in self.types)
        ids = tuple(info.id for info in found if info is not None)
        return Filter(self.to_position, self.stream, self.types, self.since, self.until, ids)

    def _query_v1(self, after: int, after_version: int | None, limit: int) -> tuple[str, list[Any]]:
        where = ["position > ?"]
        params: list[Any] = [after]
        if self.to_position is not None:
            where.append("position <= ?")
            params.append(self.to_position)
        order = "position"
        if self.stream is not None:
            where.append("stream = ? AND stream_version > ?")
            params += [self.stream, after_version or 0]
            order = "stream_version"
        if self.types is not None:
            where.append(f"type IN ({','.join('?' * len(self.types))})")
            params += self.types
        if self.since is not None:
            where.append("timestamp >= ?")
            params.append(self.since)
        if self.until is not None:
            where.append("timestamp <= ?")
            params.append(self.until)
        clause = " AND ".join(where)
        sql = f"SELECT {_V1_COLUMNS} FROM events WHERE {clause} ORDER BY {order} LIMIT ?"
        params.append(limit)
        return sql, params


def fetch_page(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], types: TypeTable | None = None
) -> list[Row]:
    """Run one page query (in the reader connection's thread); with ``types``, first
    load the type rows the page refers to and this process has not seen yet."""
    rows: list[Row] = conn.execute(sql, params).fetchall()
    if types is not None and rows:
        types.ensure(conn, {row[4] for row in rows if type(row[4]) is int})
    return rows


def decode_rows(rows: list[Row], registry: EventRegistry, types: TypeTable) -> list[StoredEvent]:
    """Decode a page; a corrupt row becomes a counted ``UnknownEvent``, never an error."""
    decode = registry.decode
    by_id = types.by_id
    out: list[StoredEvent] = []
    append = out.append
    for position, stream, version, timestamp, kind, schema, key, packed in rows:
        name: object = kind
        payload: object = packed
        damaged = ""
        if type(kind) is int:  # format 2: an interned type, a packed payload
            info = by_id(kind)
            if info is not None and type(packed) is bytes:
                name = info.name
                try:
                    payload = unpack(info, packed)
                except ValueError as exc:
                    damaged = str(exc)
        if (  # inline: this loop decodes every row of every read
            type(name) is not str
            or type(stream) is not str
            or type(timestamp) is not float
            or type(version) is not int
            or type(schema) is not int
            or type(payload) is not bytes
            or (key is not None and type(key) is not str)
            or not isfinite(timestamp)
        ):
            registry.unknown_count += 1
            append(_corrupt(position, stream, version, timestamp, name, schema, key, payload))
            continue
        assert type(name) is str and type(payload) is bytes  # checked just above
        try:
            if damaged:
                raise ValueError(damaged)
            event = decode(name, schema, payload)
        except ValueError as exc:
            registry.unknown_count += 1
            event = UnknownEvent(
                type=name, schema_version=schema, payload=payload, reason=f"undecodable: {exc}"
            )
        except Exception as exc:  # defensive: decode never raises for bad data
            registry.unknown_count += 1
            event = UnknownEvent(
                type=name, schema_version=schema, payload=payload, reason=f"corrupt row: {exc}"
            )
        if key is not None and _SEP in key:
            key = key.partition(_SEP)[0]  # row i > 0 of a keyed append stores key␟i
        append(
            StoredEvent(
                position=position,
                stream=stream,
                stream_version=version,
                timestamp=timestamp,
                type=name,
                schema_version=schema,
                idempotency_key=key,
                event=event,
            )
        )
    return out


def _corrupt(
    position: int,
    stream: object,
    version: object,
    timestamp: object,
    name: object,
    schema: object,
    key: object,
    payload: object,
) -> StoredEvent:
    """A row with a column of the wrong type, as a readable ``UnknownEvent``."""
    problems = [
        f"{column} is {type(value).__name__}"
        for column, value, want in (
            ("stream", stream, str),
            ("type", name, str),
            ("stream_version", version, int),
            ("schema_version", schema, int),
            ("payload", payload, bytes),
            ("timestamp", timestamp, float),
        )
        if type(value) is not want
    ]
    if type(timestamp) is float and not math.isfinite(timestamp):
        problems.append(f"timestamp is {timestamp}")
    if key is not None and type(key) is not str:
        problems.append(f"idempotency_key is {type(key).__name__}")
    stamp = float(timestamp) if isinstance(timestamp, int | float) else 0.0
    raw = payload if isinstance(payload, bytes) else str(payload).encode()
    event = UnknownEvent(
        type=str(name),
        schema_version=schema if type(schema) is int else -1,
        payload=raw,
        reason=f"corrupt row: {', '.join(problems)}",
    )
    return StoredEvent(
        position=position,
        stream=str(stream),
        stream_version=version if type(version) is int else -1,
        timestamp=stamp if math.isfinite(stamp) else 0.0,
        type=str(name),
        schema_version=event.schema_version,
        idempotency_key=key if type(key) is str else None,
        event=event,
    )


class ReaderPool:
    """Read-only aiosqlite connections, borrowed for one page at a time."""

    def __init__(
        self,
        path: Path,
        busy_timeout: float,
        types: TypeTable,
        keep: int = 4,
        *,
        immutable: bool = False,
    ) -> None:
        self.types = types
        """The type rows seen so far (shared with the log's writer)."""
        self._path = path
        self._busy_timeout = busy_timeout
        self._keep = keep
        self._immutable = immutable
        """Connect with ``immutable=1`` (``events._sqlite_immutable``)."""
        self._idle: list[aiosqlite.Connection] = []
        self._closed = False

    async def page(self, sql: str, params: Sequence[Any], *, events: bool = True) -> list[Row]:
        """Fetch one page on a pooled connection; ``EventLogClosed`` once closed.

        ``events``: the rows are events (load the type rows they refer to)."""
        types = self.types if events else None
        return await self.run(fetch_page, sql, params, types)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on a pooled connection, in its thread."""
        if self._closed:
            raise EventLogClosed(f"event log {self._path} is closed")
        conn = self._idle.pop() if self._idle else await self._open()
        try:
            return await run_sync(conn, fn, *args)
        except sqlite3.Error as exc:
            raise translate(exc, self._path, "read") from exc
        finally:
            if self._closed or len(self._idle) >= self._keep:
                await conn.close()
            else:
                self._idle.append(conn)

    async def load_types(self, names: Collection[str]) -> None:
        """Make sure the type rows of ``names`` are known, if the file has them."""
        types = self.types
        if any(types.by_name(name) is None for name in names):
            await self.run(types.load)  # all: ids below the highest known may be missing

    async def scalar(self, sql: str, params: Sequence[Any]) -> int:
        """The first column of the first row, as an int."""
        rows = await self.page(sql, params, events=False)
        return int(rows[0][0])

    async def snapshot(self, name: str, at_or_before: int | None) -> tuple[int, bytes] | None:
        """The latest snapshot row of ``name`` (at or before a position), if any."""
        bound = at_or_before if at_or_before is not None else 2**63 - 1
        rows = await self.page(
            "SELECT position, state FROM snapshots WHERE name = ? AND position <= ? "
            "ORDER BY position DESC LIMIT 1",
            (name, bound),
            events=False,
        )
        if not rows:
            return None
        row: tuple[int, bytes] = rows[0]  # type: ignore[assignment]  # not an events row
        return int(row[0]), bytes(row[1])

    async def _open(self) -> aiosqlite.Connection:
        if self._immutable:
            return await connect_immutable(self._path, busy_timeout=self._busy_timeout)
        return await connect(self._path, readonly=True, busy_timeout=self._busy_timeout)

    async def close(self) -> None:
        """Close idle connections; borrowed ones close when their page is done."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
