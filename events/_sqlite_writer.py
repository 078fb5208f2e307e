"""Group commit for the SQLite event log: one writer task, one transaction per batch.

Callers put requests on a bounded queue; the writer takes everything queued (up to
``max_batch``), plans and writes them in ONE ``BEGIN IMMEDIATE … COMMIT`` run in the
connection's thread (:func:`write_batch`), and resolves each caller only after COMMIT.

Each batch first reads, under the write lock, the log's true last position: if other
writers (processes, other log objects on the file) committed since our last look, their
rows are read (for the commit hooks, delivered before our own batch) and the cached
versions of their streams dropped, so positions stay gap-free and every
``expected_version`` check sees their commits.

Per-request checks happen while planning, in memory, so one bad request never fails the
batch: an ``expected_version`` mismatch fails that request with ``ConcurrencyConflict``;
an idempotency key already stored (or used earlier in the same batch) returns the earlier
positions and writes nothing. Only a storage error fails the whole batch, which is then
rolled back whole.

Idempotency keys of multi-event appends: the first row stores ``key``, row ``i`` (from 1)
stores ``key + KEY_SEPARATOR + str(i)``. Callers' keys may not contain the separator, so
the stored keys of one append are exactly ``key`` plus the range ``[key␟, key␠)``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from events._appends import AppendRequest, EncodedEvent, Outcome, row_key, stored_events
from events._errors import ConcurrencyConflict
from events._sqlite_codec import TypeInfo, TypeTable, first_dictionary, pack, tag_prefix
from events._sqlite_rows import KEY_SEPARATOR, LAST_POSITION, Row, StreamCache, foreign_rows

__all__ = [
    "KEY_SEPARATOR",
    "AppendRequest",
    "BatchAborted",
    "BatchResult",
    "EncodedEvent",
    "Outcome",
    "SqliteLogStatistics",
    "StreamCache",
    "stored_events",
    "write_batch",
]

_KEY_RANGE_END = chr(ord(KEY_SEPARATOR) + 1)
_IN_CHUNK = 500  # stays well under SQLite's host-parameter limit
_STREAM_CACHE_MAX = 100_000
"""Streams whose version is cached; beyond it the cache restarts (misses cost a lookup)."""

_INSERT = "INSERT INTO log_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_NEW_STREAM = "INSERT INTO log_streams (id, name, version) VALUES (?, ?, ?)"
_VERSION = "UPDATE log_streams SET version = ? WHERE id = ?"
_SNAPSHOT = "INSERT OR REPLACE INTO snapshots (name, position, created, state) VALUES (?,?,?,?)"
# One statement for every stream a batch does not know: the names travel as one JSON
# array so the SQL text (and its cached statement) never changes; rows map back by
# array index, so no name has to survive a round trip through JSON.
_LOOKUP = (
    "SELECT j.key, s.id, s.version FROM json_each(?) AS j "
    "LEFT JOIN log_streams AS s ON s.name = j.value"
)


class SqliteLogStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the log's counters (read by ``runtime.inspect`` and ``/metrics``)."""

    queue_depth: int = 0
    """Requests waiting for the writer."""
    batches_committed: int = 0
    """Transactions committed since open."""
    batches_failed: int = 0
    """Batches rolled back by a storage error since open."""
    appends_committed: int = 0
    """``append`` calls resolved by a commit (idempotent repeats and conflicts included)."""
    events_committed: int = 0
    """Event rows written since open."""
    average_batch_size: float = 0.0
    """Appends per committed batch, on average."""
    last_batch_size: int = 0
    """Appends in the last committed batch."""
    last_commit_latency: float = 0.0
    """Seconds from handing the last batch to the connection's thread to its COMMIT being
    seen by the event loop (thread hops and any wait behind the batch before it included)."""
    unknown_count: int = 0
    """Events this log handed out as ``UnknownEvent``."""


class BatchAborted(Exception):
    """The writer was cancelled before COMMIT; the batch was rolled back."""


@dataclass(slots=True)
class BatchResult:
    """What a committed batch (or a tail poll) did, for the callers and the hooks."""

    outcomes: list[Outcome]
    """One per append request, in order: positions, or the conflict to raise."""
    versions: list[int]
    """One per append request: the stream version of its first event, or 0 if it wrote
    nothing (a conflict, or an idempotent repeat)."""
    rows: int
    """Event rows inserted."""
    timestamp: float
    """The time stamped on the batch's events."""
    foreign: list[Row] = field(default_factory=list)
    """Rows other writers committed since our last look (before this batch's)."""
    after: int = 0
    """The position delivered up to before ``foreign`` (a gap after it: compacted)."""
    last: int = 0
    """The log's last position after this batch."""


