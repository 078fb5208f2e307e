"""Health history per deployment: status changes, quarantine episodes, and flapping.

Input: health status-change events (``DeploymentQuarantined``, ``DeploymentProbingStarted``,
``DeploymentRecovered``, ``DeploymentDegraded``, ``DeploymentFailed``,
``DeploymentStabilized``, ``HealthReset``) in log order; other events are ignored.

An **episode** is one stretch out of normal rotation: it begins at a quarantine and lasts
through any probing and re-quarantine (a failed probe) until the deployment recovers
(``DeploymentRecovered``), is reset, or is marked failed; if the log ends first it is
still ``ongoing``. An episode that ends in a recovery is a **cycle** (down, then back).

An ongoing episode is measured up to ``end``, the last moment the log knows of (the shell
passes the time of the log's last event; by default the last change's time): the
``*_so_far_s`` figures count it, so a deployment that is out right now shows how long
it has been out, not nothing. ``longest_s`` and ``out_of_rotation_s`` keep counting the
finished episodes only.

Runs of degraded <-> healthy changes are folded into one ``Line`` each (the rule is in
``_timeline_lines``); ``changes`` keeps every change.

**Flapping** (see ``flap_score``): a deployment flaps when at least ``FLAP_CYCLES`` (3)
whole cycles — quarantine *and* recovery — fall inside one window of ``FLAP_WINDOW_S``
(one hour). One bad spell, however long, is an outage rather than flapping; a backend that
keeps coming back and going down again is what makes traffic jump around, and that is
what the rule catches. Growing quarantine durations (2x per repeat by default) stretch
the cycles, so an hour leaves room for three with the default 5-minute first quarantine.

Pure: no I/O, no clock; times are the events' own ``at`` (wall-clock epoch seconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from events import (
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentPanicProbe,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    HealthEvent,
    HealthReset,
    StoredEvent,
)
from runtime.inspect._explain_text import health_text
from runtime.inspect._timeline_lines import Line, collapse

__all__ = [
    "CHANGE_TYPES",
    "Change",
    "DeploymentTimeline",
    "Episode",
    "FLAP_CYCLES",
    "FLAP_WINDOW_S",
    "Timeline",
    "build_timeline",
    "flap_score",
]

FLAP_CYCLES = 3
"""Cycles inside one window that make a deployment flapping."""
FLAP_WINDOW_S = 3600.0
"""The window's length, seconds."""

CHANGE_TYPES: tuple[type[HealthEvent], ...] = (
    DeploymentQuarantined,
    DeploymentProbingStarted,
    DeploymentRecovered,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentStabilized,
    HealthReset,
    DeploymentCoolingDown,
    DeploymentPanicProbe,
)
"""The health events that change (or reset) a deployment's status, and the two that
take it out of rotation or put it back for a moment without changing the status."""

_NOT_STATUS = frozenset({"stabilized", "cool_down", "panic_probe"})
"""``Change.status`` values that keep the status as it was."""


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One status change of a deployment."""

    at: float
    position: int
    event: str
    """The event's type name."""
    status: str
    """The status it moved to (``stabilized`` for ``DeploymentStabilized``, ``cool_down``
    and ``panic_probe`` for the events of those names: these keep it)."""
    text: str
    """One line for a person."""
    reason: str = ""
    until: float | None = None
    """A quarantine's (or a cool-down's) deadline."""
    failure: str | None = None
    out_for_s: float | None = None
    """How long the deployment had been out of rotation at this change (probing,
    recovering, re-quarantined, reset or failed during an episode); else None."""


class Episode(msgspec.Struct, frozen=True, kw_only=True):
    """One stretch out of rotation: from a quarantine to recovery, reset or failure."""

    start: float
    end: float | None
    """When it ended; None while ``ongoing``."""
    ended_by: str
    """``recovered``, ``reset``, ``failed`` or ``ongoing``."""
    quarantines: int
    """Quarantines within it (1 + failed probes)."""
    lasted_s: float | None
    """``end - start``; None while ongoing."""
    so_far_s: float | None = None
    """While ongoing: how long it has lasted up to the end of the log; else None."""


class DeploymentTimeline(msgspec.Struct, frozen=True, kw_only=True):
    """The health history of one deployment."""

    deployment: str
    model: str
    endpoint: str
    status: str
    """The status after its last change."""
    changes: tuple[Change, ...]
    episodes: tuple[Episode, ...]
    quarantines: int
    """``DeploymentQuarantined`` events (every failed probe counts again)."""
    cycles: int
    """Episodes that ended in a recovery."""
    longest_s: float | None
    """The longest finished episode, seconds."""
    out_of_rotation_s: float
    """Sum of the finished episodes, seconds."""
    flap_score: int
    """Most cycles inside one ``FLAP_WINDOW_S`` window."""
    flapping: bool
    """``flap_score >= FLAP_CYCLES``."""
    ongoing_s: float | None = None
    """How long the ongoing episode has lasted up to the end of the log (None: none)."""
    longest_so_far_s: float | None = None
    """The longest episode, the ongoing one (up to the end of the log) included."""
    out_so_far_s: float = 0.0
    """Time out of rotation, the ongoing episode (up to the end of the log) included."""
    lines: tuple[Line, ...] = ()
    """``changes`` as the text shows them: runs of degraded <-> healthy folded into one
    line each (see ``_timeline_lines``)."""


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """Every deployment's history, in name order."""

    deployments: tuple[DeploymentTimeline, ...]
    flap_cycles: int = FLAP_CYCLES
    flap_window_s: float = FLAP_WINDOW_S
    end: float | None = None
    """The last moment the log knows of: ongoing episodes are measured up to it."""


