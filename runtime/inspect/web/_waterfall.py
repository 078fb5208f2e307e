"""One request as waterfall rows: what happened when, in seconds since it started.

Input: the ``Explanation`` ``runtime.inspect._explain_model.explain`` builds (the same
reconstruction ``inspect LOG explain`` prints). Output: one ``Row`` per step: a skip, an
attempt (with its backoff before it and its queue / connect / first byte / generation
segments), a fallback, or a health change of a deployment the request considered.

An attempt's segments come from its result event: ``queue_s`` (waiting for a slot),
``connect_s`` (slot to request sent), ``first_byte_s`` (sent to response headers) and,
for a success, generation (the rest of ``latency_s``, which runs from sending to the last
byte). Its bar runs from ``AttemptStarted.at`` to its result's ``at``, or as long as the
segments add up to when the clock did not move between the two (a virtual clock).
``backoff_s`` is the wait before the attempt, drawn ending where it starts.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runtime.inspect._explain_types import Explanation, Step

__all__ = ["Row", "Segment", "Waterfall", "waterfall"]

_MARKERS = {"skipped": "skip", "fallback": "fallback", "health": "health"}
"""Explanation step kinds drawn as an instant (a marker), by their waterfall kind."""


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of a row: ``attempt``, ``backoff``, ``queue``, ``connect``,
    ``first_byte``, ``generation``, or an instant ``skip``/``fallback``/``health``."""

    kind: str
    start_s: float
    """Seconds since the request started."""
    end_s: float


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the waterfall."""

    kind: str
    """``attempt``, ``skip``, ``fallback`` or ``health``."""
    label: str
    """What the row is about: the deployment, or the models of a fallback."""
    text: str
    """The step's sentence (as ``explain`` prints it), for the tooltip and the list."""
    details: tuple[str, ...]
    tone: str
    """``good``, ``bad``, ``warn`` or ``""``."""
    at: float
    """Wall-clock epoch seconds of the step."""
    segments: tuple[Segment, ...]
    """The bars of the row, the whole attempt (or the instant) first."""


class Waterfall(msgspec.Struct, frozen=True, kw_only=True):
    """Every row, and the time range the axis must cover (seconds since the start)."""

    rows: tuple[Row, ...]
    start_s: float
    """<= 0: a backoff or health change before the request's start moves it left."""
    end_s: float


def waterfall(explanation: Explanation) -> Waterfall:
    """The rows of ``explanation``'s steps (its final ``finished`` step is the outcome)."""
    rows = [_row(step) for step in explanation.steps if step.kind != "finished"]
    latency = explanation.outcome.latency_s or 0.0
    ends = [s.end_s for row in rows for s in row.segments]
    starts = [s.start_s for row in rows for s in row.segments]
    end = max([latency, *ends], default=latency)
    start = min([0.0, *starts])
    return Waterfall(rows=tuple(rows), start_s=start, end_s=max(end, start))


def _row(step: Step) -> Row:
    label = step.deployment or ""
    if step.kind == "attempt":
        segments = _attempt_segments(step)
        kind = "attempt"
    else:
        kind = _MARKERS.get(step.kind, step.kind)
        segments = (Segment(kind=kind, start_s=step.offset_s, end_s=step.offset_s),)
        if step.kind == "fallback":
            label = f"{step.data.get('from_model', '?')} → {step.data.get('to_model', '?')}"
    return Row(
        kind=kind,
        label=label,
        text=step.text,
        details=step.details,
        tone=step.tone,
        at=step.at,
        segments=segments,
    )


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(float(value), 0.0)


def _attempt_segments(step: Step) -> tuple[Segment, ...]:
    data = step.data
    begin = step.offset_s
    queue = _number(data, "queue_s")
    connect = _number(data, "connect_s")
    first_byte = _number(data, "first_byte_s")
    latency = _number(data, "latency_s") or 0.0
    measured = (queue or 0.0) + (connect or 0.0) + latency
    elapsed = step.ended_at - step.at if step.ended_at is not None else 0.0
    whole = Segment(kind="attempt", start_s=begin, end_s=begin + max(elapsed, measured))
    out = [whole]
    backoff = _number(data, "backoff_s")
    if backoff:
        out.append(Segment(kind="backoff", start_s=begin - backoff, end_s=begin))
    cursor = begin
    for kind, length in (("queue", queue), ("connect", connect), ("first_byte", first_byte)):
        if length is None:
            continue
        out.append(Segment(kind=kind, start_s=cursor, end_s=cursor + length))
        cursor += length
    succeeded = "AttemptSucceeded" in step.events
    if succeeded and first_byte is not None and latency > first_byte:
        out.append(Segment(kind="generation", start_s=cursor, end_s=cursor + latency - first_byte))
    return tuple(out)
