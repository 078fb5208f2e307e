"""Planning a PostgreSQL group commit, and turning rows into events: pure code.

A batch is planned in memory against what its locked transaction read (the last
position, the versions of its streams, the idempotency keys already stored), so one bad
append never fails the batch: an ``expected_version`` mismatch fails that append alone
with ``ConcurrencyConflict``; a key already stored (or used earlier in the same batch)
returns the earlier positions and writes nothing.

Idempotency keys of multi-event appends (as in the SQLite log): the first row stores
``key``, row ``i`` (from 1) stores ``key + KEY_SEPARATOR + str(i)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from events._appends import KEY_SEPARATOR, AppendRequest, Outcome, row_key, stored_events
from events._base import Event, StoredEvent, UnknownEvent
from events._codec import EventRegistry
from events._errors import ConcurrencyConflict

__all__ = [
    "KEY_SEPARATOR",
    "AppendRequest",
    "Outcome",
    "Plan",
    "StreamCache",
    "decode",
    "plan_batch",
    "stored_events",
]

_STREAM_CACHE_MAX = 100_000
"""Streams whose version is cached; beyond it the cache restarts (misses cost a lookup)."""


@dataclass(slots=True)
class StreamCache:
    """Stream versions and the last position as of our last COMMIT (the writer's)."""

    versions: dict[str, int] = field(default_factory=dict)
    last: int = 0


@dataclass(slots=True)
class Plan:
    """One batch's rows and outcomes."""

    last: int
    """The last position, as the batch goes on."""
    versions: dict[str, int]
    """Every stream of the batch: its version, as the batch goes on."""
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    first_versions: list[int] = field(default_factory=list)
    """Per append: its first event's stream version, or 0 if it wrote nothing."""


def missing_streams(requests: Sequence[AppendRequest], cache: StreamCache) -> list[str]:
    """The batch's streams whose version is not cached."""
    return list({r[0] for r in requests if r[0] not in cache.versions})


def plan_batch(
    requests: Sequence[AppendRequest],
    last: int,
    versions: Mapping[str, int],
    stored: Mapping[str, tuple[int, ...]],
    now: float,
) -> Plan:
    """Rows and outcomes for ``requests``; ``versions`` holds every stream they name."""
    plan = Plan(last, dict(versions))
    batch_keys: dict[str, tuple[int, ...]] = {}
    for stream, encoded, expected, key in requests:
        if key is not None:
            earlier = batch_keys.get(key) or stored.get(key)
            if earlier is not None:
                plan.outcomes.append(earlier)
                plan.first_versions.append(0)
                continue
        current = plan.versions[stream]
        if expected is not None and expected != current:
            plan.outcomes.append(ConcurrencyConflict(stream, expected, current))
            plan.first_versions.append(0)
            continue
        first = plan.last + 1
        for i, (name, schema_version, payload) in enumerate(encoded):
            stored_key = row_key(key, i)
            plan.rows.append(
                (first + i, stream, current + 1 + i, now, name, schema_version, stored_key, payload)
            )
        count = len(encoded)
        positions = tuple(range(first, first + count))
        plan.last += count
        plan.versions[stream] = current + count
        if key is not None:
            batch_keys[key] = positions
        plan.outcomes.append(positions)
        plan.first_versions.append(current + 1)
    return plan


def remember(cache: StreamCache, plan: Plan) -> None:
    """Fold a committed batch into the cache."""
    if len(cache.versions) > _STREAM_CACHE_MAX:
        cache.versions.clear()
    cache.versions.update(plan.versions)
    cache.last = plan.last


def decode(rows: Sequence[Sequence[Any]], registry: EventRegistry) -> list[StoredEvent]:
    """Rows (``COLUMNS`` order) as events; an undecodable one is a counted ``UnknownEvent``."""
    out: list[StoredEvent] = []
    for position, stream, version, timestamp, name, schema, key, payload in rows:
        payload = bytes(payload)
        try:
            event: Event | UnknownEvent = registry.decode(name, schema, payload)
        except Exception as exc:  # defensive: decode never raises for bad data
            registry.unknown_count += 1
            event = UnknownEvent(
                type=name, schema_version=schema, payload=payload, reason=f"corrupt row: {exc}"
            )
        if key is not None and KEY_SEPARATOR in key:
            key = key.partition(KEY_SEPARATOR)[0]  # row i > 0 of a keyed append
        out.append(
            StoredEvent(
                position=position,
                stream=stream,
                stream_version=version,
                timestamp=timestamp if math.isfinite(timestamp) else 0.0,
                type=name,
                schema_version=schema,
                idempotency_key=key,
                event=event,
            )
        )
    return out
