"""One group commit on PostgreSQL: the locked transaction, its checks and its writes.

The transaction takes ``pg_advisory_xact_lock(COMMIT_LOCK)`` first, then reads the last
position (``max(position)``, or the compaction mark if larger) and numbers its rows from
there. The lock is held until COMMIT, and PostgreSQL marks a transaction committed
before it releases its locks, so the next committer's snapshot (taken after it gets the
lock) includes every earlier commit: positions are gap-free and become visible in order.

Per-append checks are planned in memory against what the transaction read
(``events._postgres_plan``), as in the SQLite log: an ``expected_version`` mismatch fails
that append alone; an idempotency key already stored returns the earlier positions.

The rows other writers committed since this log object last delivered (positions above
``delivered``) are read in the same transaction, so they are delivered, in order, before
this batch's own events.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from events._postgres_plan import (
    AppendRequest,
    Plan,
    StreamCache,
    missing_streams,
    plan_batch,
    remember,
)
from events._postgres_schema import CHANNEL, COMMIT_LOCK

__all__ = ["COLUMNS", "LAST_POSITION", "STREAM_VERSION", "WriteResult", "write_batch"]

COLUMNS = (
    "position, stream, stream_version, timestamp, type, schema_version, idempotency_key, payload"
)

LAST_POSITION = (
    "SELECT greatest(coalesce((SELECT max(position) FROM llmrt_events), 0), "
    "coalesce((SELECT value::bigint FROM llmrt_meta WHERE key = 'compacted_through'), 0))"
)
"""The last committed position; compaction never lowers it, even if it deleted them all."""

STREAM_VERSION = (
    "coalesce((SELECT max(stream_version) FROM llmrt_events WHERE stream = {s}), "
    "(SELECT version FROM llmrt_stream_floors WHERE stream = {s}), 0)"
)
"""A stream's version: its last retained event's, else the version compaction kept."""

_VERSIONS = (
    f"SELECT s.i, {STREAM_VERSION.format(s='s.stream')} "
    "FROM unnest($1::text[]) WITH ORDINALITY AS s(stream, i)"
)
_KEYS = (
    "SELECT e.idempotency_key, e.position, (SELECT count(*) FROM llmrt_events x "
    "WHERE x.idempotency_key >= e.idempotency_key || chr(31) "
    "AND x.idempotency_key < e.idempotency_key || chr(32)) "
    "FROM llmrt_events e WHERE e.idempotency_key = ANY($1::text[])"
)
_INSERT = (
    f"INSERT INTO llmrt_events ({COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::text[], "
    "$3::bigint[], $4::float8[], $5::text[], $6::int[], $7::text[], $8::bytea[])"
)
_FOREIGN = f"SELECT {COLUMNS} FROM llmrt_events WHERE position > $1 ORDER BY position"

WriteResult = tuple[Plan, list[Any]]
"""The batch's plan (outcomes, rows, last position) and the foreign rows before it."""


class BatchAborted(Exception):
    """The writer was cancelled before COMMIT; the batch was rolled back."""


async def write_batch(
    conn: Any,
    requests: Sequence[AppendRequest],
    cache: StreamCache,
    now: float,
    delivered: int | None,
    abort: threading.Event,
) -> WriteResult:
    """Plan and write one batch in one locked transaction.

    ``delivered``: read and return the rows above it (None: do not read them). ``cache``
    is updated only after COMMIT.
    """
    await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({COMMIT_LOCK})")
    try:
        last = int(await conn.fetchval(LAST_POSITION))
        foreign: list[Any] = []
        if delivered is not None and last > delivered:
            foreign = await conn.fetch(_FOREIGN, delivered)
        if last != cache.last:  # another writer appended: our versions may be stale
            cache.versions.clear()
        versions = dict(cache.versions)
        versions.update(await _fetch_versions(conn, missing_streams(requests, cache)))
        stored = await _stored_keys(conn, [r[3] for r in requests if r[3] is not None])
        plan = plan_batch(requests, last, versions, stored, now)
        if plan.rows:
            await conn.execute(_INSERT, *(list(column) for column in zip(*plan.rows, strict=True)))
        if abort.is_set():
            raise BatchAborted("the event log writer was cancelled before COMMIT")
        notify = f"NOTIFY {CHANNEL}, '{plan.last}'; " if plan.rows else ""
        await conn.execute(f"{notify}COMMIT")
    except asyncio.CancelledError:
        conn.terminate()  # the server rolls back whatever had not committed
        raise
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            try:
                await conn.execute("ROLLBACK")
            except Exception:
                conn.terminate()  # broken: the server rolls back when it sees it gone
        raise
    remember(cache, plan)
    return plan, foreign


async def _fetch_versions(conn: Any, missing: list[str]) -> dict[str, int]:
    if not missing:
        return {}
    rows = await conn.fetch(_VERSIONS, missing)
    return {missing[int(index) - 1]: int(version) for index, version in rows}


async def _stored_keys(conn: Any, keys: list[str]) -> dict[str, tuple[int, ...]]:
    """Positions of the earlier appends made with any of ``keys`` (one query)."""
    if not keys:
        return {}
    found: dict[str, tuple[int, ...]] = {}
    for key, first, more in await conn.fetch(_KEYS, keys):
        found[key] = tuple(range(first, first + 1 + int(more)))
    return found
