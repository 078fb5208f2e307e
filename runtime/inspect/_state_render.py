"""``state`` as text: a header, then health, quota usage and performance tables.

Pure: a ``StateReport`` in, a string out. Deadlines are shown in local time with how far
they are from the report's moment ("in 12s", "expired 3.0s ago").
"""

from __future__ import annotations

import datetime as dt
import textwrap

from actors.performance import WindowStats
from runtime.inspect._escape import escape
from runtime.inspect._implausible import implausible_table
from runtime.inspect._render import Style, Table, colorize, render_table
from runtime.inspect._state_model import HealthRow, StateReport, UsageReport
from runtime.inspect._when import clock_time, duration, local_time, relative

__all__ = [
    "health_table",
    "header_lines",
    "model_table",
    "performance_tables",
    "reasons",
    "render_state",
    "usage_tables",
]

_WRAP = 100
"""Longest line of the wrapped reasons, even on a wider terminal."""
_STATS_HEADERS = ("samples", "success", "p50", "p95", "first token", "tokens/s", "score")


def render_state(report: StateReport, style: Style, tz: dt.tzinfo | None = None) -> str:
    """Render ``report``; the text ends without a newline."""
    tables = [
        health_table(report, tz),
        model_table(report),
        *usage_tables(report.usage, tz),
        *performance_tables(report),
    ]
    lines = header_lines(report, tz)
    head = "\n".join(
        [colorize(lines[0], "bold", style), *(colorize(x, "dim", style) for x in lines[1:])]
    )
    texts = [render_table(t, style) for t in tables]
    why = reasons(report, min(style.width, _WRAP))
    if why:
        texts[0] += "\n" + why
    return "\n\n".join([head, *texts])


def header_lines(report: StateReport, tz: dt.tzinfo | None = None) -> list[str]:
    """What the state is as of, and how it was obtained."""
    of = f"of {report.last_position}"
    when = local_time(report.time, tz)
    if report.asked == "now":
        first = f"State now ({local_time(report.moment, tz)}): all {report.position} events"
        first += f", the last recorded at {when}"
    elif report.asked.startswith("position"):
        first = f"State after event {report.position} {of} (recorded at {when})"
    else:
        first = (
            f"State at {local_time(report.moment, tz)}: after event {report.position} {of}, "
            f"the last one recorded by then ({when})"
        )
    return [
        first,
        "Replayed from the log with the runtime's own projections; times are local.",
    ]


def health_table(report: StateReport, tz: dt.tzinfo | None = None) -> Table:
    """Health per deployment, as the router saw it at the moment (reasons: ``reasons``)."""
    rows = tuple(
        (
            row.deployment,
            _status(row, report.moment, tz),
            f"{row.consecutive_failures:g}",
            f"{row.failure_rate:.0%}" if row.failure_rate > 0 else "-",
            _until(row, report.moment, tz),
            _near(row.last_change, report.moment, tz),
        )
        for row in report.health
    )
    return Table(
        title="Health per deployment",
        headers=("deployment", "status", "failures", "rate", "quarantined until", "since"),
        rows=rows,
        note="failures: in a row (weighted); rate: over the recent window. Healthy, degraded "
        "and unknown deployments take traffic; quarantined ones are skipped until their "
        "deadline, then probed; failed ones wait for a reset; cooling ones (a 429) are "
        "skipped until the cool-down ends",
    )


def _status(row: HealthRow, moment: float, tz: dt.tzinfo | None) -> str:
    if row.cooling_until is None:
        return row.status
    return f"{row.status}, cooling down until {_near(row.cooling_until, moment, tz)}"


def reasons(report: StateReport, width: int) -> str:
    """Why each deployment that has a reason is in its status, wrapped to ``width``."""
    lines = []
    for row in report.health:
        if row.cooling_reason:
            lines.append(escape(f"{row.deployment} is cooling down: {row.cooling_reason}"))
        if row.reason:
            lines.append(
                textwrap.fill(
                    escape(f"{row.deployment} is {row.status}: {row.reason}"),
                    width=max(width, 40),
                    subsequent_indent="    ",
                    break_long_words=False,
                )
            )
    return "\n".join(lines)


