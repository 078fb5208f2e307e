"""The latency and flow pages' figures from hand-built request events."""

from __future__ import annotations

import pytest

from events import Event
from runtime.inspect.web._index import WebIndex
from runtime.inspect.web._index_span import percentile
from runtime.inspect.web._views import FailureCell, FlowLink, Span
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    answered,
    attempt,
    fail,
    fallback,
    gave_up,
    interrupted,
    ok,
    simple,
    started,
)

T = WALL


def index_of(events: list[Event]) -> WebIndex:
    index = WebIndex()
    index.feed_many(stored(events))
    return index


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (
        10.0,
        19.0,
        20.0,
    )
    assert percentile([7.0], 95) == 7.0


def latency_events() -> list[Event]:
    """Attempts count in the bucket they end in. a: 20 answers of 0.1..2.0 s end in the
    first second, 8 of 0.5 s in the second, 2 failures in the third; b: 1 answer and a
    connect timeout in the first, a broken stream in the third."""
    events: list[Event] = []
    for i in range(20):
        latency = round(0.1 * (i + 1), 1)
        events += simple(f"a{i}", T + 0.95 - latency, "llama3@a", latency=latency)
    for i in range(8):
        events += simple(f"c{i}", T + 1.2, "llama3@a", latency=0.5)
    events += [started("f1", T + 1.3), fail("f1", 1, "llama3@a", T + 2.5, "server_error")]
    events += [fail("f1", 2, "llama3@a", T + 2.6, "server_error")]
    events += [gave_up("f1", T + 2.6, 2, "server_error", "HTTP 500", 1.3)]
    events += simple("b1", T + 0.1, "llama3@b", latency=0.3)
    events += [started("b2", T + 0.5), fail("b2", 1, "llama3@b", T + 0.9, "timeout_connect")]
    events += [gave_up("b2", T + 0.9, 1, "timeout_connect", "no connection", 0.4)]
    events += [started("b3", T + 2.0, stream=True), interrupted("b3", 1, "llama3@b", T + 2.8)]
    events += [gave_up("b3", T + 2.8, 1, "timeout_idle", "the stream broke", 0.8)]
    return events


def test_latency_percentiles_and_error_rates_per_deployment() -> None:
    index = index_of(latency_events())
    view = index.latency(index.span(T, T + 3, now=T + 3, live=False))
    a, b = view.deployments
    assert (a.deployment, a.requests, a.errors) == ("llama3@a", 30, 2)
    assert [p for _, p in a.p50.points] == [1.0, 0.5, None]
    assert a.p95.points[0] == (T, 1.9)
    assert a.error_rate.points[1:] == ((T + 1, 0.0), (T + 2, 1.0))
    assert (a.p50_s, a.p95_s) == (0.6, 1.9)  # 28 samples: the 14th and the 27th
    assert (b.requests, b.errors, b.p50_s) == (3, 2, 0.3)
    assert [r for _, r in b.error_rate.points] == [0.5, None, 1.0]
    assert view.failures == (
        FailureCell(failure="server_error", deployment="llama3@a", count=2),
        FailureCell(failure="timeout_connect", deployment="llama3@b", count=1),
        FailureCell(failure="timeout_idle", deployment="llama3@b", count=1),
    )
    series = {s.name: [v for _, v in s.points] for s in view.failure_series}
    assert series == {
        "server_error": [0.0, 0.0, 2.0],
        "timeout_connect": [1.0, 0.0, 0.0],
        "timeout_idle": [0.0, 0.0, 1.0],
    }


def test_latency_outside_the_span_is_left_out() -> None:
    index = index_of(latency_events())
    view = index.latency(index.span(T + 2, T + 3, now=T + 3, live=False))
    assert [(d.deployment, d.requests) for d in view.deployments] == [
        ("llama3@a", 2),
        ("llama3@b", 1),
    ]


def test_flow_counts_routes_fallbacks_and_serving_deployments() -> None:
    events: list[Event] = []
    for i in range(3):
        events += simple(f"g{i}", T + i, "llama3@a")
    events += simple("m", T + 4, "qwen@a", role=None, model="qwen")
    rid = "fb"
    events += [started(rid, T + 5), attempt(rid, 1, "llama3@b", T + 5)]
    events += [fail(rid, 1, "llama3@b", T + 6), fallback(rid, T + 6, "llama3", "qwen")]
    events += [attempt(rid, 2, "qwen@a", T + 6), ok(rid, 2, "qwen@a", T + 7, 1.0)]
    events += [answered(rid, "qwen@a", T + 7, 2, 2.0)]
    events += [started("none", T + 8, role="chat", chain=("mistral",))]
    events += [gave_up("none", T + 8, 0, None, "no deployment available", 0.0)]
    index = index_of(events)
    view = index.flow(index.span(T, T + 10, now=T + 10, live=False))
    assert (view.roles, view.models, view.deployments) == (
        ("(none)", "chat", "gen"),
        ("llama3", "mistral", "qwen"),
        ("llama3@a", "qwen@a"),
    )
    assert view.links == (
        FlowLink(source="gen", target="llama3", count=4, kind="route"),
        FlowLink(source="(none)", target="qwen", count=1, kind="route"),
        FlowLink(source="chat", target="mistral", count=1, kind="route"),
        FlowLink(source="llama3", target="qwen", count=1, kind="fallback"),
        FlowLink(source="llama3", target="llama3@a", count=3, kind="serve"),
        FlowLink(source="qwen", target="qwen@a", count=2, kind="serve"),
    )
    later = index.flow(index.span(T + 4.5, T + 10, now=T + 10, live=False))
    assert sum(link.count for link in later.links if link.kind == "route") == 2


def test_a_replayed_rate_ends_at_the_last_event_without_spikes() -> None:
    """Buckets after a replayed log's last event have no rate (not a false 0), and a
    bucket the log covers only in part is divided by that part (a quarter at least)."""
    events = [e for n in range(40) for e in simple(f"r{n}", T + n, "llama3@a", latency=0.01)]
    index = WebIndex()
    index.feed_many(stored(events))
    span = Span(since=T, until=T + 60, bucket_s=20.0)
    rate = dict(next(s for s in index.overview(span).rate if s.name == "all").points)
    assert rate[T] == 1.0 and rate[T + 20] == pytest.approx(20 / 19.01)  # log ends at T+39.01
    assert rate[T + 40] is None
    live = dict(
        index.overview(Span(since=T, until=T + 60, bucket_s=20.0, live=True)).rate[0].points
    )
    assert live[T + 20] == 1.0 and live[T + 40] == 0.0  # live: nothing came, a true 0
