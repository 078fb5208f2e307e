"""The flow diagram: role -> model -> deployment columns, links as wide as their traffic.

Route links (role -> model) and serve links (model -> deployment) run left to right
between the columns; fallback links (model -> model) are dashed arcs left of the model
column, so they never hide a serve link. Each link is a ``<path class="link"
data-kind data-source data-target data-count>`` with its count in a tooltip.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.inspect.web._html import count, esc
from runtime.inspect.web._views import FlowLink, FlowView

__all__ = ["flow_chart"]

_WIDTH = 980
_NODE_W = 190
_NODE_H = 26
_GAP = 44
_TOP = 40
_COLUMNS = (("roles", "role", 20), ("models", "model", 395), ("deployments", "deployment", 770))
_LINK_COLOURS = {"route": "#5aa1d6", "serve": "#2e9e5b", "fallback": "#7b61c9"}


def _positions(names: Sequence[str], x: int) -> dict[str, tuple[float, float]]:
    """Centre-left (x, y) of each node of a column."""
    return {name: (float(x), _TOP + i * _GAP + _NODE_H / 2) for i, name in enumerate(names)}


def flow_chart(view: FlowView) -> str:
    """``<svg class="flow">`` of ``view`` (an empty span says so instead)."""
    columns = {"roles": view.roles, "models": view.models, "deployments": view.deployments}
    tallest = max((len(names) for names in columns.values()), default=0)
    height = _TOP + max(tallest, 1) * _GAP + 10
    where = {
        field: _positions(columns[field], x) for field, _, x in _COLUMNS
    }  # per column: name -> (x, y)
    peak = max((link.count for link in view.links), default=1)
    parts = [
        f'<svg class="flow" viewBox="0 0 {_WIDTH} {height}" role="img" '
        'preserveAspectRatio="xMinYMin meet">'
    ]
    for _, label, x in _COLUMNS:
        parts.append(
            f'<text class="column" x="{x + _NODE_W / 2}" y="20" text-anchor="middle">'
            f"{esc(label)}s</text>"
        )
    for link in sorted(view.links, key=lambda k: k.kind != "fallback"):
        parts.append(_link(link, where, peak))
    for field, kind, _ in _COLUMNS:
        for name, (left, y) in where[field].items():
            parts.append(
                f'<g class="node" data-kind="{kind}" data-name="{esc(name)}">'
                f'<rect x="{left}" y="{y - _NODE_H / 2}" width="{_NODE_W}" height="{_NODE_H}" '
                f'rx="4" fill="#f4f6f8" stroke="#8a96a3"/>'
                f'<text x="{left + 8}" y="{y + 4}">{esc(_short(name))}</text>'
                f"<title>{esc(kind)} {esc(name)}</title></g>"
            )
    if not view.links:
        parts.append(
            f'<text class="nodata" x="{_WIDTH / 2}" y="{_TOP + 20}" text-anchor="middle">'
            "no requests in this span</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(link: FlowLink, where: dict[str, dict[str, tuple[float, float]]], peak: int) -> str:
    width = 2 + 20 * link.count / peak
    colour = _LINK_COLOURS.get(link.kind, "#888888")
    if link.kind == "route":
        path = _across(where["roles"].get(link.source), where["models"].get(link.target))
    elif link.kind == "serve":
        path = _across(where["models"].get(link.source), where["deployments"].get(link.target))
    else:
        path = _arc(where["models"].get(link.source), where["models"].get(link.target))
    if path is None:
        return ""
    dash = ' stroke-dasharray="8 5"' if link.kind == "fallback" else ""
    return (
        f'<path class="link" data-kind="{esc(link.kind)}" data-source="{esc(link.source)}" '
        f'data-target="{esc(link.target)}" data-count="{link.count}" d="{path}" fill="none" '
        f'stroke="{colour}" stroke-opacity="0.55" stroke-width="{width:.1f}"{dash}>'
        f"<title>{esc(link.source)} → {esc(link.target)}: {count(link.count)} "
        f"{'fallbacks' if link.kind == 'fallback' else 'requests'}</title></path>"
    )


def _across(source: tuple[float, float] | None, target: tuple[float, float] | None) -> str | None:
    if source is None or target is None:
        return None
    x0, y0 = source[0] + _NODE_W, source[1]
    x1, y1 = target
    middle = (x0 + x1) / 2
    return f"M{x0:.1f},{y0:.1f} C{middle:.1f},{y0:.1f} {middle:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"


def _arc(source: tuple[float, float] | None, target: tuple[float, float] | None) -> str | None:
    if source is None or target is None:
        return None
    x, y0 = source
    y1 = target[1]
    bulge = x - 40 - min(abs(y1 - y0), 200) / 4
    return f"M{x:.1f},{y0:.1f} C{bulge:.1f},{y0:.1f} {bulge:.1f},{y1:.1f} {x:.1f},{y1:.1f}"