def flap_score(cycles: Iterable[tuple[float, float]], window_s: float = FLAP_WINDOW_S) -> int:
    """The most ``(start, end)`` cycles lying wholly inside one window of ``window_s``.

    A window ``[t, t + window_s]`` holds a cycle when the cycle starts at or after ``t``
    and ends at or before ``t + window_s``; the best window starts at some cycle's
    start, so those are the only ones tried.

    Example: cycles ``(0, 10), (100, 110), (200, 210)`` score 3 with a 300 s window and
    2 with a 150 s window.
    """
    spans = sorted((start, max(start, end)) for start, end in cycles)
    best = 0
    for start, _ in spans:
        limit = start + window_s
        inside = sum(1 for s, e in spans if s >= start and e <= limit)
        best = max(best, inside)
    return best


def build_timeline(
    events: Sequence[StoredEvent],
    *,
    window_s: float = FLAP_WINDOW_S,
    cycles: int = FLAP_CYCLES,
    end: float | None = None,
) -> Timeline:
    """Group the status changes in ``events`` by deployment and summarize each history.

    Args:
        events: Stored events in log order; only the status changes are read.
        window_s: The flapping window.
        cycles: Cycles inside one window that make a deployment flapping.
        end: The last moment the log knows of (ongoing episodes run up to it); default
            and at least: the last change's time.
    """
    by_deployment: dict[str, list[tuple[int, HealthEvent]]] = {}
    last: float | None = None
    for stored in events:
        event = stored.event
        if isinstance(event, CHANGE_TYPES):
            by_deployment.setdefault(event.deployment, []).append((stored.position, event))
            last = event.at if last is None else max(last, event.at)
    if end is None or (last is not None and last > end):
        end = last
    timelines = tuple(
        _deployment(did, changes, window_s, cycles, end or 0.0)
        for did, changes in sorted(by_deployment.items())
    )
    return Timeline(deployments=timelines, flap_cycles=cycles, flap_window_s=window_s, end=end)


def _deployment(
    did: str,
    changes: list[tuple[int, HealthEvent]],
    window_s: float,
    threshold: int,
    end: float,
) -> DeploymentTimeline:
    model, _, endpoint = did.rpartition("@")
    records, episodes = _walk(changes, end)
    done = [e for e in episodes if e.lasted_s is not None]
    cycle_spans = [(e.start, e.end) for e in episodes if e.ended_by == "recovered" and e.end]
    score = flap_score(cycle_spans, window_s)
    status = next((c.status for c in reversed(records) if c.status not in _NOT_STATUS), "unknown")
    ongoing = next((e.so_far_s for e in episodes if e.so_far_s is not None), None)
    longest = max((e.lasted_s or 0.0 for e in done), default=None)
    finished = sum(e.lasted_s or 0.0 for e in done)
    return DeploymentTimeline(
        deployment=did,
        model=model or did,
        endpoint=endpoint,
        status=status,
        changes=records,
        episodes=episodes,
        quarantines=sum(1 for _, e in changes if isinstance(e, DeploymentQuarantined)),
        cycles=len(cycle_spans),
        longest_s=longest,
        out_of_rotation_s=finished,
        flap_score=score,
        flapping=score >= threshold,
        ongoing_s=ongoing,
        longest_so_far_s=max(longest or 0.0, ongoing) if ongoing is not None else longest,
        out_so_far_s=finished + (ongoing or 0.0),
        lines=collapse(records),
    )


def _change(position: int, event: HealthEvent, out_for_s: float | None) -> Change:
    text, _ = health_text(event)
    prefix = f"health: {event.deployment} "
    return Change(
        at=event.at,
        position=position,
        event=type(event).__name__,
        status=_status_of(event),
        text=text.removeprefix(prefix),
        reason=getattr(event, "reason", ""),
        until=event.until
        if isinstance(event, DeploymentQuarantined | DeploymentCoolingDown)
        else None,
        failure=getattr(event, "failure", None),
        out_for_s=out_for_s,
    )


def _status_of(event: HealthEvent) -> str:
    match event:
        case DeploymentQuarantined():
            return "quarantined"
        case DeploymentProbingStarted():
            return "probing"
        case DeploymentRecovered():
            return "healthy"
        case DeploymentDegraded():
            return "degraded"
        case DeploymentFailed():
            return "failed"
        case HealthReset():
            return "unknown"
        case DeploymentCoolingDown():
            return "cool_down"
        case DeploymentPanicProbe():
            return "panic_probe"
        case _:
            return "stabilized"


def _walk(
    changes: Sequence[tuple[int, HealthEvent]], end: float
) -> tuple[tuple[Change, ...], tuple[Episode, ...]]:
    """The changes (with time out of rotation) and the episodes they form."""
    records: list[Change] = []
    episodes: list[Episode] = []
    start: float | None = None
    count = 0
    for position, event in changes:
        out_for = None if start is None else max(event.at - start, 0.0)
        records.append(_change(position, event, out_for))
        if isinstance(event, DeploymentQuarantined):
            start = event.at if start is None else start
            count += 1
        elif start is not None and (ended := _ends_episode(event)):
            episodes.append(
                Episode(
                    start=start, end=event.at, ended_by=ended, quarantines=count, lasted_s=out_for
                )
            )
            start, count = None, 0
    if start is not None:
        episodes.append(
            Episode(
                start=start,
                end=None,
                ended_by="ongoing",
                quarantines=count,
                lasted_s=None,
                so_far_s=max(end - start, 0.0),
            )
        )
    return tuple(records), tuple(episodes)


def _ends_episode(event: HealthEvent) -> str:
    match event:
        case DeploymentRecovered():
            return "recovered"
        case HealthReset():
            return "reset"
        case DeploymentFailed():
            return "failed"
        case _:
            return ""
