"""``timeline`` as text: a summary table, then each deployment's status changes.

Pure: a ``Timeline`` in, a string out.
"""

from __future__ import annotations

import datetime as dt

from runtime.inspect._explain_text import plural
from runtime.inspect._render import Style, Table, colorize, render_table
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
            duration(d.longest_s),
            duration(d.out_of_rotation_s) if d.episodes else "-",
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
        "recovery, reset or failure",
    )


def _flapping(timeline: DeploymentTimeline) -> str:
    if timeline.flapping:
        return f"YES ({timeline.flap_score} cycles in one window)"
    return "no"


def changes_table(timeline: DeploymentTimeline, tz: dt.tzinfo | None = None) -> Table:
    """The deployment's status changes, oldest first."""
    rows = tuple(
        (
            local_time(change.at, tz),
            change.status,
            duration(change.out_for_s) if change.out_for_s is not None else "",
            change.text,
        )
        for change in timeline.changes
    )
    ongoing = any(e.ended_by == "ongoing" for e in timeline.episodes)
    note = "still out of rotation at the end of the log" if ongoing else ""
    recoveries = plural(timeline.cycles, "recovery", "recoveries")
    quarantines = plural(timeline.quarantines, "quarantine")
    summary = f"{timeline.deployment}: now {timeline.status}; {quarantines}, {recoveries}"
    if timeline.flapping:
        summary += "; FLAPPING"
    return Table(
        title=summary,
        headers=("time", "status", "out for", "what happened"),
        rows=rows,
        note=note,
    )
