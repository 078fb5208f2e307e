"""The web view's special charts: status bands, a request's waterfall, a quota's burn-down.

Each returns one ``<svg>`` element whose classes and ``data-*`` attributes are the DOM
contract the browser tests select on (``svg.bands g.deployment rect.band[data-status]``,
``svg.waterfall rect[data-kind]``, ``svg.burn circle.warning``...).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from runtime.inspect.web._html import count, esc, seconds, utc
from runtime.inspect.web._svg import (
    LEFT,
    PLOT_W,
    STATUS_COLOURS,
    WIDTH,
    TimeScale,
    nice_max,
    tick_anchor,
    time_axis,
)
from runtime.inspect.web._views import DeploymentBands, Mark, QuotaLimitView, Span
from runtime.inspect.web._waterfall import Waterfall

__all__ = ["KIND_COLOURS", "bands_chart", "burn_chart", "waterfall_chart"]

_ROW = 24
_BAR = 16

KIND_COLOURS = {
    "attempt": "#c9d3de",
    "backoff": "#f2d8a7",
    "queue": "#9aa7b5",
    "connect": "#5aa1d6",
    "first_byte": "#f0a04b",
    "generation": "#2e9e5b",
    "skip": "#e0a526",
    "fallback": "#7b61c9",
    "health": "#d64545",
}
"""Colours of the waterfall's bars and markers, by kind."""

_MARKER_W = 6.0
_MARK_SPREAD = 4.0
"""Pixels within which quota marks share one circle."""


