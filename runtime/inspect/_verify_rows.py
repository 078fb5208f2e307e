"""``verify``'s row checks: every column has the type and a sane value, payload numbers too.

- *row shape*: ``stream`` and ``type`` are text, ``stream_version`` and
  ``schema_version`` integers, ``payload`` a blob (SQLite keeps whatever was written, so
  a damaged row can hold a number or bytes where a type name belongs), and ``type`` is a
  name (letters, digits, ``_`` and ``.``, not starting with a digit): a well-formed name
  this release does not know is an unknown type (a warning), ``42`` is damage;
- *timestamps*: numbers between ``EARLIEST`` (2000-01-01) and one day after now; a
  timestamp lower than the one before it is a *warning* (the wall clock stepped back,
  ``--at`` queries near it may be off), not damage;
- *payload numbers*: every number in a decoded event is finite and at most ``ABSURD``
  in size (no token count, latency or cost comes near it).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from typing import Any

import msgspec

from runtime._log_check import EARLIEST, FUTURE_SLACK
from runtime.inspect._verify_types import Check

__all__ = [
    "ABSURD",
    "EARLIEST",
    "RowFacts",
    "absurd_numbers",
    "collect_row_facts",
    "row_checks",
]

ABSURD = 1e15
"""A payload number larger than this (in size) is damage, not data."""

_SHOW = 5

_SHAPE = (
    "typeof(type) != 'text' OR typeof(stream) != 'text' OR typeof(payload) != 'blob' "
    "OR typeof(stream_version) != 'integer' OR typeof(schema_version) != 'integer' "
    "OR NOT type GLOB '[A-Za-z_]*' OR type GLOB '*[^A-Za-z0-9_.]*'"
)
_TIME = "typeof(timestamp) NOT IN ('real', 'integer') OR timestamp < ? OR timestamp > ?"
_BACKWARDS = (
    "SELECT position FROM (SELECT position, timestamp, "
    "lag(timestamp) OVER (ORDER BY position) AS before FROM events) "
    "WHERE timestamp < before"
)


class RowFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the row checks found: a count and the first few positions of each problem."""

    bad_shape: tuple[int, tuple[int, ...]]
    bad_time: tuple[int, tuple[int, ...]]
    backwards: tuple[int, tuple[int, ...]]


def _found(conn: sqlite3.Connection, select: str, params: tuple[Any, ...]) -> tuple[int, ...]:
    rows = conn.execute(f"{select} ORDER BY position LIMIT {_SHOW}", params).fetchall()
    return tuple(int(row[0]) for row in rows)


def _count(conn: sqlite3.Connection, select: str, params: tuple[Any, ...]) -> int:
    return int(conn.execute(f"SELECT count(*) FROM ({select})", params).fetchone()[0])


def collect_row_facts(conn: sqlite3.Connection, now: float) -> RowFacts:
    """Run the row checks on ``conn`` (read-only, in one read transaction)."""
    found: list[tuple[int, tuple[int, ...]]] = []
    for select, params in (
        (f"SELECT position FROM events WHERE {_SHAPE}", ()),
        (f"SELECT position FROM events WHERE {_TIME}", (EARLIEST, now + FUTURE_SLACK)),
        (_BACKWARDS, ()),
    ):
        found.append((_count(conn, select, params), _found(conn, select, params)))
    return RowFacts(bad_shape=found[0], bad_time=found[1], backwards=found[2])


def _numbers(value: Any) -> Iterator[float | int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item)


def absurd_numbers(event: msgspec.Struct) -> bool:
    """Whether a decoded event holds a non-finite or absurdly large number."""
    for number in _numbers(msgspec.to_builtins(event)):
        if isinstance(number, float) and not math.isfinite(number):
            return True
        if abs(number) > ABSURD:
            return True
    return False


def _where(positions: tuple[int, ...]) -> str:
    return ", ".join(str(p) for p in positions)


def row_checks(facts: RowFacts, absurd: tuple[int, tuple[int, ...]]) -> list[Check]:
    """One ``Check`` per row property (pure)."""
    checks = []
    for name, (count, at), what in (
        ("row shape", facts.bad_shape, "rows with a column of the wrong type"),
        ("timestamps", facts.bad_time, "timestamps before 2000, in the future or not numbers"),
        ("payload numbers", absurd, "events with a non-finite or absurd number"),
    ):
        if count:
            detail = f"{count} {what} (at {_where(at)})"
            checks.append(Check(check=name, status="failed", detail=detail))
        else:
            checks.append(Check(check=name, status="ok", detail="all sane"))
    count, at = facts.backwards
    if count:
        detail = f"{count} timestamps lower than the one before (at {_where(at)})"
        checks.append(Check(check="time order", status="warning", detail=detail))
    return checks
