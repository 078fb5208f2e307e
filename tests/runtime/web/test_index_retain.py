"""The web index's retention window: ``forget_before`` drops the past, not the window.

The property: whatever the history, an index that forgot what lies before a cut-off
shows exactly the pages of an index that kept everything, over any span from the cut-off
on (status bands carried across the cut-off, quota periods kept whole).
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event
from runtime.inspect.web._index import WebIndex
from runtime.inspect.web._views import Span
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    attempt,
    cooling,
    degraded,
    exceeded,
    fail,
    gave_up,
    panic,
    period,
    probing,
    quarantined,
    recovered,
    simple,
    started,
    warning,
)

T = WALL
DAY = 86400.0
MIDNIGHT = T + 6400.0
"""The first UTC midnight after ``T`` (2023-11-15T00:00:00Z)."""
DEPLOYMENTS = ("llama3@a", "llama3@b", "qwen@a")


def index_of(events: list[Event]) -> WebIndex:
    index = WebIndex()
    index.feed_many(stored(events))
    return index


def pages(index: WebIndex, span: Span) -> tuple[Any, ...]:
    overview = msgspec.structs.replace(index.overview(span), first_at=None, kept_since=None)
    return (overview, index.latency(span), index.quotas(span), index.flow(span))


def window(index: WebIndex, since: float, until: float) -> Span:
    return index.span(since, until, now=until, live=False)


def two_days() -> list[Event]:
    """Old traffic before midnight (b quarantined for good at T+50, a flapping), then
    new traffic after it; a warning on each day."""
    events: list[Event] = []
    for i in range(5):
        events += simple(f"old{i}", T + i, "llama3@a", latency=0.5, tokens=(10, 5))
    events += [started("oldf", T + 10), attempt("oldf", 1, "llama3@b", T + 10)]
    events += [fail("oldf", 1, "llama3@b", T + 11), gave_up("oldf", T + 11, 1, None, "x", 1.0)]
    events += [quarantined("llama3@b", T + 50, until=T + 99_999)]
    events += [degraded("llama3@a", T + 60), recovered("llama3@a", T + 61, "degraded")]
    events += [degraded("llama3@a", T + 62), recovered("llama3@a", T + 63, "degraded")]
    events += [warning(T + 70, "global.tokens", 75, 100)]
    for i in range(3):
        events += simple(f"new{i}", MIDNIGHT + 3600 + i, "llama3@a", latency=0.5, tokens=(2, 2))
    events += [exceeded(MIDNIGHT + 3700, "global.tokens", 12, 10)]
    return events


def test_forgetting_drops_old_requests_attempts_and_charges() -> None:
    index = index_of(two_days())
    cutoff = MIDNIGHT + 1800
    index.forget_before(cutoff)
    assert sorted(r.request_id for r in index.requests) == ["new0", "new1", "new2"]
    assert index.kept_since == cutoff
    assert index.first_at == cutoff
    assert len(index._attempts) == 3
    assert len(index._charges) == 3  # the period in force began at midnight: none before it
    assert [kind for kind, _ in index._marks] == ["exceeded"]
    assert index._prompt_chars == {}
    assert len(index._times) == 3 * 4 + 1
    span = window(index, T, MIDNIGHT + 4000)
    assert index.overview(span).totals.requests == 3
    quota = index.quotas(window(index, cutoff, MIDNIGHT + 4000))
    tokens = next(v for v in quota.limits if v.limit == "global.tokens")
    assert tokens.used_now == 12
    assert [m.label for m in tokens.warnings] == []


def test_the_status_at_the_cut_off_is_carried() -> None:
    """b's quarantine began before the cut-off: its band still starts at the span's start;
    a's flapping before the cut-off leaves no event, and a is healthy from the cut-off."""
    index = index_of(two_days())
    cutoff = MIDNIGHT + 1800
    index.forget_before(cutoff)
    assert index._health == []
    assert sorted(index._carried) == ["llama3@a", "llama3@b"]
    span = window(index, cutoff, MIDNIGHT + 4000)
    bands = {d.deployment: d for d in index.overview(span).deployments}
    assert [(b.start, b.status) for b in bands["llama3@b"].bands] == [(cutoff, "quarantined")]
    assert bands["llama3@b"].status_now == "quarantined"
    assert bands["llama3@b"].out_s == span.until - cutoff
    assert [b.status for b in bands["llama3@a"].bands] == ["healthy"]
    assert (bands["llama3@a"].changes, bands["llama3@b"].changes) == (0, 0)


