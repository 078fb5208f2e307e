"""``timeline`` as text: a summary table, then each deployment's status changes.

A deployment out of rotation right now shows how long it has been out "so far" (up to
the log's last event); a run of degraded <-> healthy flapping shows as one line with a
count and its first and last time (``_timeline_lines``).

Pure: a ``Timeline`` in, a string out.
"""

from __future__ import annotations

import datetime as dt

from runtime.inspect._explain_text import plural
from runtime.inspect._render import Style, Table, colorize, render_table
from runtime.inspect._timeline_lines import FLAPPING, Line, collapse
from runtime.inspect._timeline_model import DeploymentTimeline, Timeline
from runtime.inspect._when import duration, local_time

__all__ = ["render_timeline", "summary_table", "changes_table"]


def render_timeline(timeline: Timeline, style: Style, tz: dt.tzinfo | None = None) -> str:
    """Render ``timeline``; the text ends without a newline."""
    if not timeline.deployments:
        return "No health status changes in this log (no deployment has been used yet)."
    rule = (
        f"Flapping: at least {plural(timeline.flap_cycles, 'quarantine -> recovery cycle')} "
        f"within {duration(timeline.flap_window_s)}. Times are local."
    )
    parts = [render_table(summary_table(timeline), style), colorize(rule, "dim", style)]
    parts += [render_table(changes_table(d, tz), style) for d in timeline.deployments]
    return "\n\n".join(parts)


def summary_table(timeline: Timeline) -> Table:
    """One row per deployment: status now, quarantines, cycles, time out, flapping."""
    rows = tuple(
        (
            d.deployment,
            d.status,
            str(d.quarantines),
            str(d.cycles),
            _longest(d),
            _total(d),
            _flapping(d),
        )
        for d in timeline.deployments
    )
    return Table(
        title="Health timeline per deployment",
        headers=(
            "deployment",
            "status",
            "quarantines",
            "recoveries",
            "longest out",
            "out in total",
            "flapping",
        ),
        rows=rows,
        note="quarantines count failed probes again; an episode out of rotation ends at "
        "recovery, reset or failure; one still going is counted up to the log's last event "
        "(so far)",
    )


def _longest(timeline: DeploymentTimeline) -> str:
    ongoing = timeline.ongoing_s
    if ongoing is not None and ongoing >= (timeline.longest_s or 0.0):
        return f"{duration(ongoing)} so far (ongoing)"
    return duration(timeline.longest_s)


def _total(timeline: DeploymentTimeline) -> str:
    if not timeline.episodes:
        return "-"
    if timeline.ongoing_s is not None:
        return f"{duration(timeline.out_so_far_s)} so far"
    return duration(timeline.out_of_rotation_s)


def _flapping(timeline: DeploymentTimeline) -> str:
    if timeline.flapping:
        return f"YES ({timeline.flap_score} cycles in one window)"
    return "no"


def changes_table(timeline: DeploymentTimeline, tz: dt.tzinfo | None = None) -> Table:
    """The deployment's status changes, oldest first; flapping runs one line each."""
    lines = timeline.lines or collapse(timeline.changes)
    rows = tuple(
        (
            local_time(line.at, tz),
            line.status,
            duration(line.out_for_s) if line.out_for_s is not None else "",
            _what(line, tz),
        )
        for line in lines
    )
    note = ""
    if timeline.ongoing_s is not None:
        note = (
            f"still out of rotation at the end of the log: out for {duration(timeline.ongoing_s)} "
            "so far (up to the log's last event)"
        )
    recoveries = plural(timeline.cycles, "recovery", "recoveries")
    quarantines = plural(timeline.quarantines, "quarantine")
    summary = f"{timeline.deployment}: now {timeline.status}; {quarantines}, {recoveries}"
    if timeline.flapping:
        summary += "; FLAPPING"
    folded = sum(line.degraded for line in lines if line.status == FLAPPING)
    if folded:
        summary += f"; degraded <-> healthy flapping ({plural(folded, 'time')} degraded)"
    return Table(
        title=summary,
        headers=("time", "status", "out for", "what happened"),
        rows=rows,
        note=note,
    )


def _what(line: Line, tz: dt.tzinfo | None) -> str:
    if line.status != FLAPPING or line.last_at is None:
        return line.text
    first, last = local_time(line.at, tz), local_time(line.last_at, tz)
    same_day = first[:10] == last[:10]
    return (
        f"degraded <-> healthy x {line.degraded} between {first[11:] if same_day else first} "
        f"and {last[11:] if same_day else last} ({line.recovered} recovered, "
        f"{line.changes} changes; ended {line.ends})"
    )
