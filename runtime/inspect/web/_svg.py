"""SVG primitives of the web view: a time scale, UTC ticks, axes, line charts, legends.

Charts are drawn server-side as inline SVG with a fixed ``viewBox`` (the page's CSS
stretches them to the width available). Every chart of a page over the same span uses
the same horizontal layout (``LEFT`` gutter for labels, ``PLOT_W`` of plot), so the
status bands and the request rate beneath them line up. Colours are presentation
attributes, never ``style`` attributes: the page's Content-Security-Policy forbids those.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

import msgspec

from runtime.inspect.web._html import esc

__all__ = [
    "HEAT_LEVELS",
    "LEFT",
    "PLOT_W",
    "SERIES_COLOURS",
    "STATUS_COLOURS",
    "WIDTH",
    "ChartLine",
    "TimeScale",
    "heat_level",
    "legend",
    "line_chart",
    "nice_max",
    "series_colour",
    "swatch",
    "tick_anchor",
    "time_axis",
    "time_ticks",
]

LEFT = 200
"""Pixels (viewBox units) left of the plot, for row labels and the value axis."""
PLOT_W = 760
"""Width of the plot area."""
WIDTH = LEFT + PLOT_W + 20
"""Width of every chart's viewBox."""

STATUS_COLOURS = {
    "healthy": "#2e9e5b",
    "degraded": "#e0a526",
    "quarantined": "#d64545",
    "probing": "#7b61c9",
    "failed": "#7a1f1f",
    "cool_down": "#3a86c8",
    "panic_probe": "#e36fb1",
    "unknown": "#b8bec6",
}
"""One colour per deployment status (``_views.STATUSES``)."""

SERIES_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
"""Colours of chart lines, one per deployment (or failure class) in order."""

_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800, 2592000,
)  # fmt: skip
"""Tick spacings in seconds: round numbers on a clock."""


HEAT_LEVELS = 5
"""Shades of a heat table's cells: ``heat-0`` (none) to ``heat-4`` (the largest)."""


def heat_level(value: float, peak: float) -> int:
    """The shade of a cell holding ``value`` in a table whose largest cell is ``peak``."""
    if value <= 0 or peak <= 0:
        return 0
    return max(1, min(HEAT_LEVELS - 1, math.ceil(value / peak * (HEAT_LEVELS - 1))))


def series_colour(index: int) -> str:
    """The colour of the ``index``-th line of a chart."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


class TimeScale(msgspec.Struct, frozen=True, kw_only=True):
    """Maps epoch seconds inside ``[since, until]`` to x in the plot area."""

    since: float
    until: float
    x0: float = LEFT
    width: float = PLOT_W

    def x(self, ts: float) -> float:
        """The x of ``ts``, clamped to the plot area."""
        extent = self.until - self.since
        if extent <= 0:
            return self.x0
        share = min(max((ts - self.since) / extent, 0.0), 1.0)
        return self.x0 + share * self.width


def time_ticks(since: float, until: float, target: int = 7) -> list[tuple[float, str]]:
    """About ``target`` round UTC times inside ``[since, until]`` with their labels.

    Labels are ``22:13:20`` for spans under a minute's ticks, ``22:15`` for minute ticks,
    and ``11-14 22:00`` once the span crosses days.
    """
    extent = until - since
    if extent <= 0 or not math.isfinite(extent):
        return []
    step = next((s for s in _STEPS if extent / s <= target), _STEPS[-1])
    first = math.ceil(since / step) * step
    dated = extent > 86400 or _day(since) != _day(until)
    ticks = []
    at = float(first)
    while at <= until:
        ticks.append((at, _tick_label(at, step, dated)))
        at += step
    return ticks


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _tick_label(ts: float, step: int, dated: bool) -> str:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    clock = moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")
    return moment.strftime("%m-%d ") + clock if dated else clock


def time_axis(scale: TimeScale, top: float, bottom: float) -> str:
    """Vertical grid lines from ``top`` to ``bottom`` at the ticks, labels beneath."""
    parts = []
    for at, label in time_ticks(scale.since, scale.until):
        x = scale.x(at)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}"/>'
            f'<text class="tick" x="{x:.1f}" y="{bottom + 16:.1f}" '
            f'text-anchor="{tick_anchor(x)}">{esc(label)}</text>'
        )
    return "".join(parts)


def tick_anchor(x: float) -> str:
    """``end`` for a label at the plot's right edge (so it is not cut off), else ``middle``."""
    return "end" if x > LEFT + PLOT_W - 30 else "middle"


