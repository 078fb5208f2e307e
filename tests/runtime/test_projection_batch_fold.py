"""A projection's batch fold gives what ``evolve`` event by event gives.

The performance projection folds committed batches and replays with ``fold_events``;
a ``Projector`` fed batch by batch (the commit hook), one started on the log (a replay)
and the same projection without the batch fold must all hold the same state, to the
byte (dict orders included: they decide which request is evicted first).
"""

from __future__ import annotations

import dataclasses
import math

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.performance import PerformanceState
from events import Event, MemoryEventLog, Projector
from events._quota import QuotaWarningIssued
from events._replay import fold
from runtime._build import performance_projection
from tests.actors.performance.test_lazy_fold import events

# An event the projection's type filter skips: it must not reach the fold.
_NOISE = QuotaWarningIssued(at=0.0, limit="global.requests", used=9, limit_value=10, ratio=0.9)


def _storable(event: Event) -> bool:
    """Whether a log takes ``event`` (no NaN or infinity: JSON has none)."""
    return all(
        not isinstance(value, float) or math.isfinite(value)
        for value in msgspec.structs.astuple(event)
    )


def _bytes(state: PerformanceState) -> bytes:
    return msgspec.json.encode(state)


@settings(max_examples=80, deadline=None)
@given(
    window=st.integers(1, 4),
    batches=st.lists(
        st.lists(st.one_of(events.filter(_storable), st.just(_NOISE)), max_size=10), max_size=6
    ),
)
async def test_batch_fold_equals_the_event_by_event_fold(
    window: int, batches: list[list[Event]]
) -> None:
    projection = performance_projection(window)
    assert projection.fold is not None
    one_by_one = dataclasses.replace(projection, fold=None)
    log = MemoryEventLog()
    try:
        fed = await Projector.start(log, projection, store=log)
        fed_singly = await Projector.start(log, one_by_one, store=log)
        for batch in batches:
            if not batch:
                continue
            await log.append("requests", batch)
            committed = [stored async for stored in log.read(fed.position + 1)]
            fed.feed(committed)
            fed_singly.feed(committed)
        everything = [e for batch in batches for e in batch if e is not _NOISE]
        expected = _bytes(fold(projection.evolve, projection.initial, everything))
        assert _bytes(fed.state) == expected
        assert _bytes(fed_singly.state) == expected
        assert fed.position == fed_singly.position == await log.last_position()
        replayed = await Projector.start(log, projection, store=log)
        assert _bytes(replayed.state) == expected
        assert replayed.position == fed.position
    finally:
        await log.close()