@dataclass(slots=True)
class _Plan:
    conn: sqlite3.Connection
    last: int
    cached: Mapping[str, int]
    versions: dict[str, int]
    """Every stream of the batch not in ``cached``: its version as the batch goes on."""
    ids: Mapping[str, int]
    """Stream ids known before the batch (``StreamCache.ids``)."""
    types: TypeTable
    rows: list[tuple[object, ...]] = field(default_factory=list)
    batch_keys: dict[str, tuple[int, ...]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    first_versions: list[int] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)
    """Every stream the batch appends to, and its id."""
    new_ids: dict[str, int] = field(default_factory=dict)
    """Streams new to the file, and the ids they get (cached only after COMMIT)."""
    next_id: int = -1
    new_types: dict[str, TypeInfo] = field(default_factory=dict)
    """Types new to the file (shared only after COMMIT)."""


def write_batch(
    conn: sqlite3.Connection,
    requests: Sequence[AppendRequest],
    snapshots: Sequence[tuple[str, int, bytes]],
    cache: StreamCache,
    types: TypeTable,
    now: float,
    abort: threading.Event,
    hooked: bool,
) -> BatchResult:
    """Plan and write one batch in one transaction (runs in the writer's thread).

    ``cache`` is updated only after COMMIT. ``abort`` is set by a cancelled writer: the
    batch then rolls back instead of committing. ``hooked``: read other writers' new
    rows for the commit hooks (else only forget what they made stale).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute(LAST_POSITION).fetchone()[0]
        after = cache.last
        foreign = foreign_rows(conn, cache, last, hooked, types)
        versions = _fetch_versions(conn, requests, cache)
        plan = _Plan(conn, last, cache.versions, versions, cache.ids, types)
        stored = _stored_keys(conn, [r[3] for r in requests if r[3] is not None])
        for request in requests:
            _plan_one(plan, request, stored, now)
        if plan.rows:
            _write_rows(conn, plan)
        if snapshots:
            conn.executemany(_SNAPSHOT, [(n, p, now, s) for n, p, s in snapshots])
        if abort.is_set():
            raise BatchAborted("the event log writer was cancelled before COMMIT")
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    for info in plan.new_types.values():
        types.add(info)
    _remember(cache, plan)
    result = BatchResult(plan.outcomes, plan.first_versions, len(plan.rows), now)
    result.foreign, result.after, result.last = foreign, after, plan.last
    return result


def _write_rows(conn: sqlite3.Connection, plan: _Plan) -> None:
    """Insert the planned rows, the new streams, and the other streams' new versions."""
    conn.executemany(_INSERT, plan.rows)
    versions, new = plan.versions, plan.new_ids
    if new:
        conn.executemany(_NEW_STREAM, [(i, name, versions[name]) for name, i in new.items()])
    if len(plan.touched) > len(new):
        old = [(versions[name], i) for name, i in plan.touched.items() if name not in new]
        conn.executemany(_VERSION, old)


def _stream_id(plan: _Plan, stream: str) -> int:
    """The id of ``stream``: known, or the next free one (the write lock is held)."""
    known = plan.ids.get(stream)
    if known is not None:
        return known
    if plan.next_id < 0:
        highest = plan.conn.execute("SELECT coalesce(max(id), 0) FROM log_streams")
        plan.next_id = int(highest.fetchone()[0])
    plan.next_id += 1
    plan.new_ids[stream] = plan.next_id
    return plan.next_id


def _type_of(plan: _Plan, name: str, payload: bytes) -> TypeInfo:
    return (
        plan.types.by_name(name)
        or plan.new_types.get(name)
        or _type(plan.conn, name, payload, plan.types, plan.new_types)
    )