def nice_max(value: float) -> float:
    """The smallest round number (1, 2, 2.5, 5 x 10^n) at or above ``value`` (> 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= value * (1 - 1e-9):
            return float(factor * power)
    return float(10 * power)


def _divisions(peak: float) -> int:
    """Into how many round steps the value axis up to ``peak`` divides (5 for 0.25:
    0.05 apart; 4 for 2: 0.5 apart), 4 if none is round."""
    for parts in (5, 4, 6, 3):
        step = peak / parts
        if math.isclose(nice_max(step), step, rel_tol=1e-9):
            return parts
    return 4


class ChartLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a line chart."""

    name: str
    points: tuple[tuple[float, float | None], ...]
    """(bucket start, value); None leaves a gap."""
    colour: str
    dashed: bool = False
    key: str = ""
    """Put in ``data-series`` (the deployment or class the line is about)."""


def line_chart(
    cls: str,
    lines: Sequence[ChartLine],
    scale: TimeScale,
    *,
    unit: Callable[[float], str],
    height: int = 180,
    y_max: float | None = None,
    bucket_s: float = 0.0,
) -> str:
    """An ``<svg class=cls>`` line chart over ``scale``'s span.

    Args:
        unit: Formats a value of the value axis (``120 ms``, ``2.5 %``).
        y_max: Top of the value axis (default: the largest value, rounded up).
        bucket_s: Width of a bucket: each point is drawn at its bucket's middle.
    """
    top, bottom = 10.0, float(height - 24)
    values = [v for line in lines for _, v in line.points if v is not None]
    peak = y_max if y_max is not None else nice_max(max(values, default=0.0))

    def y(value: float) -> float:
        return bottom - (min(max(value, 0.0), peak) / peak) * (bottom - top)

    parts = [
        f'<svg class="{esc(cls)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        'preserveAspectRatio="xMinYMin meet">',
        time_axis(scale, top, bottom),
    ]
    divisions = _divisions(peak)
    for i in range(divisions + 1):
        value = peak * i / divisions
        parts.append(
            f'<line class="hgrid" x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + PLOT_W}" '
            f'y2="{y(value):.1f}"/><text class="vtick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{esc(unit(value))}</text>'
        )
    for line in lines:
        parts.append(_polyline(line, scale, y, bucket_s))
    if not values:
        parts.append(
            f'<text class="nodata" x="{LEFT + PLOT_W / 2}" y="{(top + bottom) / 2}" '
            'text-anchor="middle">no data in this span</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _polyline(
    line: ChartLine, scale: TimeScale, y: Callable[[float], float], bucket_s: float
) -> str:
    """The line as one ``<path>`` (gaps where values are None) plus dots for single points."""
    segments: list[list[tuple[float, float]]] = [[]]
    for at, value in line.points:
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((scale.x(at + bucket_s / 2), y(value)))
    path = []
    dots = []
    for segment in segments:
        if len(segment) == 1:
            dots.append(segment[0])
        elif segment:
            path.append("M" + " L".join(f"{x:.1f},{yy:.1f}" for x, yy in segment))
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    out = [f'<g class="series" data-series="{esc(line.key or line.name)}">']
    out.append(f"<title>{esc(line.name)}</title>")
    if path:
        out.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{line.colour}" '
            f'stroke-width="1.8"{dash}/>'
        )
    out += [f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="2.5" fill="{line.colour}"/>' for x, yy in dots]
    out.append("</g>")
    return "".join(out)


def swatch(colour: str, *, dashed: bool = False) -> str:
    """A small inline SVG square (or dashed stroke) in ``colour``, for legends."""
    if dashed:
        return (
            '<svg class="swatch" width="18" height="10" viewBox="0 0 18 10">'
            f'<line x1="0" y1="5" x2="18" y2="5" stroke="{colour}" stroke-width="2" '
            'stroke-dasharray="4 2"/></svg>'
        )
    return (
        '<svg class="swatch" width="12" height="12" viewBox="0 0 12 12">'
        f'<rect width="12" height="12" rx="2" fill="{colour}"/></svg>'
    )


def legend(entries: Sequence[tuple[str, str]], *, dashed: Sequence[str] = ()) -> str:
    """A ``<ul class="legend">`` of (label, colour); labels in ``dashed`` drawn dashed."""
    items = "".join(
        f"<li>{swatch(colour, dashed=label in dashed)}{esc(label)}</li>"
        for label, colour in entries
    )
    return f'<ul class="legend">{items}</ul>'
