"""Property tests for replay: fold laws, snapshot + tail == full replay, gap-free positions.

The log properties run against every backend (memory and SQLite on a temp file), each
example on a fresh log; Hypothesis drives them from synchronous tests via ``asyncio.run``
so every example gets its own event loop and nothing leaks between examples.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events._base import Event, UnknownEvent
from events._replay import fold, fold_from, replay
from events._snapshot_seal import seal
from events._snapshots import Projector
from events._system import ActorFailed
from tests.events.contract import (
    TOTALS,
    Backend,
    FakeClock,
    Log,
    Ping,
    Pong,
    Totals,
    backend_params,
    collect,
    evolve_totals,
    new_registry,
)

T = TypeVar("T")

events_st: st.SearchStrategy[Event | UnknownEvent] = st.one_of(
    st.builds(Ping, n=st.integers(-1000, 1000), note=st.sampled_from(["", "a", "b"])),
    st.builds(Pong, n=st.integers(0, 9)),
    st.builds(
        ActorFailed,
        actor=st.sampled_from(["x", "y"]),
        error_type=st.just("E"),
        message=st.just("m"),
        failures_in_window=st.integers(1, 5),
    ),
)
unknown_st = st.builds(
    UnknownEvent,
    type=st.just("future.Thing"),
    schema_version=st.just(1),
    payload=st.binary(max_size=8),
)
# Batches to append: (stream, events); at most a few dozen events per example.
batches_st = st.lists(
    st.tuples(st.sampled_from(["s", "t", "u"]), st.lists(events_st, min_size=1, max_size=5)),
    max_size=12,
)
log_settings = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def with_log(backend_name: str, body: Callable[[Log], Awaitable[T]]) -> T:
    """Run ``body`` on a fresh, empty log of ``backend_name`` in its own event loop."""

    async def main(directory: str) -> T:
        log = await Backend(backend_name, Path(directory)).open(new_registry(), FakeClock())
        try:
            return await body(log)
        finally:
            await log.close()

    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(main(directory))


async def fill(log: Log, batches: list[tuple[str, list[Event]]]) -> int:
    for stream, events in batches:
        await log.append(stream, events)
    return sum(len(events) for _, events in batches)


# -- pure fold laws ---------------------------------------------------------------------


@given(
    a=st.lists(st.one_of(events_st, unknown_st), max_size=30),
    b=st.lists(st.one_of(events_st, unknown_st), max_size=30),
)
def test_fold_of_concatenation_is_fold_from_of_the_prefix(
    a: list[Event | UnknownEvent], b: list[Event | UnknownEvent]
) -> None:
    whole = fold(evolve_totals, Totals(), a + b)
    assert whole == fold_from(fold(evolve_totals, Totals(), a), evolve_totals, b)


@given(events=st.lists(st.one_of(events_st, unknown_st), max_size=30))
def test_unknown_events_never_change_the_fold(events: list[Event | UnknownEvent]) -> None:
    known = [e for e in events if not isinstance(e, UnknownEvent)]
    assert fold(evolve_totals, Totals(), events) == fold(evolve_totals, Totals(), known)


@given(
    state=st.builds(
        Totals,
        pings=st.dictionaries(st.text(max_size=3), st.integers(0, 99), max_size=3),
        total=st.integers(),
        failures=st.integers(0, 99),
    )
)
def test_snapshot_encoding_round_trips_the_state(state: Totals) -> None:
    encoded = msgspec.json.encode(state)
    assert msgspec.json.decode(encoded, type=Totals) == state


# -- snapshot + tail == full replay, on every backend ------------------------------------


@pytest.mark.parametrize("backend_name", backend_params())
@log_settings
@given(batches=batches_st, data=st.data())
def test_snapshot_plus_tail_equals_full_replay(
    backend_name: str, batches: list[tuple[str, list[Event]]], data: st.DataObject
) -> None:
    async def body(log: Log) -> None:
        total = await fill(log, batches)
        cut = data.draw(st.integers(0, total), label="snapshot position")
        full, last = await replay(log, evolve_totals, Totals())
        assert last == total
        at_cut, _ = await replay(log, evolve_totals, Totals(), to_position=cut)
        await log.save_snapshot(
            TOTALS.name, cut, seal(TOTALS.name, cut, msgspec.json.encode(at_cut))
        )
        projector = await Projector.start(log, TOTALS)
        assert (projector.state, projector.position) == (full, total)
        point = data.draw(st.integers(0, total), label="state_at position")
        expected, _ = await replay(log, evolve_totals, Totals(), to_position=point)
        assert await projector.state_at(position=point) == expected

    with_log(backend_name, body)


@pytest.mark.parametrize("backend_name", backend_params())
@log_settings
@given(batches=batches_st, every=st.integers(1, 7))
def test_live_projection_equals_replay_after_restart(
    backend_name: str, batches: list[tuple[str, list[Event]]], every: int
) -> None:
    async def body(log: Log) -> None:
        live = await Projector.start(log, TOTALS, snapshot_every=every)
        for stream, events in batches:
            positions = await log.append(stream, events)
            for stored in await collect(log.read(positions[0])):
                await live.apply(stored)
        restarted = await Projector.start(log, TOTALS, snapshot_every=every)
        full, last = await replay(log, evolve_totals, Totals())
        assert live.state == restarted.state == full
        assert live.position == restarted.position == last

    with_log(backend_name, body)


# -- positions stay gap-free under concurrent appenders ---------------------------------


@pytest.mark.parametrize("backend_name", backend_params())
@log_settings
@given(
    appends=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 6)),
        min_size=1,
        max_size=40,
    )
)
def test_concurrent_appenders_get_gap_free_positions(
    backend_name: str, appends: list[tuple[str, int]]
) -> None:
    async def body(log: Log) -> None:
        sent = [
            (stream, [Ping(n=i * 100 + j) for j in range(size)])
            for i, (stream, size) in enumerate(appends)
        ]
        results = await asyncio.gather(*(log.append(s, events) for s, events in sent))
        flat = sorted(p for positions in results for p in positions)
        assert flat == list(range(1, sum(size for _, size in appends) + 1))
        stored = {s.position: s for s in await collect(log.read())}
        for (stream, events), positions in zip(sent, results, strict=True):
            assert [stored[p].event for p in positions] == events
            assert {stored[p].stream for p in positions} == {stream}
            versions = [stored[p].stream_version for p in positions]
            assert versions == list(range(versions[0], versions[0] + len(events)))
        for stream in {s for s, _ in appends}:
            versions = [s.stream_version for s in stored.values() if s.stream == stream]
            assert versions == list(range(1, len(versions) + 1))
            assert await log.stream_version(stream) == len(versions)

    with_log(backend_name, body)