def _near(ts: float | None, moment: float, tz: dt.tzinfo | None) -> str:
    """The time of day when ``ts`` is on the moment's date, else date and time."""
    if ts is None:
        return "-"
    same_day = local_time(ts, tz)[:10] == local_time(moment, tz)[:10]
    return clock_time(ts, tz) if same_day else local_time(ts, tz)


def _until(row: HealthRow, moment: float, tz: dt.tzinfo | None) -> str:
    until = row.quarantined_until
    if until is None:
        return "-"
    return f"{_near(until, moment, tz)} ({relative(until, moment)})"


def model_table(report: StateReport) -> Table:
    """Each model's status: the best of its deployments'."""
    rows = tuple((m.model, m.status, ", ".join(m.deployments)) for m in report.models)
    return Table(
        title="Health per model (the best of its deployments)",
        headers=("model", "status", "deployments"),
        rows=rows,
    )


def usage_tables(usage: UsageReport, tz: dt.tzinfo | None = None) -> list[Table]:
    """Usage in the quota period, then its warnings and refusals (if any)."""
    if not usage.period:
        return [Table(title="Quota usage", headers=(), rows=(), note="no quota events yet")]
    resets = f"resets {local_time(usage.resets_at, tz)}"
    if usage.period_ended:
        resets = f"ended {local_time(usage.resets_at, tz)}; the next request starts a new one"
    rows = tuple(
        (
            f"{u.scope} {u.name}" if u.scope != "all" else u.name,
            str(u.requests),
            str(u.tokens),
            _maybe(u.prompt_tokens),
            _maybe(u.completion_tokens),
        )
        for u in usage.usage
    )
    in_flight = ""
    if usage.in_flight:
        in_flight = (
            f"; {usage.in_flight} request(s) in flight hold {usage.reserved_tokens} "
            "estimated tokens"
        )
    tables = [
        Table(
            title=f"Quota usage in period {usage.period} ({resets})",
            headers=("scope", "requests", "tokens", "prompt", "completion"),
            rows=rows,
            note=f"settled requests and tokens; failed attempts consume nothing{in_flight}",
        )
    ]
    if usage.warnings:
        tables.append(_warnings(usage, tz))
    if usage.refusals:
        tables.append(_refusals(usage, tz))
    if usage.implausible:
        tables.append(implausible_table(usage.implausible, tz))
    return tables


def _maybe(value: int | None) -> str:
    return "-" if value is None else str(value)


def _warnings(usage: UsageReport, tz: dt.tzinfo | None) -> Table:
    rows = tuple(
        (local_time(w.at, tz), w.limit, f"{w.used} of {w.limit_value}", f"{w.ratio:.0%}")
        for w in usage.warnings
    )
    return Table(
        title="Quota warnings issued in the period",
        headers=("time", "limit", "used", "ratio"),
        rows=rows,
    )


def _refusals(usage: UsageReport, tz: dt.tzinfo | None) -> Table:
    rows = tuple(
        (
            local_time(r.at, tz),
            r.limit,
            f"{r.used} of {r.limit_value}",
            str(r.requested),
            r.request_id,
        )
        for r in usage.refusals
    )
    return Table(
        title="Requests refused by a quota in the period",
        headers=("time", "limit", "used", "asked for", "request"),
        rows=rows,
    )


def performance_tables(report: StateReport) -> list[Table]:
    """Windows per (task kind, model) and per deployment over all kinds."""
    perf = report.performance
    models = tuple((m.kind, m.model, *_stats(m)) for m in perf.models)
    deployments = tuple((d.deployment, *_stats(d)) for d in perf.deployments)
    note = (
        "score = success rate / (0.001 + median latency in s): answers per second of "
        "waiting, higher is better; latency percentiles are over successful attempts"
    )
    return [
        Table(
            title=f"Performance per task kind and model (last {perf.window} attempts each)",
            headers=("kind", "model", *_STATS_HEADERS),
            rows=models,
            note=note,
        ),
        Table(
            title="Performance per deployment (all kinds)",
            headers=("deployment", *_STATS_HEADERS),
            rows=deployments,
        ),
    ]


def _stats(stats: WindowStats) -> tuple[str, ...]:
    def tps(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (
        str(stats.samples),
        f"{stats.success_rate:.0%}",
        duration(stats.latency_p50_s),
        duration(stats.latency_p95_s),
        duration(stats.ttft_p50_s),
        tps(stats.tokens_per_s_p50),
        f"{stats.score:.1f}",
    )
