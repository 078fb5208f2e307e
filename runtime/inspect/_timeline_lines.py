"""The lines a deployment's timeline prints: its status changes, with flapping folded.

A deployment whose error rate hovers around the degraded threshold switches between
``degraded`` and ``healthy`` on almost every call: a 2 % error rate wrote 124
``DeploymentDegraded`` and 129 ``DeploymentRecovered`` events in 47 s. One line per change
buries the rest of its history, so the rule is:

**A run** is a maximal sequence of consecutive changes of one deployment whose statuses
are only ``degraded``, ``healthy`` or ``stabilized`` (which keeps the status), where no
recovery ends a quarantine episode (a ``DeploymentRecovered`` that brings the deployment
back from probing is a recovery worth its own line). A run with at least
``COLLAPSE_SWITCHES`` (3) switches between degraded and healthy becomes **one line**:
``degraded <-> healthy x 124 between T1 and T2`` — the count is how often it turned
degraded, T1 and T2 the first and last change of the run. Any other status (quarantined,
probing, failed, reset, cool-down, panic probe) ends the run and keeps its own line.
Shorter runs keep a line per change.

Pure: ``Change`` records in, ``Line`` records out; ``DeploymentTimeline.changes`` keeps
every change.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

import msgspec

__all__ = ["COLLAPSE_SWITCHES", "FLAPPING", "Line", "collapse"]

COLLAPSE_SWITCHES = 3
"""Switches between degraded and healthy that make a run one line (D H D H: 3)."""
FLAPPING = "degraded<->healthy"
"""``Line.status`` of a collapsed run."""

_RUN_STATUSES = frozenset({"degraded", "healthy", "stabilized"})


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a deployment's history: a change, or a collapsed run of them."""

    at: float
    """The (first) change's time."""
    status: str
    """The status it moved to, or ``degraded<->healthy`` for a collapsed run."""
    text: str
    """What happened, for a person (a collapsed run's first and last time are in
    ``at`` and ``last_at``: the text view adds them in its time zone)."""
    first_position: int
    last_position: int
    changes: int = 1
    """How many status changes the line stands for."""
    last_at: float | None = None
    """A collapsed run: the time of its last change (None for a single change)."""
    degraded: int = 0
    """A collapsed run: how many times it turned degraded."""
    recovered: int = 0
    """A collapsed run: how many times it turned healthy again."""
    ends: str = ""
    """A collapsed run: the status it was left in (``degraded`` or ``healthy``)."""
    out_for_s: float | None = None
    """As ``Change.out_for_s`` (a single change only)."""


class _Change(Protocol):
    """What ``collapse`` reads of a change (``_timeline_model.Change`` has these)."""

    @property
    def at(self) -> float: ...
    @property
    def position(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def out_for_s(self) -> float | None: ...


def collapse(changes: Sequence[_Change]) -> tuple[Line, ...]:
    """The lines for ``changes`` (one deployment's ``_timeline_model.Change`` records,
    oldest first), runs folded."""
    lines: list[Line] = []
    run: list[_Change] = []
    for change in changes:
        if _joins_run(change):
            run.append(change)
            continue
        lines += _flush(run)
        run = []
        lines.append(_single(change))
    lines += _flush(run)
    return tuple(lines)


def _joins_run(change: _Change) -> bool:
    """A degraded/healthy/stabilized change that does not end a quarantine episode."""
    return change.status in _RUN_STATUSES and change.out_for_s is None


def _switches(run: Sequence[_Change]) -> int:
    statuses = [c.status for c in run if c.status != "stabilized"]
    return sum(1 for before, after in itertools.pairwise(statuses) if before != after)


def _flush(run: list[_Change]) -> list[Line]:
    if _switches(run) < COLLAPSE_SWITCHES:
        return [_single(change) for change in run]
    degraded = sum(1 for c in run if c.status == "degraded")
    recovered = sum(1 for c in run if c.status == "healthy")
    ends = next(c.status for c in reversed(run) if c.status != "stabilized")
    first, last = run[0], run[-1]
    text = (
        f"degraded <-> healthy x {degraded} ({recovered} recovered, {len(run)} changes; "
        f"ended {ends})"
    )
    return [
        Line(
            at=first.at,
            status=FLAPPING,
            text=text,
            first_position=first.position,
            last_position=last.position,
            changes=len(run),
            last_at=last.at,
            degraded=degraded,
            recovered=recovered,
            ends=ends,
        )
    ]


def _single(change: _Change) -> Line:
    return Line(
        at=change.at,
        status=change.status,
        text=change.text,
        first_position=change.position,
        last_position=change.position,
        out_for_s=change.out_for_s,
    )
