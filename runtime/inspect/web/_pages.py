"""The overview and latency pages: view models in, the HTML of ``<main>`` out.

Each ``*_main`` function renders one page's content; ``_app`` wraps it in
``_html.layout`` (header, navigation, live script). Pure: no I/O, no clock.
"""

from __future__ import annotations

from runtime.inspect.web._html import (
    count,
    esc,
    ms,
    percent,
    query_string,
    range_picker,
    seconds,
    table,
    utc,
)
from runtime.inspect.web._svg import (
    STATUS_COLOURS,
    ChartLine,
    TimeScale,
    heat_level,
    legend,
    line_chart,
    series_colour,
)
from runtime.inspect.web._svg_charts import bands_chart
from runtime.inspect.web._views import (
    STATUSES,
    LatencyView,
    Overview,
    Series,
    Span,
)

__all__ = ["error_main", "latency_main", "overview_main", "span_text"]


def span_text(span: Span) -> str:
    """``2023-11-14 22:13:20 UTC to 2023-11-14 22:14:30 UTC (1 min 10 s; buckets of 1 s)``."""
    length = seconds(span.until - span.since)
    end = "now" if span.live else utc(span.until)
    return f"{utc(span.since)} to {end} ({length}; buckets of {seconds(span.bucket_s)})"


def error_main(message: str, *, heading: str = "Cannot show this page") -> str:
    """A page that says what was wrong (``<p class="error">``)."""
    return f'<h1>{esc(heading)}</h1><p class="error">{esc(message)}</p>'


def _picker(action: str, span: Span, since: str, until: str) -> str:
    return range_picker(action, since, until, span_text=span_text(span))


def _lines(series: tuple[Series, ...], *, skip: str = "") -> list[ChartLine]:
    lines = []
    for i, one in enumerate(s for s in series if s.name != skip):
        lines.append(
            ChartLine(name=one.name, key=one.name, points=one.points, colour=series_colour(i))
        )
    return lines


def _request_links(deployment: str, span: Span) -> str:
    """Links to the slowest and the failed requests that tried ``deployment`` in ``span``."""
    window = {"deployment": deployment, "since": f"{span.since:.3f}", "until": f"{span.until:.3f}"}
    return " · ".join(
        f'<a href="{esc("requests" + query_string({"kind": kind, **window}))}">{label}</a>'
        for kind, label in (("slow", "slowest"), ("failed", "failed"))
    )


def _rate(value: float) -> str:
    return f"{value:.2g}/s" if value < 10 else f"{value:.0f}/s"


def overview_main(view: Overview, *, since: str = "", until: str = "") -> str:
    """Status bands per deployment, the request rate beneath, totals, the range picker."""
    span = view.span
    scale = TimeScale(since=span.since, until=span.until)
    totals = view.totals
    figures = (
        ("requests", "requests", totals.requests),
        ("succeeded", "succeeded", totals.succeeded),
        ("failed", "failed", totals.failed),
        ("cancelled", "cancelled", totals.cancelled),
        ("running", "running", totals.running),
        ("fallbacks", "fallbacks", totals.fallbacks),
        ("events", "events", totals.events),
    )
    dl = "".join(
        f'<div><dt>{esc(label)}</dt><dd data-key="{key}" data-value="{value}">'
        f"{count(value)}</dd></div>"
        for key, label, value in figures
    )
    lines = _lines(view.rate, skip="all")
    overall = next((s for s in view.rate if s.name == "all"), None)
    if overall is not None:
        lines.insert(
            0,
            ChartLine(name="all", key="all", points=overall.points, colour="#333333", dashed=True),
        )
    rate_legend = legend([(line.name, line.colour) for line in lines], dashed=["all"])
    status_legend = legend([(s.replace("_", " "), STATUS_COLOURS[s]) for s in STATUSES])
    rows = [
        f'<tr data-deployment="{esc(d.deployment)}"><td>{esc(d.deployment)}</td>'
        f'<td data-key="status_now"><span class="status status-{esc(d.status_now)}">'
        f"{esc(d.status_now.replace('_', ' '))}</span></td>"
        f'<td data-key="changes" data-value="{d.changes}">{count(d.changes)}</td>'
        f'<td data-key="out" data-value="{d.out_s:.3f}">{seconds(d.out_s)}</td>'
        f"<td>{_request_links(d.deployment, span)}</td></tr>"
        for d in view.deployments
    ]
    log_span = (
        f"the log runs from {utc(view.first_at)} to {utc(view.last_at)}; "
        f"read up to position {count(view.position)}"
        if view.first_at is not None
        else "the log holds no events yet"
    )
    if view.keep_s is not None:
        log_span += (
            f"; showing the last {seconds(view.keep_s)} (older events are not kept in memory)"
        )
    elif view.kept_since is not None:
        log_span += f"; showing the events from {utc(view.kept_since)} on (older ones not read)"
    return (
        "<h1>Overview</h1>"
        + _picker("./", span, since, until)
        + f'<dl class="totals">{dl}</dl>'
        + "<h2>Deployment status</h2>"
        + status_legend
        + bands_chart(view.deployments, span)
        + "<h2>Request rate</h2>"
        + rate_legend
        + line_chart("rate", lines, scale, unit=_rate, bucket_s=span.bucket_s)
        + table(
            "deployments",
            ("deployment", "status at the end", "changes", "out of rotation", "requests"),
            rows,
            empty="no deployment appears in this span",
        )
        + f'<p class="meta">{esc(log_span)}</p>'
    )


