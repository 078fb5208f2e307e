"""Appends as every storage log writes them: the request, row keys, the stored events.

Pure. An idempotency key belongs to an append; its first row stores the key itself and
row ``i`` (from 1) stores ``key + KEY_SEPARATOR + str(i)``, so keys stay unique per row.
"""

from __future__ import annotations

from collections.abc import Sequence

from events._base import Event, StoredEvent
from events._errors import ConcurrencyConflict

__all__ = [
    "KEY_SEPARATOR",
    "AppendRequest",
    "EncodedEvent",
    "Outcome",
    "row_key",
    "stored_events",
]

KEY_SEPARATOR = "\x1f"
"""ASCII unit separator: joins a key and an event index (forbidden in callers' keys)."""

EncodedEvent = tuple[str, int, bytes]
"""``(type name, schema version, payload)`` as produced by ``EventRegistry.encode``."""

AppendRequest = tuple[str, Sequence[EncodedEvent], int | None, str | None]
"""``(stream, encoded events, expected_version, idempotency_key)``."""

Outcome = tuple[int, ...] | ConcurrencyConflict
"""What one append request gets: its positions, or the conflict to raise."""


def row_key(key: str | None, index: int) -> str | None:
    """The idempotency key stored on an append's row ``index`` (see the module doc)."""
    if key is None or index == 0:
        return key
    return f"{key}{KEY_SEPARATOR}{index}"


def stored_events(
    appends: Sequence[tuple[AppendRequest, Sequence[Event]]],
    outcomes: Sequence[Outcome],
    first_versions: Sequence[int],
    timestamp: float,
) -> tuple[StoredEvent, ...]:
    """A committed batch's new events as a reader will see them.

    ``first_versions`` holds, per append, its first event's stream version, or 0 if it
    wrote nothing (an idempotent repeat or a conflict: those add no events).
    """
    stored: list[StoredEvent] = []
    for (request, events), outcome, version in zip(appends, outcomes, first_versions, strict=True):
        if not version or not isinstance(outcome, tuple):
            continue
        stream, encoded, _, key = request
        for index, (position, event, (name, schema_version, _)) in enumerate(
            zip(outcome, events, encoded, strict=True)
        ):
            stored.append(
                StoredEvent(
                    position=position,
                    stream=stream,
                    stream_version=version + index,
                    timestamp=timestamp,
                    type=name,
                    schema_version=schema_version,
                    idempotency_key=row_key(key, index),
                    event=event,
                )
            )
    return tuple(stored)