def bands_chart(deployments: Sequence[DeploymentBands], span: Span) -> str:
    """One row of status bands per deployment over ``span`` (``<svg class="bands">``)."""
    scale = TimeScale(since=span.since, until=span.until)
    height = 12 + _ROW * max(len(deployments), 1) + 22
    bottom = height - 22
    parts = [
        f'<svg class="bands" viewBox="0 0 {WIDTH} {height}" role="img" '
        'preserveAspectRatio="xMinYMin meet">',
        time_axis(scale, 6, bottom),
    ]
    for i, deployment in enumerate(deployments):
        y = 12 + i * _ROW
        parts.append(
            f'<g class="deployment" data-deployment="{esc(deployment.deployment)}" '
            f'data-status-now="{esc(deployment.status_now)}">'
            f'<text class="label" x="{LEFT - 8}" y="{y + _BAR - 4}" text-anchor="end">'
            f"{esc(deployment.deployment)}</text>"
        )
        for band in deployment.bands:
            x0, x1 = scale.x(band.start), scale.x(band.end)
            colour = STATUS_COLOURS.get(band.status, STATUS_COLOURS["unknown"])
            length = band.end - band.start
            tip = f"{deployment.deployment}: {band.status.replace('_', ' ')} from {utc(band.start)}"
            tip += " (ongoing)" if band.ongoing else f" to {utc(band.end)}, {seconds(length)}"
            if band.reason:
                tip += f": {band.reason}"
            parts.append(
                f'<rect class="band" data-status="{esc(band.status)}" '
                f'data-start="{band.start:.3f}" data-end="{band.end:.3f}" '
                f'x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" height="{_BAR}" '
                f'fill="{colour}"><title>{esc(tip)}</title></rect>'
            )
        parts.append("</g>")
    if not deployments:
        parts.append(
            f'<text class="nodata" x="{LEFT + PLOT_W / 2}" y="{12 + _BAR}" '
            'text-anchor="middle">no deployment appears in this span</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def waterfall_chart(fall: Waterfall) -> str:
    """The request's steps as rows of bars on a seconds-since-start axis."""
    start, end = fall.start_s, fall.end_s
    extent = end - start if end > start else 1.0

    def x(offset: float) -> float:
        return LEFT + (offset - start) / extent * PLOT_W

    height = 10 + _ROW * max(len(fall.rows), 1) + 24
    bottom = height - 24
    parts = [
        f'<svg class="waterfall" viewBox="0 0 {WIDTH} {height}" role="img" '
        'preserveAspectRatio="xMinYMin meet">'
    ]
    for offset in _round_offsets(start, start + extent):
        parts.append(
            f'<line class="grid" x1="{x(offset):.1f}" y1="6" x2="{x(offset):.1f}" '
            f'y2="{bottom}"/><text class="tick" x="{x(offset):.1f}" y="{bottom + 16}" '
            f'text-anchor="{tick_anchor(x(offset))}">{esc(_offset(offset))}</text>'
        )
    for i, row in enumerate(fall.rows):
        y = 10 + i * _ROW
        parts.append(
            f'<g class="step" data-kind="{esc(row.kind)}" data-tone="{esc(row.tone)}">'
            f'<text class="label" x="{LEFT - 8}" y="{y + _BAR - 4}" text-anchor="end">'
            f"{esc(_short(row.label or row.kind))}</text>"
        )
        for segment in row.segments:
            x0, x1 = x(segment.start_s), x(segment.end_s)
            instant = segment.start_s == segment.end_s and segment.kind != "attempt"
            if instant:
                x0, x1 = x0 - _MARKER_W / 2, x0 + _MARKER_W / 2
            inset = 0 if segment.kind in ("attempt", "backoff") or instant else 3
            colour = KIND_COLOURS.get(segment.kind, "#888888")
            if segment.kind == "attempt" and row.tone == "bad":
                colour = "#f3c2c2"
            tip = f"{segment.kind.replace('_', ' ')}: " + (
                row.text
                if segment.kind in ("attempt", "skip", "fallback", "health")
                else f"{seconds(segment.end_s - segment.start_s)}"
            )
            parts.append(
                f'<rect data-kind="{esc(segment.kind)}" data-start-s="{segment.start_s:.4f}" '
                f'data-end-s="{segment.end_s:.4f}" x="{x0:.1f}" y="{y + inset}" '
                f'width="{max(x1 - x0, 1.5):.1f}" height="{_BAR - 2 * inset}" '
                f'fill="{colour}"><title>{esc(tip)}</title></rect>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _round_offsets(start: float, end: float) -> list[float]:
    """Tick offsets at round steps (1, 2, 2.5, 5 x 10^n s) from ``start`` to ``end``."""
    step = nice_max((end - start) / 5)
    first = math.ceil(start / step - 1e-9)
    ticks = [k * step for k in range(first, first + 12) if k * step <= end * (1 + 1e-9)]
    return ticks or [start]


def _offset(value: float) -> str:
    sign = "-" if value < 0 else "+"
    return sign + seconds(abs(value))


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nearby(marks: Sequence[Mark], scale: TimeScale) -> list[list[Mark]]:
    """``marks`` (in time order) in groups drawn as one circle: those within a few pixels
    of the group's first (hundreds of refusals in a minute would be one blot anyway)."""
    groups: list[list[Mark]] = []
    for mark in sorted(marks, key=lambda m: m.at):
        if groups and scale.x(mark.at) - scale.x(groups[-1][0].at) < _MARK_SPREAD:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    return groups


def burn_chart(limit: QuotaLimitView, *, fmt: Callable[[int], str] = count) -> str:
    """Cumulative use of one limit from its period's start to its reset (``svg.burn``).

    The limit is a horizontal line; warnings are ``circle.warning`` and refusals
    ``circle.exceeded`` on the use line at their time.
    """
    points = [(at, v) for at, v in limit.used.points if v is not None]
    since = limit.period_start
    last = max([at for at, _ in points], default=since)
    until = limit.resets_at if limit.resets_at is not None else max(last, since + 1)
    if until <= since:
        until = since + 1
    scale = TimeScale(since=since, until=until)
    height = 200
    top, bottom = 12.0, float(height - 24)
    peak_used = max([v for _, v in points], default=0.0)
    peak = nice_max(max(peak_used, float(limit.limit_value or 0), 1.0) * 1.05)

    def y(value: float) -> float:
        return bottom - min(max(value, 0.0), peak) / peak * (bottom - top)

    def used_at(at: float) -> float:
        before = [v for t, v in points if t <= at]
        return before[-1] if before else 0.0

    parts = [
        f'<svg class="burn" data-limit="{esc(limit.limit)}" viewBox="0 0 {WIDTH} {height}" '
        'role="img" preserveAspectRatio="xMinYMin meet">',
        time_axis(scale, top, bottom),
    ]
    for i in range(5):
        value = peak * i / 4
        parts.append(
            f'<line class="hgrid" x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + PLOT_W}" '
            f'y2="{y(value):.1f}"/><text class="vtick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{esc(fmt(round(value)))}</text>'
        )
    if limit.limit_value is not None:
        ly = y(limit.limit_value)
        parts.append(
            f'<line class="limit" x1="{LEFT}" y1="{ly:.1f}" x2="{LEFT + PLOT_W}" y2="{ly:.1f}" '
            'stroke="#d64545" stroke-width="1.5" stroke-dasharray="6 3">'
            f"<title>limit {esc(fmt(limit.limit_value))}</title></line>"
        )
    if points:  # use only grows: a step line, level until the next bucket's figure
        steps = [f"M{scale.x(points[0][0]):.1f},{y(points[0][1]):.1f}"]
        for at, value in points[1:]:
            steps.append(f"H{scale.x(at):.1f} V{y(value):.1f}")
        path = " ".join(steps)
        parts.append(
            f'<path class="used" d="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
        )
    parts.append(_mark_circles(limit, scale, lambda at: y(used_at(at))))
    parts.append("</svg>")
    return "".join(parts)


def _mark_circles(
    limit: QuotaLimitView, scale: TimeScale, height_at: Callable[[float], float]
) -> str:
    """``circle.warning`` / ``circle.exceeded`` on the use line (nearby marks share one)."""
    parts = []
    for cls, marks, colour in (
        ("warning", limit.warnings, "#e0a526"),
        ("exceeded", limit.exceeded, "#d64545"),
    ):
        for group in _nearby(marks, scale):
            head, tail = group[0], group[-1]
            tip = f"{cls} at {utc(head.at)}: {head.label}"
            if len(group) > 1:
                tip = f"{len(group)} {cls} marks from {utc(head.at)} to {utc(tail.at)}; "
                tip += f"last: {tail.label}"
            parts.append(
                f'<circle class="{cls}" data-at="{head.at:.3f}" data-count="{len(group)}" '
                f'cx="{scale.x(head.at):.1f}" cy="{height_at(head.at):.1f}" r="5" '
                f'fill="{colour}" stroke="#ffffff"><title>{esc(tip)}</title></circle>'
            )
    return "".join(parts)