def _type(
    conn: sqlite3.Connection,
    name: str,
    payload: bytes,
    types: TypeTable,
    new_types: dict[str, TypeInfo],
) -> TypeInfo:
    """The ``log_types`` row of ``name``, added now (with its dictionary) if missing."""
    prefix = tag_prefix(name)
    row = conn.execute("SELECT id, dictionary FROM log_types WHERE name = ?", (name,)).fetchone()
    if row is not None:
        info = TypeInfo(int(row[0]), name, bytes(row[1]), prefix)
        types.add(info)  # committed by an earlier transaction: safe to share
        return info
    dictionary = first_dictionary(payload, prefix)
    new = conn.execute(
        "INSERT INTO log_types (name, dictionary) VALUES (?, ?) RETURNING id", (name, dictionary)
    ).fetchone()
    info = new_types[name] = TypeInfo(int(new[0]), name, dictionary, prefix)
    return info


def _remember(cache: StreamCache, plan: _Plan) -> None:
    """Fold a committed batch into the cache.

    When the cache restarts, the batch's streams keep their ids along with their
    versions: a stream whose version is cached must have its id cached too, or the next
    batch would give it a new id (and fail on ``log_streams``' unique name).
    """
    if len(cache.versions) > _STREAM_CACHE_MAX:
        kept = {name: cache.ids[name] for name in plan.versions if name in cache.ids}
        cache.versions.clear()
        cache.ids.clear()
        cache.ids.update(kept)
    cache.versions.update(plan.versions)
    cache.ids.update(plan.new_ids)
    cache.last = plan.last


def _fetch_versions(
    conn: sqlite3.Connection, requests: Sequence[AppendRequest], cache: StreamCache
) -> dict[str, int]:
    """The current version of every stream in ``requests`` that is not cached."""
    cached = cache.versions
    missing = list({r[0] for r in requests if r[0] not in cached})
    if not missing:
        return {}
    found: dict[str, int] = {}
    ids = cache.ids
    for index, stream_id, version in conn.execute(_LOOKUP, (json.dumps(missing),)):
        name = missing[index]
        found[name] = version or 0
        if stream_id is not None:
            ids[name] = stream_id
    return found


def _plan_one(
    plan: _Plan,
    request: AppendRequest,
    stored: Mapping[str, tuple[int, ...]],
    now: float,
) -> None:
    stream, encoded, expected, key = request
    if key is not None:
        earlier = plan.batch_keys.get(key) or stored.get(key)
        if earlier is not None:
            plan.outcomes.append(earlier)
            plan.first_versions.append(0)
            return
    current = plan.versions.get(stream)
    if current is None:
        current = plan.cached[stream]
    if expected is not None and expected != current:
        plan.outcomes.append(ConcurrencyConflict(stream, expected, current))
        plan.first_versions.append(0)
        return
    first = plan.last + 1
    stream_id = plan.touched.get(stream)
    if stream_id is None:
        stream_id = plan.touched[stream] = _stream_id(plan, stream)
    rows = plan.rows
    if len(encoded) == 1 and key is None:  # the common case, without the loop
        name, schema_version, payload = encoded[0]
        info = _type_of(plan, name, payload)
        packed = pack(info, payload)
        rows.append((first, stream_id, current + 1, now, info.id, schema_version, None, packed))
    else:
        for i, (name, schema_version, payload) in enumerate(encoded):
            info = _type_of(plan, name, payload)
            packed = pack(info, payload)
            version = current + 1 + i
            stored_key = row_key(key, i)
            rows.append(
                (first + i, stream_id, version, now, info.id, schema_version, stored_key, packed)
            )
    count = len(encoded)
    positions = tuple(range(first, first + count)) if count > 1 else (first,)
    plan.last += count
    plan.versions[stream] = current + count
    if key is not None:
        plan.batch_keys[key] = positions
    plan.outcomes.append(positions)
    plan.first_versions.append(current + 1)


def _stored_keys(conn: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[int, ...]]:
    """Positions of the earlier appends made with any of ``keys``."""
    found: dict[str, tuple[int, ...]] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT key, position FROM log_events WHERE key IN ({marks})"
        for key, position in conn.execute(sql, chunk):
            found[key] = _append_positions(conn, key, position)
    return found


def _append_positions(conn: sqlite3.Connection, key: str, first: int) -> tuple[int, ...]:
    # One append's rows are contiguous, so its positions are ``first`` plus one per
    # suffixed key (``key␟1``, ``key␟2``…), which sort in [key␟, key␠).
    more = conn.execute(
        "SELECT count(*) FROM log_events WHERE key >= ? AND key < ?",
        (key + KEY_SEPARATOR, key + _KEY_RANGE_END),
    ).fetchone()[0]
    return tuple(range(first, first + 1 + int(more)))
