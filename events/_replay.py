"""Replay: folding events into state, and the description of a projection.

The convention every ``evolve`` function follows: it is pure and total, receives the
domain ``Event`` (already upcast) or an ``UnknownEvent`` placeholder for an event this
release cannot decode, and returns the state unchanged for anything it does not handle —
``UnknownEvent`` included. That is what lets a log written by a newer release be replayed
by an older one without crashing and without pretending the event was never there (the
log counts it).

``fold`` and ``fold_from`` are pure; ``replay`` only adds reading from a log.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from events._base import Event, StoredEvent, UnknownEvent
from events._protocol import EventLog

__all__ = ["BatchFold", "Evolve", "Projection", "fold", "fold_from", "replay"]

S = TypeVar("S")

Evolve = Callable[[S, Event | UnknownEvent], S]
"""``evolve(state, event) -> state``: pure, total, and ignores ``UnknownEvent``."""

BatchFold = Callable[[S, Sequence[Event | UnknownEvent]], S]
"""``fold(state, events) -> state``: equal to ``evolve`` applied to each event in turn,
for a projection that folds many events at once cheaper than one by one."""


def fold(
    evolve: Evolve[S],
    initial: S,
    events: Iterable[StoredEvent | Event | UnknownEvent],
) -> S:
    """Fold ``events`` into state, starting from ``initial``.

    Args:
        evolve: The projection's pure transition function.
        initial: The state before any event.
        events: Stored events (their ``event`` is passed on) or bare events, in order.

    Returns:
        The state after every event.
    """
    return fold_from(initial, evolve, events)


def fold_from(
    state: S,
    evolve: Evolve[S],
    events: Iterable[StoredEvent | Event | UnknownEvent],
) -> S:
    """Continue a fold from an intermediate ``state``: ``fold_from(fold(a), b) == fold(a+b)``."""
    for item in events:
        state = evolve(state, item.event if isinstance(item, StoredEvent) else item)
    return state


async def replay(
    log: EventLog,
    evolve: Evolve[S],
    initial: S,
    *,
    stream: str | None = None,
    to_position: int | None = None,
    until: float | None = None,
    types: Collection[str] | None = None,
    from_position: int = 1,
) -> tuple[S, int]:
    """Rebuild state by reading the log, optionally as of a point in time.

    Args:
        log: The log to read (committed events only).
        evolve: The projection's pure transition function.
        initial: The state before ``from_position``.
        stream: Only events of this stream.
        to_position: Stop after this global position (inclusive): state "as of" it.
        until: Only events whose timestamp is at or before this (seconds since epoch).
        types: Only events of these type names.
        from_position: First position to read (use a snapshot's position + 1).

    Returns:
        ``(state, last_position)``: the state, and the position of the last event folded
        in (``from_position - 1`` if none matched).
    """
    state = initial
    last = from_position - 1
    events = log.read(
        from_position, to_position=to_position, stream=stream, types=types, until=until
    )
    async for stored in events:
        state = evolve(state, stored.event)
        last = stored.position
    return state, last


@dataclass(frozen=True, kw_only=True)
class Projection(Generic[S]):
    """How to compute one piece of state from the log: a name, a start, and a fold.

    The state must be encodable by msgspec (a Struct, dict, list, number, ...) because
    snapshots store it as JSON and decode it with ``state_type``.
    """

    name: str
    """Unique name; snapshots are stored under it. Rename it when ``evolve`` changes."""
    initial: S
    """The state before any event."""
    evolve: Evolve[S]
    """Pure, total transition function (ignores ``UnknownEvent``)."""
    state_type: type[S]
    """The state's type, for decoding snapshots."""
    types: frozenset[str] | None = None
    """Only events of these type names are folded (``None`` = all)."""
    stream: str | None = None
    """Only events of this stream are folded (``None`` = all streams)."""
    fold: BatchFold[S] | None = None
    """Optional: fold a batch of (accepted) events at once; must equal ``evolve``
    applied to each in turn. ``Projector`` uses it for committed batches and replays."""

    def fold_batch(self, state: S, events: Sequence[Event | UnknownEvent]) -> S:
        """``state`` after ``events`` (``fold`` when given, else ``evolve`` in turn)."""
        if self.fold is not None:
            return self.fold(state, events)
        evolve = self.evolve
        for event in events:
            state = evolve(state, event)
        return state

    def accepts(self, stored: StoredEvent) -> bool:
        """Whether ``stored`` passes this projection's stream and type filters."""
        return (self.stream is None or stored.stream == self.stream) and (
            self.types is None or stored.type in self.types
        )
