"""The index over a real log, and that how events are fed (and pages read) changes nothing."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event, SqliteEventLog, StoredEvent
from runtime.inspect.web._index import INDEX_TYPES, WebIndex
from tests.runtime.inspect._logs import DEMO_WALL, shared_demo_log
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    cooling,
    exceeded,
    fail,
    fallback,
    gave_up,
    period,
    probing,
    quarantined,
    recovered,
    simple,
    started,
    warning,
)

T = WALL


def scenario() -> list[StoredEvent]:
    """Requests that end out of start order, an outage, a cool-down, quota marks."""
    events: list[Event] = [period(T - 5, "2023-11-14", T + 86400)]
    for i in range(12):
        did = ("llama3@a", "llama3@b", "qwen@a")[i % 3]
        events += simple(f"r{i}", T + i * 3 - (i % 4), did, latency=0.2 + i % 5)
        if i == 4:
            events += [quarantined("llama3@b", T + 13, T + 20), probing("llama3@b", T + 21)]
        if i == 7:
            events += [recovered("llama3@b", T + 22), cooling("qwen@a", T + 23, T + 26)]
            events.append(warning(T + 24, "global.requests", 8, 10))
    events += [started("f", T + 30), fail("f", 1, "llama3@a", T + 31, "timeout_connect")]
    events += [fallback("f", T + 31, "llama3", "qwen"), fail("f", 2, "qwen@a", T + 32)]
    events += [gave_up("f", T + 32, 2, "server_error", "all failed", 2.0)]
    events.append(exceeded(T + 33, "global.requests", 10, 10))
    return stored(events)


def pages(index: WebIndex, since: float | None, until: float | None) -> tuple[object, ...]:
    span = index.span(since, until, now=T + 100, live=False)
    return (
        span,
        index.overview(span),
        index.latency(span),
        index.quotas(span),
        index.flow(span),
        [r.to_dict() for r in index.requests.rows()],
    )


EVENTS = scenario()
RANGES = [(None, None), (T + 10, T + 25), (T - 100, T + 200)]


def one_by_one() -> WebIndex:
    index = WebIndex()
    for s in EVENTS:
        index.feed(s)
    return index


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(EVENTS)), max_size=8),
    peek=st.booleans(),
)
def test_any_batch_split_gives_the_same_pages(cuts: list[int], peek: bool) -> None:
    """Batches of any size, with pages read between them (caches built early), or not."""
    index = WebIndex()
    bounds = [0, *sorted(cuts), len(EVENTS)]
    for lo, hi in itertools.pairwise(bounds):
        index.feed_many(EVENTS[lo:hi])
        if peek:
            pages(index, *RANGES[lo % len(RANGES)])
    expected = one_by_one()
    assert (index.position, index.events, index.first_at, index.last_at) == (
        expected.position,
        expected.events,
        expected.first_at,
        expected.last_at,
    )
    for since, until in RANGES:
        assert pages(index, since, until) == pages(expected, since, until)


def test_events_of_other_types_only_count() -> None:
    from events import HealthOutcomeRecorded

    index = one_by_one()
    before = pages(index, *RANGES[1])
    extra = HealthOutcomeRecorded(deployment="llama3@a", at=T + 11, ok=True)
    index.feed(stored([extra], start=len(EVENTS) + 1)[0])
    after = pages(index, *RANGES[1])
    assert after[1].totals.events == before[1].totals.events + 1  # type: ignore[attr-defined]
    assert after[2:] == before[2:]


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[WebIndex, dict[str, str]]:
    path, ids = shared_demo_log(tmp_path_factory)

    async def read(log_path: Path) -> WebIndex:
        index = WebIndex()
        async with await SqliteEventLog.open_readonly(log_path) as log:
            index.feed_many([s async for s in log.read(types=list(INDEX_TYPES))])
        return index

    return asyncio.run(read(path)), ids


def test_the_demo_log_shows_b_quarantined_when_the_demo_quarantined_it(
    demo_index: tuple[WebIndex, dict[str, str]],
) -> None:
    """The demo quarantines llama3@b after 3 failures 2 s in (the clock moves 1 s per
    request) for 30 s; at T+35 it is probed and recovers at once."""
    index, ids = demo_index
    overview = index.overview(index.span(None, None, now=0.0, live=False))
    by_name = {d.deployment: d for d in overview.deployments}
    assert set(by_name) == {"llama3@a", "llama3@b", "qwen@a"}
    b = by_name[ids["quarantined"]]
    quarantine = [x for x in b.bands if x.status == "quarantined"]
    assert [(x.start - DEMO_WALL, x.end - DEMO_WALL) for x in quarantine] == [(2.0, 35.0)]
    assert "3 consecutive failures" in quarantine[0].reason
    assert (b.status_now, by_name["llama3@a"].status_now) == ("healthy", "healthy")
    assert overview.totals.requests == len(index.requests) == 14
    assert (overview.totals.failed, overview.totals.fallbacks) == (1, 1)
    failed_row = index.requests.get(ids["failed_request"])
    assert failed_row is not None and failed_row.outcome == "failed"
    flow = index.flow(overview.span)
    assert ("llama3", "qwen", "fallback") in {(x.source, x.target, x.kind) for x in flow.links}
    latency = index.latency(overview.span)
    b_figures = next(d for d in latency.deployments if d.deployment == "llama3@b")
    assert b_figures.errors == 3 and b_figures.p50_s is not None
