"""Whether every request of a benchmark run reached the event log (read back afterwards).

A request's events go to stream ``request/<request_id>``: one ``RequestStarted`` first
and one terminal event (``RequestSucceeded``, ``RequestFailed`` or ``RequestCancelled``)
last. The log is read with ``sqlite3`` through the file's ``events`` view (stream and
type names; the payloads, packed in format 2, are not needed).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import msgspec

from events import PipelineStatistics

__all__ = ["LogCheck", "TERMINAL", "check_log", "print_log_check"]

TERMINAL = frozenset({"RequestSucceeded", "RequestFailed", "RequestCancelled"})


class LogCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What the log holds of the requests sent."""

    requests: int
    """Distinct request ids sent through the runtime."""
    complete: int
    """Of those, the ones with exactly one ``RequestStarted`` and one terminal event."""
    missing: tuple[str, ...]
    """Up to 5 ids that are not complete, for the report."""
    request_events: int
    """Events in the log's request streams."""
    events: int
    """Events in the log."""

    @property
    def dropped(self) -> int:
        return self.requests - self.complete


def check_log(path: Path, request_ids: Iterable[str]) -> LogCheck:
    """Read the closed log at ``path`` and check every id in ``request_ids``."""
    started: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT stream, type FROM events WHERE stream LIKE 'request/%'"
        ).fetchall()
        (events,) = db.execute("SELECT count(*) FROM events").fetchone()
    for stream, kind in rows:
        request_id = stream.removeprefix("request/")
        if kind == "RequestStarted":
            started[request_id] += 1
        elif kind in TERMINAL:
            ended[request_id] += 1
    wanted = set(request_ids)
    bad = sorted(r for r in wanted if started[r] != 1 or ended[r] != 1)
    return LogCheck(
        requests=len(wanted),
        complete=len(wanted) - len(bad),
        missing=tuple(bad[:5]),
        request_events=len(rows),
        events=events,
    )


def print_log_check(pipeline: PipelineStatistics, committed: int | None, check: LogCheck) -> bool:
    """Print the log's counters and the read-back; whether nothing was dropped."""
    print("event log:")
    if committed is not None:
        print(f"  events committed by the writer: {committed}; events in the file: {check.events}")
    appended = pipeline.background_appends + pipeline.failed_appends + pipeline.queued
    print(
        f"  background appends: {appended} appended = {pipeline.background_appends} committed "
        f"({pipeline.background_events} events) + {pipeline.failed_appends} failed "
        f"({pipeline.failed_events} events) + {pipeline.queued} still queued; "
        f"queue capacity {pipeline.capacity}"
    )
    print(
        f"  room waits: {pipeline.room_waits}, {pipeline.room_wait_seconds:.3f} s in all, "
        f"longest {pipeline.longest_room_wait * 1000:.1f} ms"
    )
    print(
        f"  read back: {check.complete} of {check.requests} runtime requests have their "
        f"RequestStarted and one terminal event ({check.request_events} request events, "
        f"{check.request_events / max(1, check.requests):.1f} per request)"
    )
    ok = check.dropped == 0 and pipeline.failed_appends == 0
    if not ok:
        print(f"  incomplete requests, e.g. {', '.join(check.missing)}")
    print(f"  target 0 events dropped: {check.dropped} dropped {'PASS' if ok else 'MISS'}")
    return ok