def test_pages_equal_an_index_fed_only_the_window() -> None:
    """An index fed only the events from the cut-off on, plus the carried status, shows
    the same requests, latency and flow (the quota page keeps its period whole instead)."""
    log = stored(two_days())
    cutoff = MIDNIGHT + 1800
    index = WebIndex()
    index.feed_many(log)
    index.forget_before(cutoff)
    b_out, a_back = (T + 50, "DeploymentQuarantined"), (T + 63, "DeploymentRecovered")
    carried = [s for s in log if (s.event.at, s.type) in (b_out, a_back)]  # type: ignore[attr-defined]
    fresh = WebIndex()
    fresh.feed_many(carried + [s for s in log if getattr(s.event, "at", 0.0) >= cutoff])
    span = window(index, cutoff, MIDNIGHT + 4000)
    assert index.overview(span).deployments == fresh.overview(span).deployments
    assert index.overview(span).totals == fresh.overview(span).totals
    assert index.latency(span) == fresh.latency(span)
    assert index.flow(span) == fresh.flow(span)
    assert [r.to_dict() for r in index.requests] == [r.to_dict() for r in fresh.requests]


def test_a_running_request_is_kept_within_the_margin() -> None:
    events: list[Event] = [started("slow", T + 100), attempt("slow", 1, "llama3@a", T + 100)]
    events += [started("lost", T), attempt("lost", 1, "llama3@a", T)]
    index = index_of(events)
    index.forget_before(T + 200, running_s=150)
    assert [r.request_id for r in index.requests] == ["slow"]
    assert index.forget_before(T + 150) is None and len(index.requests) == 1  # not moved back


def _request(rid: str, at: float, did: str, latency: float, failed: bool) -> list[Event]:
    if not failed:
        return simple(rid, at, did, latency=latency, tokens=(3, 4))
    return [
        started(rid, at),
        attempt(rid, 1, did, at),
        fail(rid, 1, did, at + latency, "timeout_read", latency=latency),
        gave_up(rid, at + latency, 1, "timeout_read", "read timed out", latency),
    ]


def _health(kind: int, did: str, at: float, length: float) -> Event:
    if kind == 0:
        return quarantined(did, at, until=at + length)
    if kind == 1:
        return probing(did, at)
    if kind == 2:
        return recovered(did, at)
    if kind == 3:
        return degraded(did, at)
    if kind == 4:
        return cooling(did, at, until=at + length)
    return panic(did, at, out_until=at + length)


_REQUESTS = st.lists(
    st.tuples(
        st.floats(0, 3 * DAY),
        st.sampled_from(DEPLOYMENTS),
        st.floats(0.01, 900),
        st.booleans(),
    ),
    max_size=25,
)
_HEALTH = st.lists(
    st.tuples(
        st.floats(0, 3 * DAY),
        st.sampled_from(DEPLOYMENTS),
        st.integers(0, 5),
        st.floats(1, 5000),
    ),
    max_size=20,
)
_QUOTA = st.lists(st.tuples(st.floats(0, 3 * DAY), st.booleans()), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    requests=_REQUESTS,
    health=_HEALTH,
    quota=_QUOTA,
    cut=st.floats(0, 3 * DAY),
    later=st.floats(0, 2 * DAY),
)
def test_forgetting_never_changes_a_page_of_the_window(
    requests: list[tuple[float, str, float, bool]],
    health: list[tuple[float, str, int, float]],
    quota: list[tuple[float, bool]],
    cut: float,
    later: float,
) -> None:
    """Requests are appended when they end, health and quota events when they happen; the
    index forgets when the cut-off is reached, then again later."""
    batches: list[tuple[float, list[Event]]] = []
    for i, (at, did, latency, failed) in enumerate(requests):
        batches.append((T + at + latency, _request(f"r{i}", T + at, did, latency, failed)))
    for at, did, kind, length in health:
        batches.append((T + at, [_health(kind, did, T + at, length)]))
    for at, is_period in quota:
        mark = period(T + at, f"p{at:.0f}", T + at + DAY) if is_period else None
        batches.append((T + at, [mark or warning(T + at, "global.requests", 8, 10)]))
    batches.sort(key=lambda b: b[0])
    log = stored([e for _, batch in batches for e in batch])
    cutoff = T + cut
    split = sum(len(batch) for key, batch in batches if key < cutoff)
    kept, full = WebIndex(), WebIndex()
    full.feed_many(log)
    kept.feed_many(log[:split])
    kept.forget_before(cutoff)  # then the rest arrives, as a followed log's does
    kept.feed_many(log[split:])
    end = T + 3 * DAY + 1000
    assert pages(kept, window(kept, cutoff, end)) == pages(full, window(full, cutoff, end))
    if cutoff + later < end:  # and forgetting again, later
        kept.forget_before(cutoff + later)
        since = cutoff + later
        assert pages(kept, window(kept, since, end)) == pages(full, window(full, since, end))
