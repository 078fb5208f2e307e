"""The overview's status bands, rates and totals, from hand-built health and request events."""

from __future__ import annotations

import pytest

from events import DeploymentStabilized, Event, HealthReset
from runtime.inspect._errors import InspectError
from runtime.inspect.web._index import WebIndex
from runtime.inspect.web._views import Band, DeploymentBands, Overview
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    cooling,
    degraded,
    panic,
    probing,
    quarantined,
    recovered,
    simple,
)

T = WALL


def index_of(events: list[Event]) -> WebIndex:
    index = WebIndex()
    index.feed_many(stored(events))
    return index


def bands(overview: Overview, did: str) -> DeploymentBands:
    return next(d for d in overview.deployments if d.deployment == did)


def shape(found: DeploymentBands) -> list[tuple[str, float, float, bool]]:
    return [(b.status, b.start - T, b.end - T, b.ongoing) for b in found.bands]


def outage() -> list[Event]:
    """a and b serve; b is quarantined at T+10, probed at T+40, recovered at T+42."""
    events: list[Event] = []
    for i in range(10):
        events += simple(f"r{i}", T + i, "llama3@a" if i % 2 else "llama3@b", 0.2)
    events += [quarantined("llama3@b", T + 10, until=T + 40), probing("llama3@b", T + 40)]
    events += [recovered("llama3@b", T + 42)]
    events += simple("late", T + 59, "llama3@a", 0.5)
    return events


def test_a_known_outage_is_a_quarantined_band_from_quarantine_to_probe() -> None:
    index = index_of(outage())
    view = index.overview(index.span(T, T + 60, now=T + 1000, live=False))
    assert shape(bands(view, "llama3@b")) == [
        ("healthy", 0, 10, False),
        ("quarantined", 10, 40, False),
        ("probing", 40, 42, False),
        ("healthy", 42, 60, True),
    ]
    b = bands(view, "llama3@b")
    assert (b.status_now, b.changes, b.out_s) == ("healthy", 3, 32.0)
    assert b.bands[1].reason == "3 consecutive failures"
    # a was never named by a health event: one healthy band
    assert shape(bands(view, "llama3@a")) == [("healthy", 0, 60, True)]


def test_a_quarantine_ended_by_recovery_is_one_band_from_t1_to_t2() -> None:
    events = [*simple("r", T, "llama3@b"), quarantined("llama3@b", T + 5, until=T + 20)]
    events += [recovered("llama3@b", T + 20)]
    index = index_of(events)
    view = index.overview(index.span(T, T + 30, now=T + 30, live=False))
    quarantine = [b for b in bands(view, "llama3@b").bands if b.status == "quarantined"]
    assert quarantine == [
        Band(start=T + 5, end=T + 20, status="quarantined", reason="3 consecutive failures")
    ]


def test_an_ongoing_outage_runs_to_the_end_of_a_live_span() -> None:
    events = [*simple("r", T, "llama3@b"), quarantined("llama3@b", T + 50, until=T + 80)]
    index = index_of(events)
    view = index.overview(index.span(None, None, now=T + 100, live=True))
    b = bands(view, "llama3@b")
    assert shape(b) == [("healthy", 0, 50, False), ("quarantined", 50, 100, True)]
    assert (b.status_now, b.out_s) == ("quarantined", 50.0)


def test_a_change_at_the_last_event_shows_in_a_replayed_log() -> None:
    """Without an ``until`` a replayed log's range ends a margin after its last event."""
    index = index_of([*simple("r", T, "llama3@b", 0.5), quarantined("llama3@b", T + 30, T + 60)])
    span = index.span(None, None, now=T + 5000, live=False)
    assert (span.since, span.until, span.bucket_s) == (T, T + 31, 1.0)
    assert bands(index.overview(span), "llama3@b").bands[-1].status == "quarantined"


def test_cool_down_and_panic_probe_return_to_the_status_before_them() -> None:
    did = "llama3@a"
    events = [*simple("r", T, did), degraded(did, T + 2), cooling(did, T + 5, until=T + 8)]
    events += [recovered(did, T + 10, "degraded"), cooling(did, T + 12, until=T + 20)]
    events += [quarantined(did, T + 14, until=T + 30), panic(did, T + 16, out_until=T + 30)]
    events += [DeploymentStabilized(deployment=did, at=T + 17)]
    index = index_of(events)
    view = index.overview(index.span(T, T + 40, now=T + 40, live=False))
    assert shape(bands(view, did)) == [
        ("healthy", 0, 2, False),
        ("degraded", 2, 5, False),
        ("cool_down", 5, 8, False),
        ("degraded", 8, 10, False),
        ("healthy", 10, 12, False),
        ("cool_down", 12, 14, False),  # the quarantine cut it short
        ("quarantined", 14, 16, False),
        ("panic_probe", 16, 30, False),
        ("quarantined", 30, 40, True),
    ]


def test_a_deployment_unknown_before_its_first_event_and_after_a_reset() -> None:
    did = "qwen@b"
    index = index_of([recovered(did, T + 5, "unknown"), HealthReset(deployment=did, at=T + 9)])
    view = index.overview(index.span(T, T + 10, now=T + 10, live=False))
    assert shape(bands(view, did)) == [
        ("unknown", 0, 5, False),
        ("healthy", 5, 9, False),
        ("unknown", 9, 10, True),
    ]


def test_bands_and_changes_are_clipped_to_the_span() -> None:
    index = index_of(outage())
    view = index.overview(index.span(T + 20, T + 41, now=T + 100, live=False))
    b = bands(view, "llama3@b")
    assert shape(b) == [("quarantined", 20, 40, False), ("probing", 40, 41, False)]
    assert (b.status_now, b.changes, b.out_s) == ("probing", 1, 21.0)


def test_rates_and_totals_count_the_requests_started_in_the_span() -> None:
    index = index_of(outage())
    view = index.overview(index.span(T, T + 10, now=T + 100, live=False))
    assert view.span.bucket_s == 1.0
    rate = {s.name: s.points for s in view.rate}
    assert list(rate) == ["all", "llama3@a", "llama3@b"]
    assert rate["all"][:3] == ((T, 1.0), (T + 1, 1.0), (T + 2, 1.0))
    assert [v for _, v in rate["llama3@a"][:4]] == [0.0, 1.0, 0.0, 1.0]
    totals = view.totals
    assert (totals.requests, totals.succeeded, totals.failed, totals.running) == (10, 10, 0, 0)
    # the ten requests' events (4 each, all by T+9.2) and the quarantine at T+10
    assert totals.events == 41
    assert (view.first_at, view.last_at, view.position) == (T, T + 59.5, len(outage()))


def test_span_widths_and_defaults() -> None:
    index = WebIndex()
    empty = index.span(None, None, now=T, live=True)
    assert (empty.since, empty.until, empty.bucket_s, empty.live) == (T - 3600, T, 30.0, True)
    assert index.span(T, T + 86400, now=T, live=False).bucket_s == 900.0
    assert index.span(T, T + 35, now=T, live=False).bucket_s == 1.0
    assert index.span(T, T + 121, now=T, live=False).bucket_s == 2.0
    assert index.span(T, T + 400 * 86400, now=T, live=False).bucket_s == 4 * 86400.0
    with pytest.raises(InspectError, match="after its end"):
        index.span(T + 10, T, now=T, live=False)
    assert index.overview(empty).deployments == ()
