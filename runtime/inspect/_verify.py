"""``verify``: is the log intact? Integrity, gap-free positions and versions, decoding.

Checks, each reported as ok, warning or failed:

- SQLite's ``PRAGMA integrity_check`` passes;
- positions are gap-free from 1 (they are unique and increasing by construction);
- every stream's versions are gap-free from 1 and increase with position;
- on a compacted log (retention), positions start after ``compacted_through`` and a
  stream's versions after its compacted ones: that missing prefix is not damage, and a
  ``compaction`` line says what was deleted when;
- every row has well-typed columns, a timestamp between 2000 and now + 1 day, and
  payload numbers that are finite and not absurd (``_verify_rows``);
- every snapshot has a sound checksum and equals a replay of the events it summarises
  (``_verify_snapshots``);
- every event decodes. An event of a type (or schema version) this release does not
  know is a *warning*, not a failure: a newer release wrote it and the log is fine
  (``--strict`` makes it a failure); an undecodable payload is a failure.

The SQL checks run in one read snapshot; the decode pass reads every event in pages
(bounded memory) up to the last position of that snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

import msgspec

from events import EventLogError, SqliteEventLog, UnknownEvent
from runtime._progress import Progress
from runtime.inspect._errors import InspectError
from runtime.inspect._range import describe_compaction
from runtime.inspect._render import Style, Table, colorize, dumps_json, render_table
from runtime.inspect._stats import in_snapshot
from runtime.inspect._verify_rows import RowFacts, absurd_numbers, collect_row_facts, row_checks
from runtime.inspect._verify_snapshots import SnapshotRow, check_snapshots, collect_snapshots
from runtime.inspect._verify_types import Check

__all__ = ["Check", "Decoding", "SqlFacts", "VerifyReport", "checks_of", "run_verify"]

_SHOW = 5
"""Offending positions or streams named per problem."""
_PROGRESS_ABOVE = 100_000
"""Show a progress bar (on a terminal) when the decode pass reads more events than this."""


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``verify`` reports (also its ``--json`` output)."""

    path: str
    events: int
    ok: bool
    checks: tuple[Check, ...]
    unknown_by_reason: dict[str, int]
    """Events that did not decode, by kind of reason."""


class SqlFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the SQL pass found."""

    integrity: tuple[str, ...]
    count: int
    first: int
    last: int
    gaps: tuple[tuple[int, int], ...]
    """The first few missing position ranges ``(from, to)``."""
    streams: int
    bad_streams: tuple[str, ...]
    """The first few streams whose versions are not 1..n."""
    bad_stream_count: int
    out_of_order: int
    """Events whose stream version is lower than that of an earlier event of its stream."""
    compacted_through: int = 0
    """Positions 1..this were compacted away (retention): missing on purpose."""


def _gaps(
    conn: sqlite3.Connection, count: int, first: int, last: int, compacted: int
) -> list[tuple[int, int]]:
    gaps = [(compacted + 1, first - 1)] if first > compacted + 1 else []
    if count == last - first + 1:
        return gaps
    starts = conn.execute(
        "SELECT position FROM events AS e WHERE position < ? AND NOT EXISTS "
        "(SELECT 1 FROM events WHERE position = e.position + 1) ORDER BY position LIMIT ?",
        (last, _SHOW),
    ).fetchall()
    for (before,) in starts:
        after = conn.execute(
            "SELECT min(position) FROM events WHERE position > ?", (before,)
        ).fetchone()[0]
        gaps.append((before + 1, after - 1))
    return gaps


def collect_facts(conn: sqlite3.Connection, compacted: int = 0) -> SqlFacts:
    """Run the SQL checks on ``conn`` (a read-only connection in a read transaction);
    ``compacted``: the log's ``compacted_through`` (what is missing before it is not)."""
    integrity = tuple(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    count, first, last = conn.execute(
        "SELECT count(*), coalesce(min(position), ?), coalesce(max(position), ?) FROM events",
        (compacted + 1, compacted),
    ).fetchone()
    # After compaction a stream may start past version 1 (its first events went).
    start = "min(stream_version) != 1 OR " if not compacted else ""
    bad_streams = (
        "SELECT stream FROM events GROUP BY stream "
        f"HAVING {start}max(stream_version) - min(stream_version) + 1 != count(*)"
    )
    bad = [row[0] for row in conn.execute(f"{bad_streams} LIMIT ?", (_SHOW,))]
    bad_count = conn.execute(f"SELECT count(*) FROM ({bad_streams})").fetchone()[0]
    out_of_order = conn.execute(
        "SELECT count(*) FROM events AS a JOIN events AS b ON b.stream = a.stream "
        "AND b.stream_version = a.stream_version + 1 WHERE b.position < a.position"
    ).fetchone()[0]
    return SqlFacts(
        integrity=integrity,
        count=int(count),
        first=int(first),
        last=int(last),
        gaps=tuple(_gaps(conn, int(count), int(first), int(last), compacted)),
        streams=int(conn.execute("SELECT count(DISTINCT stream) FROM events").fetchone()[0]),
        bad_streams=tuple(str(s) for s in bad),
        bad_stream_count=int(bad_count),
        out_of_order=int(out_of_order),
        compacted_through=compacted,
    )


def reason_kind(reason: str) -> str:
    """Group an ``UnknownEvent.reason`` into a kind: unknown type, newer schema, corrupt."""
    if reason.startswith("unknown type"):
        return "unknown type"
    if reason.startswith("schema version"):
        return "newer schema version"
    return "undecodable payload"


@dataclass
class Decoding:
    """What the decode pass found (filled in as it reads)."""

    read: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    positions: dict[str, list[int]] = field(default_factory=dict)
    types: Counter[str] = field(default_factory=Counter)
    """Type names of the events that did not decode (any kind)."""
    absurd: int = 0
    """Decoded events holding a non-finite or absurd number."""
    absurd_at: list[int] = field(default_factory=list)


async def decode_all(log: SqliteEventLog, last: int, progress: Progress | None) -> Decoding:
    """Read every event up to ``last`` and tally the ones that do not decode."""
    found = Decoding()
    async with contextlib.aclosing(log.read(1, to_position=last)) as events:
        async for stored in events:
            found.read += 1
            if progress is not None and found.read % 1_000 == 0:
                progress.advance(1_000)
            event = stored.event
            if isinstance(event, UnknownEvent):
                kind = reason_kind(event.reason)
                found.by_kind[kind] += 1
                found.types[stored.type] += 1
                shown = found.positions.setdefault(kind, [])
                if len(shown) < _SHOW:
                    shown.append(stored.position)
            elif absurd_numbers(event):
                found.absurd += 1
                if len(found.absurd_at) < _SHOW:
                    found.absurd_at.append(stored.position)
    if progress is not None:
        progress.advance(found.read % 1_000)
    return found


def _positions(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def checks_of(facts: SqlFacts, decoded: Decoding, *, strict: bool) -> list[Check]:
    """Turn what was found into one ``Check`` per property (pure)."""
    found = [_integrity_check(facts), _position_check(facts), _stream_check(facts)]
    bad = decoded.by_kind["undecodable payload"]
    if bad:
        where = _positions(decoded.positions["undecodable payload"])
        found.append(
            Check(
                check="decoding", status="failed", detail=f"{bad} undecodable events (at {where})"
            )
        )
    else:
        found.append(Check(check="decoding", status="ok", detail=f"{decoded.read} events decode"))
    unknown = decoded.by_kind["unknown type"] + decoded.by_kind["newer schema version"]
    if unknown:
        kinds = [k for k in ("unknown type", "newer schema version") if decoded.by_kind[k]]
        where = _positions(sorted(p for k in kinds for p in decoded.positions[k])[:_SHOW])
        types = ", ".join(f"{t} ({n})" for t, n in decoded.types.most_common(_SHOW))
        detail = f"{unknown} events this release cannot read ({types}; at {where})"
        status = "failed" if strict else "warning"
        found.append(Check(check="unknown types", status=status, detail=detail))
    return found


def _integrity_check(facts: SqlFacts) -> Check:
    if facts.integrity == ("ok",):
        return Check(check="integrity", status="ok", detail="PRAGMA integrity_check: ok")
    shown = "; ".join(facts.integrity[:_SHOW])
    return Check(check="integrity", status="failed", detail=f"integrity_check: {shown}")


def _position_check(facts: SqlFacts) -> Check:
    held = facts.compacted_through
    if not facts.gaps:
        span = f"{held + 1}..{facts.last}" if facts.count else "none (empty log)"
        span += f" (1..{held} compacted)" if held else ""
        return Check(check="positions", status="ok", detail=f"gap-free: {span}")
    missing = facts.last - held - facts.count if facts.count else 0
    ranges = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in facts.gaps)
    detail = f"{missing} positions missing (first gaps: {ranges})"
    return Check(check="positions", status="failed", detail=detail)


def _stream_check(facts: SqlFacts) -> Check:
    problems = []
    if facts.bad_stream_count:
        names = ", ".join(facts.bad_streams)
        problems.append(f"{facts.bad_stream_count} streams with version gaps ({names})")
    if facts.out_of_order:
        problems.append(f"{facts.out_of_order} stream versions out of position order")
    if problems:
        return Check(check="stream versions", status="failed", detail="; ".join(problems))
    detail = f"gap-free in {facts.streams} streams"
    return Check(check="stream versions", status="ok", detail=detail)


def render_verify(report: VerifyReport, style: Style) -> str:
    """The terminal form of ``verify``: one row per check, then the verdict."""
    table = Table(
        title=f"Verify {report.path} ({report.events} events)",
        headers=("check", "status", "detail"),
        rows=tuple((c.check, c.status, c.detail) for c in report.checks),
    )
    failed = sum(1 for c in report.checks if c.status == "failed")
    verdict = (
        colorize("OK: the log is intact", "good", style)
        if report.ok
        else colorize(f"FAILED: {failed} problem(s) found", "bad", style)
    )
    return f"{render_table(table, style)}\n{verdict}"


async def run_verify(
    log: SqliteEventLog,
    *,
    json: bool,
    style: Style,
    out: TextIO,
    err: TextIO,
    strict: bool = False,
) -> int:
    """Verify the log and write the report; returns 0 when intact, 1 when not."""
    try:
        bounds = await log.bounds()
        compacted = bounds.compacted_through
        facts, rows, snapshots = await asyncio.to_thread(
            in_snapshot, log.path, lambda conn: _collect(conn, compacted), immutable=log.immutable
        )
        decoded = await _decode(log, facts, err)
        snapshot_check = await check_snapshots(log, snapshots, compacted)
    except (InspectError, EventLogError) as exc:
        # A file damaged beyond reading is the clearest failure verify can report.
        unreadable = Check(check="readable", status="failed", detail=str(exc))
        report = VerifyReport(
            path=str(log.path), events=0, ok=False, checks=(unreadable,), unknown_by_reason={}
        )
    else:
        checks = checks_of(facts, decoded, strict=strict)
        checks += row_checks(rows, (decoded.absurd, tuple(decoded.absurd_at)))
        checks.append(snapshot_check)
        note = describe_compaction(bounds)
        if note is not None:  # the missing prefix is retention's doing, not damage
            checks.insert(0, Check(check="compaction", status="ok", detail=note))
        report = VerifyReport(
            path=str(log.path),
            events=facts.count,
            ok=all(c.status != "failed" for c in checks),
            checks=tuple(checks),
            unknown_by_reason=dict(sorted(decoded.by_kind.items())),
        )
    out.write((dumps_json(report) if json else render_verify(report, style)) + "\n")
    return 0 if report.ok else 1


def _collect(
    conn: sqlite3.Connection, compacted: int
) -> tuple[SqlFacts, RowFacts, list[SnapshotRow]]:
    """Every SQL pass, in one read snapshot."""
    facts = collect_facts(conn, compacted)
    return facts, collect_row_facts(conn, time.time()), collect_snapshots(conn, facts.last)


async def _decode(log: SqliteEventLog, facts: SqlFacts, err: TextIO) -> Decoding:
    """The decode pass, with a progress bar on a terminal when it is long."""
    isatty = getattr(err, "isatty", None)
    show = facts.count > _PROGRESS_ABOVE and callable(isatty) and bool(isatty())
    progress = Progress(facts.count, label="decoding", stream=err, tty=True) if show else None
    try:
        return await decode_all(log, facts.last, progress)
    finally:
        if progress is not None:
            progress.close()
