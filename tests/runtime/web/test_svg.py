"""The web view's SVG: UTC ticks, scales, line charts, bands, waterfall, burn-down, flow."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    FallbackSwitched,
    RequestStarted,
    RequestSucceeded,
)
from runtime.inspect._explain_model import explain
from runtime.inspect.web._svg import (
    LEFT,
    PLOT_W,
    ChartLine,
    TimeScale,
    heat_level,
    line_chart,
    nice_max,
    time_ticks,
)
from runtime.inspect.web._svg_charts import bands_chart, burn_chart, waterfall_chart
from runtime.inspect.web._svg_flow import flow_chart
from runtime.inspect.web._views import (
    Band,
    DeploymentBands,
    FlowLink,
    FlowView,
    Mark,
    QuotaLimitView,
    Series,
    Span,
)
from runtime.inspect.web._waterfall import waterfall
from tests.runtime.inspect._requests import stored

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
EVIL = "<script>alert(1)</script>"


def parse(svg: str) -> ET.Element:
    """The SVG as XML: it must be well-formed (escaping mistakes break this)."""
    return ET.fromstring(svg)


def test_ticks_are_round_utc_times_inside_the_span() -> None:
    ticks = time_ticks(T0, T0 + 600)
    assert ticks, "a ten-minute span has ticks"
    assert all(T0 <= at <= T0 + 600 for at, _ in ticks)
    steps = {round(b[0] - a[0]) for a, b in itertools.pairwise(ticks)}
    assert steps == {120}
    assert ticks[0] == (T0 + 40, "22:14")  # 22:13:20 rounded up to a whole 2 minutes


def test_ticks_of_short_spans_show_seconds_and_of_long_spans_the_date() -> None:
    assert time_ticks(T0, T0 + 20)[0][1] == "22:13:20"
    week = time_ticks(T0, T0 + 7 * 86400)
    assert week[0][1] == "11-15 00:00"
    assert time_ticks(T0, T0) == []


def test_the_scale_maps_the_span_onto_the_plot_and_clamps_outside_it() -> None:
    scale = TimeScale(since=T0, until=T0 + 100)
    assert scale.x(T0) == LEFT
    assert scale.x(T0 + 50) == LEFT + PLOT_W / 2
    assert scale.x(T0 - 999) == LEFT
    assert scale.x(T0 + 999) == LEFT + PLOT_W


def test_heat_levels_shade_cells_by_their_share_of_the_largest() -> None:
    assert [heat_level(v, 100) for v in (0, 1, 25, 26, 99, 100)] == [0, 1, 1, 2, 4, 4]
    assert heat_level(5, 0) == 0


def test_nice_max_rounds_up_to_a_readable_number() -> None:
    assert nice_max(0.0) == 1.0
    assert nice_max(7.0) == 10.0
    assert nice_max(0.23) == 0.25
    assert nice_max(120.0) == 200.0


def test_a_line_chart_breaks_at_missing_values_and_escapes_names() -> None:
    points = ((T0, 1.0), (T0 + 10, 2.0), (T0 + 20, None), (T0 + 30, 3.0), (T0 + 40, 4.0))
    svg = line_chart(
        "rate",
        [ChartLine(name=EVIL, points=points, colour="#123456")],
        TimeScale(since=T0, until=T0 + 50),
        unit=lambda v: f"{v:g}/s",
        bucket_s=10,
    )
    root = parse(svg)
    assert root.get("class") == "rate"
    (path,) = root.iter("path")
    assert path.get("d", "").count("M") == 2  # two runs of values, a gap between
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_an_empty_line_chart_says_so() -> None:
    svg = line_chart("rate", [], TimeScale(since=T0, until=T0 + 60), unit=str)
    assert "no data in this span" in svg
    parse(svg)


def _outage() -> DeploymentBands:
    return DeploymentBands(
        deployment="llama3@b",
        bands=(
            Band(start=T0, end=T0 + 5, status="healthy"),
            Band(start=T0 + 5, end=T0 + 36, status="quarantined", reason=EVIL),
            Band(start=T0 + 36, end=T0 + 37, status="probing"),
            Band(start=T0 + 37, end=T0 + 60, status="healthy", ongoing=True),
        ),
        status_now="healthy",
        changes=3,
        out_s=32.0,
    )


def test_bands_carry_status_and_epoch_bounds_for_each_deployment() -> None:
    svg = bands_chart([_outage()], Span(since=T0, until=T0 + 60, bucket_s=1))
    root = parse(svg)
    assert root.get("class") == "bands"
    (group,) = [g for g in root.iter("g") if g.get("class") == "deployment"]
    assert group.get("data-deployment") == "llama3@b"
    rects = [r for r in group.iter("rect") if r.get("class") == "band"]
    assert [r.get("data-status") for r in rects] == ["healthy", "quarantined", "probing", "healthy"]
    quarantined = rects[1]
    assert float(quarantined.get("data-start", "0")) == T0 + 5
    assert float(quarantined.get("data-end", "0")) == T0 + 36
    tip = quarantined.find("title")
    assert tip is not None and tip.text is not None
    assert "2023-11-14 22:13:25 UTC" in tip.text and EVIL in tip.text  # text, not markup
    assert "(ongoing)" in (rects[3].findtext("title") or "")


def test_a_short_band_is_still_visible() -> None:
    bands = DeploymentBands(
        deployment="m@e",
        bands=(Band(start=T0, end=T0 + 0.001, status="cool_down"),),
        status_now="healthy",
        changes=1,
        out_s=0.0,
    )
    root = parse(bands_chart([bands], Span(since=T0, until=T0 + 86400, bucket_s=900)))
    (rect,) = [r for r in root.iter("rect") if r.get("class") == "band"]
    assert float(rect.get("width", "0")) >= 1.5


def _request_events() -> list[object]:
    rid = "r-1"
    return [
        RequestStarted(
            request_id=rid, at=T0, role="gen", model=None, kind=None, stream=False,
            chain=("llama3", "qwen"), candidates=("llama3@a", "llama3@b"), prompt_chars=5,
            prompt_hash="h", messages=1,
        ),
        CandidateSkipped(request_id=rid, at=T0, deployment="llama3@b", reason="quarantined"),
        AttemptStarted(
            request_id=rid, at=T0 + 0.01, attempt=1, deployment="llama3@a", model="llama3",
            endpoint="a",
        ),
        AttemptFailed(
            request_id=rid, at=T0 + 0.5, attempt=1, deployment="llama3@a", failure="http_5xx",
            retryable=True, status=500, message="boom", latency_s=0.45, queue_s=0.02,
            connect_s=0.01, first_byte_s=0.45,
        ),
        FallbackSwitched(
            request_id=rid, at=T0 + 0.5, from_model="llama3", to_model="qwen",
            reason="exhausted", candidates=("qwen@a",),
        ),
        AttemptStarted(
            request_id=rid, at=T0 + 0.75, attempt=2, deployment="qwen@a", model="qwen",
            endpoint="a", backoff_s=0.25,
        ),
        AttemptSucceeded(
            request_id=rid, at=T0 + 1.75, attempt=2, deployment="qwen@a", latency_s=0.9,
            queue_s=0.05, connect_s=0.05, first_byte_s=0.3, completion_tokens=5,
        ),
        RequestSucceeded(
            request_id=rid, at=T0 + 1.75, model="qwen", endpoint="a",
            attempts=2, latency_s=1.75,
        ),
    ]  # fmt: skip


def test_the_waterfall_splits_an_attempt_into_queue_connect_first_byte_and_generation() -> None:
    fall = waterfall(explain(stored(_request_events())))  # type: ignore[arg-type]
    kinds = [row.kind for row in fall.rows]
    assert kinds == ["skip", "attempt", "fallback", "attempt"]
    second = fall.rows[3]
    by_kind = {s.kind: s for s in second.segments}
    assert set(by_kind) == {"attempt", "backoff", "queue", "connect", "first_byte", "generation"}
    assert by_kind["backoff"].end_s == by_kind["attempt"].start_s == 0.75
    assert by_kind["queue"].start_s == 0.75
    assert abs(by_kind["generation"].end_s - (0.75 + 0.05 + 0.05 + 0.9)) < 1e-9
    first = {s.kind for s in fall.rows[1].segments}
    assert "generation" not in first  # a failed attempt generated nothing
    assert fall.start_s == 0.0 and abs(fall.end_s - 1.75) < 1e-9


def test_the_waterfall_svg_marks_every_kind() -> None:
    svg = waterfall_chart(waterfall(explain(stored(_request_events()))))  # type: ignore[arg-type]
    root = parse(svg)
    kinds = {r.get("data-kind") for r in root.iter("rect")}
    assert {"attempt", "queue", "connect", "first_byte", "generation", "backoff", "skip"} <= kinds
    assert "fallback" in kinds


def test_an_attempt_on_a_clock_that_did_not_move_is_as_long_as_its_timings() -> None:
    rid = "r-2"
    same = [
        RequestStarted(
            request_id=rid, at=T0, role=None, model="m", kind=None, stream=False,
            candidates=("m@e",), prompt_chars=1, prompt_hash="h",
        ),
        AttemptStarted(request_id=rid, at=T0, attempt=1, deployment="m@e", model="m", endpoint="e"),
        AttemptSucceeded(request_id=rid, at=T0, attempt=1, deployment="m@e", latency_s=0.2),
        RequestSucceeded(
            request_id=rid, at=T0, model="m", endpoint="e", attempts=1,
            latency_s=0.2,
        ),
    ]  # fmt: skip
    fall = waterfall(explain(stored(same)))
    (row,) = fall.rows
    assert row.segments[0].end_s - row.segments[0].start_s == 0.2


def test_the_burn_down_marks_warnings_and_refusals_on_the_use_line() -> None:
    limit = QuotaLimitView(
        limit="global.requests",
        period="day",
        period_start=T0,
        resets_at=T0 + 86400,
        used=Series(name="used", points=((T0, 1.0), (T0 + 60, 8.0), (T0 + 120, 10.0))),
        used_now=10,
        limit_value=10,
        warnings=(Mark(at=T0 + 60, label="80% used"),),
        exceeded=(Mark(at=T0 + 120, label=EVIL),),
    )
    root = parse(burn_chart(limit))
    assert root.get("class") == "burn"
    circles = {c.get("class"): c for c in root.iter("circle")}
    assert set(circles) == {"warning", "exceeded"}
    assert float(circles["warning"].get("data-at", "0")) == T0 + 60
    assert EVIL in (circles["exceeded"].findtext("title") or "")
    limit_line = [ln for ln in root.iter("line") if ln.get("class") == "limit"]
    assert len(limit_line) == 1


def test_the_flow_draws_each_link_with_its_kind_and_count() -> None:
    view = FlowView(
        span=Span(since=T0, until=T0 + 60, bucket_s=1),
        roles=("gen",),
        models=("llama3", "qwen"),
        deployments=("llama3@a", "qwen@a"),
        links=(
            FlowLink(source="gen", target="llama3", count=10, kind="route"),
            FlowLink(source="llama3", target="llama3@a", count=9, kind="serve"),
            FlowLink(source="qwen", target="qwen@a", count=1, kind="serve"),
            FlowLink(source="llama3", target="qwen", count=1, kind="fallback"),
        ),
    )
    root = parse(flow_chart(view))
    links = [p for p in root.iter("path") if p.get("class") == "link"]
    found = {(p.get("data-kind"), p.get("data-source"), p.get("data-target")) for p in links}
    assert found == {
        ("route", "gen", "llama3"),
        ("serve", "llama3", "llama3@a"),
        ("serve", "qwen", "qwen@a"),
        ("fallback", "llama3", "qwen"),
    }
    widths = {p.get("data-target"): float(p.get("stroke-width", "0")) for p in links}
    assert widths["llama3"] > widths["qwen@a"]  # wider with more traffic
    (fallback,) = [p for p in links if p.get("data-kind") == "fallback"]
    assert fallback.get("stroke-dasharray")
    assert re.fullmatch(r"\d+", fallback.get("data-count", ""))


def test_refusals_close_together_share_one_circle_that_counts_them() -> None:
    refusals = tuple(Mark(at=T0 + 3600 + i, label=f"refused at {100 + i}") for i in range(400))
    limit = QuotaLimitView(
        limit="global.requests",
        period="day",
        period_start=T0,
        resets_at=T0 + 86400,
        used=Series(name="used", points=((T0, 0.0), (T0 + 3600, 100.0))),
        used_now=100,
        limit_value=100,
        warnings=(Mark(at=T0 + 1800, label="50% used"),),
        exceeded=refusals,
    )
    root = parse(burn_chart(limit))
    exceeded = [c for c in root.iter("circle") if c.get("class") == "exceeded"]
    assert len(exceeded) < 10  # 400 s of a day is a few pixels
    assert sum(int(c.get("data-count", "0")) for c in exceeded) == 400
    (warning,) = [c for c in root.iter("circle") if c.get("class") == "warning"]
    assert warning.get("data-count") == "1"
