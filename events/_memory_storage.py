"""What a database file would hold for ``MemoryEventLog``: rows, versions, snapshots.

Shared by every log object opened on it (``MemoryEventLog.peer``, ``with_registry``), so
tests can stand two "processes" on one log: each object's commit hooks get the others'
commits as foreign batches, as they would from SQLite's or PostgreSQL's tail.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence

import msgspec

from events._base import Event, StoredEvent, UnknownEvent

__all__ = ["Row", "Storage", "matches", "stored"]


class Row(msgspec.Struct, frozen=True):
    """One stored event: the envelope and the encoded payload, as a table row would be."""

    position: int
    stream: str
    stream_version: int
    timestamp: float
    type: str
    schema_version: int
    idempotency_key: str | None
    payload: bytes


class Storage:
    """The rows from ``first`` on (earlier ones were compacted away) and the metadata."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.base = 0
        """Positions compacted away before ``rows[0]``: position p is ``rows[p - base - 1]``."""
        self.versions: dict[str, int] = {}
        self.idempotency: dict[str, tuple[int, ...]] = {}
        # Per projection name: snapshot positions (sorted) and the states saved at them.
        self.snapshot_positions: dict[str, list[int]] = {}
        self.snapshot_states: dict[str, list[bytes]] = {}
        self.signal = asyncio.Event()
        self.last_timestamp = float("-inf")
        self.compacted_through = 0
        self.compacted_at: float | None = None

    @property
    def last(self) -> int:
        """The highest committed position."""
        return self.base + len(self.rows)

    def row(self, position: int) -> Row:
        """The row at ``position`` (which must be retained)."""
        return self.rows[position - self.base - 1]

    def wake(self) -> None:
        """Wake every subscriber waiting for new rows."""
        signal, self.signal = self.signal, asyncio.Event()
        signal.set()

    def write(
        self,
        stream: str,
        encoded: Sequence[tuple[str, int, bytes]],
        now: float,
        idempotency_key: str | None,
    ) -> tuple[int, ...]:
        """Store already-checked, encoded events; return their positions."""
        # Timestamps never go backwards, so time bounds and position bounds agree.
        timestamp = max(now, self.last_timestamp)
        current = self.versions.get(stream, 0)
        first = self.last + 1
        for offset, (name, version, payload) in enumerate(encoded):
            self.rows.append(
                Row(
                    first + offset,
                    stream,
                    current + 1 + offset,
                    timestamp,
                    name,
                    version,
                    idempotency_key,
                    payload,
                )
            )
        positions = tuple(range(first, first + len(encoded)))
        self.versions[stream] = current + len(encoded)
        self.last_timestamp = timestamp
        if idempotency_key is not None:
            self.idempotency[idempotency_key] = positions
        return positions

    def compact(self, through: int, now: float) -> int:
        """Delete the rows at or before ``through``; return how many went."""
        if through < 0 or through > self.last:
            raise ValueError(
                f"cannot compact through position {through}: the log holds positions up "
                f"to {self.last}"
            )
        count = max(0, through - self.base)
        if count:
            del self.rows[:count]
            self.base = through
        self.idempotency = {k: p for k, p in self.idempotency.items() if p[0] > through}
        for name, positions in self.snapshot_positions.items():
            keep = bisect.bisect_left(positions, through)
            del positions[:keep]
            del self.snapshot_states[name][:keep]
        self.compacted_through = max(self.compacted_through, through)
        self.compacted_at = now
        return count

    def save_snapshot(self, name: str, position: int, state: bytes) -> None:
        """Store ``state`` of ``name`` at ``position`` (replacing one there)."""
        positions = self.snapshot_positions.setdefault(name, [])
        states = self.snapshot_states.setdefault(name, [])
        index = bisect.bisect_left(positions, position)
        if index < len(positions) and positions[index] == position:
            states[index] = bytes(state)
        else:
            positions.insert(index, position)
            states.insert(index, bytes(state))

    def load_snapshot(self, name: str, at_or_before: int | None) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` (at or before a position)."""
        positions = self.snapshot_positions.get(name)
        if not positions:
            return None
        if at_or_before is None:
            index = len(positions) - 1
        else:
            index = bisect.bisect_right(positions, at_or_before) - 1
            if index < 0:
                return None
        return positions[index], self.snapshot_states[name][index]


def stored(row: Row, event: Event | UnknownEvent) -> StoredEvent:
    """A row as a reader gets it, with its decoded (or just-written) event."""
    return StoredEvent(
        position=row.position,
        stream=row.stream,
        stream_version=row.stream_version,
        timestamp=row.timestamp,
        type=row.type,
        schema_version=row.schema_version,
        idempotency_key=row.idempotency_key,
        event=event,
    )


def matches(
    row: Row,
    stream: str | None,
    types: frozenset[str] | None,
    since: float | None,
    until: float | None,
) -> bool:
    """Whether ``row`` passes every given filter (``None`` = no filter)."""
    return (
        (stream is None or row.stream == stream)
        and (types is None or row.type in types)
        and (since is None or row.timestamp >= since)
        and (until is None or row.timestamp <= until)
    )
