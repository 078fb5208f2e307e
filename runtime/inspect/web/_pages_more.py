"""The quotas and flow pages: view models in, the HTML of ``<main>`` out.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.inspect.web._html import count, esc, range_picker, seconds, table, utc
from runtime.inspect.web._pages import span_text
from runtime.inspect.web._svg import legend
from runtime.inspect.web._svg_charts import burn_chart
from runtime.inspect.web._svg_flow import flow_chart
from runtime.inspect.web._views import FlowView, Mark, QuotaLimitView, QuotaView

__all__ = ["flow_main", "quotas_main"]


_LISTED = 5
"""Marks of one kind listed one by one; more are summed up in one line."""


def _listed(cls: str, marks: Sequence[Mark]) -> list[str]:
    """``<li>`` lines of ``marks``: each, or the first few and a line for the rest."""
    items = [
        f'<li class="{cls}"><span class="when">{esc(utc(mark.at))}</span> {esc(cls)}: '
        f"{esc(mark.label)}</li>"
        for mark in marks[: _LISTED if len(marks) > _LISTED + 1 else len(marks)]
    ]
    rest = marks[len(items) :]
    if rest:
        items.append(
            f'<li class="{cls}">… and {count(len(rest))} more {esc(cls)} marks up to '
            f"{esc(utc(rest[-1].at))}: {esc(rest[-1].label)}</li>"
        )
    return items


def _limit_section(limit: QuotaLimitView) -> str:
    value = limit.limit_value
    share = f" ({limit.used_now / value * 100:.1f} % of {count(value)})" if value else ""
    resets = (
        f"resets {utc(limit.resets_at)}" if limit.resets_at is not None else "reset time unknown"
    )
    facts = (
        f"period {limit.period} from {utc(limit.period_start)}, {resets}; "
        f"used {count(limit.used_now)}{share}; "
        f"{len(limit.warnings)} warning{'s' if len(limit.warnings) != 1 else ''}, "
        f"{len(limit.exceeded)} refusal{'s' if len(limit.exceeded) != 1 else ''}"
    )
    if value is None:
        facts += "; the limit's value is not in the log or the configuration"
    marks = [
        item
        for cls, marks in (("warning", limit.warnings), ("exceeded", limit.exceeded))
        for item in _listed(cls, marks)
    ]
    listed = f'<ul class="marks">{"".join(marks)}</ul>' if marks else ""
    return (
        f'<section class="quota" data-limit="{esc(limit.limit)}" '
        f'data-used="{limit.used_now}" data-limit-value="{"" if value is None else value}">'
        f"<h2>{esc(limit.limit)}</h2>"
        f'<p class="meta" data-key="used" data-value="{limit.used_now}">{esc(facts)}</p>'
        + burn_chart(limit)
        + listed
        + "</section>"
    )


def quotas_main(view: QuotaView, *, since: str = "", until: str = "") -> str:
    """Each limit's burn-down against its reset time, warnings and refusals marked."""
    note = f'<p class="note">{esc(view.note)}</p>' if view.note else ""
    key = legend(
        [("use so far", "#1f77b4"), ("limit", "#d64545"), ("warning", "#e0a526"),
         ("refused (exceeded)", "#d64545")],
        dashed=["limit"],
    )  # fmt: skip
    sections = "".join(_limit_section(limit) for limit in view.limits)
    return (
        "<h1>Quotas</h1>"
        + range_picker("quotas", since, until, span_text=span_text(view.span))
        + note
        + (key if view.limits else "")
        + sections
    )


def flow_main(view: FlowView, *, since: str = "", until: str = "") -> str:
    """Role -> model -> deployment with link widths by traffic; fallbacks dashed."""
    rows = [
        f'<tr data-kind="{esc(link.kind)}" data-source="{esc(link.source)}" '
        f'data-target="{esc(link.target)}"><td>{esc(link.kind)}</td><td>{esc(link.source)}</td>'
        f'<td>{esc(link.target)}</td><td data-key="count" data-value="{link.count}">'
        f"{count(link.count)}</td></tr>"
        for link in sorted(view.links, key=lambda k: (k.kind, -k.count, k.source, k.target))
    ]
    key = legend(
        [("role → model", "#5aa1d6"), ("model → deployment", "#2e9e5b"),
         ("fallback model → model", "#7b61c9")],
        dashed=["fallback model → model"],
    )  # fmt: skip
    length = seconds(view.span.until - view.span.since)
    return (
        "<h1>Flow</h1>"
        + range_picker("flow", since, until, span_text=span_text(view.span))
        + f'<p class="meta">Requests started in the span ({esc(length)}): which role asked '
        "for which model, which deployment answered (or was tried last), and where "
        "fallbacks went. Link width follows the count.</p>"
        + key
        + flow_chart(view)
        + table(
            "flow-links",
            ("kind", "from", "to", "requests"),
            rows,
            empty="no requests in this span",
        )
    )