def latency_main(view: LatencyView, *, since: str = "", until: str = "") -> str:
    """p50/p95 and error rate per deployment over time, the span's table, failures."""
    span = view.span
    scale = TimeScale(since=span.since, until=span.until)
    latency_lines = []
    error_lines = []
    for i, d in enumerate(view.deployments):
        colour = series_colour(i)
        latency_lines.append(
            ChartLine(
                name=f"{d.deployment} p50", key=d.deployment, points=d.p50.points, colour=colour
            )
        )
        latency_lines.append(
            ChartLine(
                name=f"{d.deployment} p95",
                key=d.deployment,
                points=d.p95.points,
                colour=colour,
                dashed=True,
            )
        )
        error_lines.append(
            ChartLine(
                name=d.deployment, key=d.deployment, points=d.error_rate.points, colour=colour
            )
        )
    rows = [
        f'<tr data-deployment="{esc(d.deployment)}"><td>{esc(d.deployment)}</td>'
        f'<td data-key="p50" data-value="{_raw(d.p50_s)}">{ms(d.p50_s)}</td>'
        f'<td data-key="p95" data-value="{_raw(d.p95_s)}">{ms(d.p95_s)}</td>'
        f'<td data-key="requests" data-value="{d.requests}">{count(d.requests)}</td>'
        f'<td data-key="errors" data-value="{d.errors}">{count(d.errors)}</td>'
        f'<td data-key="error_rate">{percent(d.errors / d.requests if d.requests else None)}</td>'
        "</tr>"
        for d in view.deployments
    ]
    deployment_legend = legend(
        [(d.deployment, series_colour(i)) for i, d in enumerate(view.deployments)]
    )
    failure_lines = _lines(view.failure_series)
    return (
        "<h1>Latency and errors</h1>"
        + _picker("latency", span, since, until)
        + table(
            "latency",
            ("deployment", "p50", "p95", "attempts", "failed", "error rate"),
            rows,
            empty="no attempts in this span",
        )
        + "<h2>Latency of successful attempts (p50 solid, p95 dashed)</h2>"
        + deployment_legend
        + line_chart(
            "latency-chart", latency_lines, scale, unit=_axis_seconds, bucket_s=span.bucket_s
        )
        + "<h2>Error rate (failed attempts / attempts)</h2>"
        + deployment_legend
        + line_chart(
            "error-chart", error_lines, scale, unit=percent, y_max=1.0, bucket_s=span.bucket_s
        )
        + "<h2>Failures by class and deployment</h2>"
        + _failures_table(view)
        + legend([(line.name, line.colour) for line in failure_lines])
        + line_chart(
            "failure-chart", failure_lines, scale, unit=_per_bucket, bucket_s=span.bucket_s
        )
    )


def _axis_seconds(value: float) -> str:
    """A latency axis label: ``250 ms`` below a second, ``2.5 s`` from there."""
    return ms(value) if value < 1 else f"{value:g} s"


def _raw(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _per_bucket(value: float) -> str:
    return f"{value:.3g}"


def _failures_table(view: LatencyView) -> str:
    classes = sorted({cell.failure for cell in view.failures})
    deployments = sorted({cell.deployment for cell in view.failures})
    counts = {(c.failure, c.deployment): c.count for c in view.failures}
    peak = max(counts.values(), default=0)
    rows = []
    for failure in classes:
        cells = "".join(
            f'<td data-failure="{esc(failure)}" data-deployment="{esc(d)}" '
            f'data-value="{counts.get((failure, d), 0)}" '
            f'class="heat-{heat_level(counts.get((failure, d), 0), peak)}">'
            f"{count(counts.get((failure, d), 0))}</td>"
            for d in deployments
        )
        total = sum(counts.get((failure, d), 0) for d in deployments)
        rows.append(
            f'<tr data-failure="{esc(failure)}"><th scope="row">{esc(failure)}</th>{cells}'
            f'<td data-key="total" data-value="{total}">{count(total)}</td></tr>'
        )
    return table(
        "failures",
        ("failure class", *deployments, "total"),
        rows,
        empty="no failed attempts in this span",
    )
