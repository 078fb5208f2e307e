"""Status bands per deployment: its health history as stretches of one status each.

The history is the one ``inspect timeline`` reads (``build_timeline``'s ``Change``
records, every change), walked in order:

- a change to ``quarantined``, ``probing``, ``healthy`` (recovered), ``degraded``,
  ``failed`` or ``unknown`` (reset) starts a stretch of that status;
- ``cool_down`` and ``panic_probe`` are short stretches that return to the status before
  them at their deadline (``until`` / ``out_until``), unless another change comes first;
- ``DeploymentStabilized`` keeps the status (no new stretch).

Before its first change a deployment is ``healthy`` if a request tried it before that
change, else ``unknown``; a deployment tried by requests but never named by a health event
is healthy throughout. The last stretch has not ended by the log's last event: it is
``ongoing`` and runs to the span's end. Consecutive stretches of one status merge.

A quarantine at T1 followed by probing at Tp and recovery at T2 gives
``quarantined [T1, Tp]``, ``probing [Tp, T2]``, ``healthy [T2, ...]``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runtime.inspect._timeline_model import Change, DeploymentTimeline
from runtime.inspect.web._views import Band, DeploymentBands, Span

__all__ = ["OUT_OF_ROTATION", "Carry", "Stretch", "carry_at", "deployment_bands", "stretches"]

OUT_OF_ROTATION = frozenset({"quarantined", "probing", "failed"})
"""Statuses counted in ``DeploymentBands.out_s``."""
_TEMPORARY = frozenset({"cool_down", "panic_probe"})
_KEEPS = "stabilized"
_INF = float("inf")

Stretch = tuple[float, str, str]
"""``(start, status, reason)``; it lasts until the next stretch's start."""


Carry = tuple[tuple[Stretch, ...], str, float | None, float | None]
"""Where the walk over a deployment's changes stood at a cut-off (``carry_at``): its last
two stretches, the status a cool-down or panic probe returns to, when it returns (None:
nothing pending), and the time of its first change while no change has set its status
yet (None once one has: a request seen later that tried it earlier still decides between
``healthy`` and ``unknown`` then)."""


def stretches(
    timeline: DeploymentTimeline | None,
    first_tried: float | None,
    deadlines: Mapping[int, float],
    carry: Carry | None = None,
) -> list[Stretch]:
    """The deployment's stretches from ``-inf`` (or from ``carry``), in time order.

    Args:
        timeline: Its health history, or None when no health event names it.
        first_tried: When a request first tried it, if ever.
        deadlines: ``out_until`` of panic probes by log position (``Change`` has no field
            for it).
        carry: Where the walk over the changes before ``timeline``'s stood (the web
            index's retention forgets those changes and keeps this instead).
    """
    changes = timeline.changes if timeline is not None else ()
    out, base, back_at, _ = _walk(changes, _start(changes, first_tried, carry), deadlines)
    if back_at is not None:
        _push(out, (back_at, base, ""))
    return out


def carry_at(
    timeline: DeploymentTimeline | None,
    first_tried: float | None,
    deadlines: Mapping[int, float],
    carry: Carry | None,
    cutoff: float,
) -> Carry:
    """Where the walk stands after the changes before ``cutoff`` (from ``carry``): the
    stretches after the cut-off are then ``stretches`` of the later changes with it."""
    changes = timeline.changes if timeline is not None else ()
    before = [c for c in changes if c.at < cutoff]
    out, base, back_at, first = _walk(before, _start(changes, first_tried, carry), deadlines)
    return (tuple(out[-2:]), base, back_at, first)


def _initial(first_tried: float | None, first_change: float | None) -> str:
    """``healthy`` if a request tried the deployment before its first change, else
    ``unknown``."""
    served = first_tried is not None and (first_change is None or first_tried <= first_change)
    return "healthy" if served else "unknown"


def _start(changes: Sequence[Change], first_tried: float | None, carry: Carry | None) -> Carry:
    """Where the walk over ``changes`` starts: from ``-inf``, or from ``carry``."""
    if carry is None:
        first = changes[0].at if changes else None
        base = _initial(first_tried, first)
        return ((-_INF, base, ""),), base, None, first
    tail, base, back_at, first = carry
    if first is not None and (initial := _initial(first_tried, first)) != base:
        tail = tuple((start, initial if s == base else s, why) for start, s, why in tail)
        base = initial
    return tail, base, back_at, first


def _walk(
    changes: Sequence[Change], start: Carry, deadlines: Mapping[int, float]
) -> tuple[list[Stretch], str, float | None, float | None]:
    """The stretches of ``changes`` from ``start``, the status to return to and when, and
    the first change's time while none has set the status."""
    tail, base, back_at, first = start  # back_at: when a temporary status hands back
    out = list(tail)
    for change in changes:
        if back_at is not None and back_at <= change.at:
            _push(out, (back_at, base, ""))
            back_at = None
        status = change.status
        reason = change.reason or change.failure or ""
        if status == _KEEPS:
            continue
        if status in _TEMPORARY:
            end = change.until if status == "cool_down" else deadlines.get(change.position)
            if end is not None and end > change.at:
                _push(out, (change.at, status, reason))
                back_at = end
            continue
        base, back_at, first = status, None, None
        _push(out, (change.at, status, reason))
    return out, base, back_at, first


def _push(out: list[Stretch], stretch: Stretch) -> None:
    start, status, _ = stretch
    last_start, last_status, _ = out[-1]
    if status == last_status:
        return
    if start <= last_start:  # the previous one lasted no time: replace it
        out.pop()
        if out and out[-1][1] == status:
            return
    out.append(stretch)


def deployment_bands(
    deployment: str,
    found: Sequence[Stretch],
    timeline: DeploymentTimeline | None,
    span: Span,
) -> DeploymentBands:
    """``found`` clipped to ``span`` as bands, with the span's figures."""
    bands: list[Band] = []
    status_now = found[0][1]
    last = len(found) - 1
    for i, (start, status, reason) in enumerate(found):
        end = found[i + 1][0] if i < last else _INF
        if start <= span.until:
            status_now = status
        lo, hi = max(start, span.since), min(end, span.until)
        if hi <= lo:
            continue
        bands.append(Band(start=lo, end=hi, status=status, reason=reason, ongoing=i == last))
    changes = timeline.changes if timeline is not None else ()
    return DeploymentBands(
        deployment=deployment,
        bands=tuple(bands),
        status_now=status_now,
        changes=sum(1 for c in changes if span.since <= c.at <= span.until and c.status != _KEEPS),
        out_s=sum(b.end - b.start for b in bands if b.status in OUT_OF_ROTATION),
    )
