"""``verify``'s snapshot check: each snapshot's checksum, and its state against a replay.

Every stored snapshot must carry a sound checksum (``events._snapshot_seal``); one of a
runtime projection (health, router, catalog, quota, performance) must also equal the
state a replay of the events up to its position gives. Each projection is replayed once,
in position order, stopping at each of its snapshots, so the cost is one read of the log
per projection, not one per snapshot. A snapshot without a checksum (written by an older
release) is a warning when it matches the replay: the runtime ignores it anyway.

On a compacted log the events before ``compacted_through`` are gone: a projection's first
snapshot at or after it is the base (its checksum is all that can be checked) and the
later ones are compared with a replay from it; one before it cannot be checked at all.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import msgspec

from events import SqliteEventLog, replay
from events._replay import Projection
from events._snapshot_seal import MAGIC, unseal
from runtime._build import (
    CATALOG_PROJECTION,
    HEALTH_PROJECTION,
    QUOTA_PROJECTION,
    ROUTER_PROJECTION,
    performance_projection,
)
from runtime.inspect._verify_types import Check

__all__ = ["SnapshotRow", "check_snapshots", "collect_snapshots"]

_SHOW = 5
_PERFORMANCE = re.compile(r"runtime\.performance\.v1\.w([1-9][0-9]{0,6})")
_FIXED: dict[str, Projection[Any]] = {
    p.name: p for p in (HEALTH_PROJECTION, ROUTER_PROJECTION, CATALOG_PROJECTION, QUOTA_PROJECTION)
}

SnapshotRow = tuple[str, int, bytes]


def collect_snapshots(conn: sqlite3.Connection, last: int) -> list[SnapshotRow]:
    """Every snapshot row up to ``last`` as ``(name, position, stored bytes)``."""
    rows = conn.execute(
        "SELECT name, position, state FROM snapshots WHERE position <= ? ORDER BY name, position",
        (last,),
    ).fetchall()
    return [(str(n), int(p), bytes(s)) for n, p, s in rows if isinstance(s, bytes)]


def _projection(name: str) -> Projection[Any] | None:
    match = _PERFORMANCE.fullmatch(name)
    return performance_projection(int(match.group(1))) if match else _FIXED.get(name)


async def check_snapshots(
    log: SqliteEventLog, rows: list[SnapshotRow], compacted: int = 0
) -> Check:
    """Check every snapshot (``compacted``: the log's ``compacted_through``); one ``Check``."""
    bad: list[str] = []
    unverified = 0
    by_name: dict[str, list[tuple[int, bytes]]] = {}
    for name, position, data in rows:
        state, problem = unseal(name, position, data)
        if state is None and data.startswith(MAGIC):
            bad.append(f"{name}@{position}: {problem}")
            continue
        if state is None:
            unverified += 1
        by_name.setdefault(name, []).append((position, data if state is None else state))
    for name, snapshots in sorted(by_name.items()):
        projection = _projection(name)
        if projection is not None:
            bad += await _against_replay(log, projection, snapshots, compacted)
    if bad:
        shown = "; ".join(bad[:_SHOW])
        return Check(check="snapshots", status="failed", detail=f"{len(bad)} bad: {shown}")
    if unverified:
        detail = f"{unverified} of {len(rows)} without a checksum (ignored at start)"
        return Check(check="snapshots", status="warning", detail=detail)
    return Check(check="snapshots", status="ok", detail=f"{len(rows)} checked")


async def _against_replay(
    log: SqliteEventLog,
    projection: Projection[Any],
    snapshots: list[tuple[int, bytes]],
    compacted: int,
) -> list[str]:
    decoder = msgspec.json.Decoder(projection.state_type)
    state, done, bad = projection.initial, 0, []
    if compacted:
        kept = [(p, data) for p, data in snapshots if p >= compacted]
        if not kept:
            return []
        (done, data), snapshots = kept[0], kept[1:]
        try:
            state = decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return [f"{projection.name}@{done}: undecodable ({exc})"]
    for position, data in snapshots:
        state, _ = await replay(
            log,
            projection.evolve,
            state,
            stream=projection.stream,
            types=projection.types,
            from_position=done + 1,
            to_position=position,
        )
        done = position
        try:
            stored = decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad.append(f"{projection.name}@{position}: undecodable ({exc})")
            continue
        if stored != state:
            bad.append(f"{projection.name}@{position}: differs from a replay of the events")
    return bad
