"""Quota burn-down: each limit's cumulative use through its period, with its warnings.

Use is counted from the requests' own events as the ledger counts a request that holds
no reservation (``actors.quota._counting``): an ``AttemptSucceeded`` charges 1 request
and its tokens (reported counts, clamped; a missing count estimated at 4 characters a
token), a ``StreamInterrupted`` 1 request and the estimate of the prompt plus the text
delivered, a failed or cancelled attempt nothing. A request that reserved is charged the
same from these events (its ``QuotaSettled`` is the same figure whenever the backend
reports its token counts), so the index needs no quota reservation events.

A limit is named as the quota events name it: ``<scope>.<unit>`` with scope ``global``,
``model:<name>`` or ``role:<name>`` and unit ``requests`` or ``tokens``
(``global.tokens``, ``model:llama3.requests``); a charge counts in the global scope, its
model's (the deployment's model) and its role's. The limits shown are those configured
(``WebIndex(limits=...)``; the config's ``daily_requests``/``daily_tokens`` are accepted
for the global ones) and those a ``QuotaWarningIssued``/``QuotaExceededRecorded`` names;
a value comes from the configuration, else from the latest such event, else it is
unknown (None) and the use is still shown.

With no limit known at all, the view still shows the total use (``global.requests`` and
``global.tokens``, no value) when requests ran in the span, and says in ``note`` that no
limits are set; with no requests either it shows nothing but the note.

Periods: a ``QuotaPeriodStarted`` begins one (from a day before its ``resets_at``, or its
own time if earlier) until its ``resets_at`` or the next period; times no period event
covers fall in UTC days (midnight to midnight), as the ledger's default reset is.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence

from actors.quota import QuotaLimits, limit_name
from runtime.inspect.web._index_span import bucket_count, bucket_starts
from runtime.inspect.web._views import Mark, QuotaLimitView, QuotaView, Series, Span

__all__ = [
    "ALIASES",
    "Charge",
    "NO_LIMITS",
    "Period",
    "QuotaMark",
    "configured_limits",
    "period_intervals",
    "quota_view",
]

NO_LIMITS = "no quota limits in this log or configuration"
ALIASES = {"daily_requests": "global.requests", "daily_tokens": "global.tokens"}
"""The config's names of the global limits, as ``WebIndex(limits=...)`` may pass them."""
_DAY = 86400.0
_INF = float("inf")

Charge = tuple[float, int, str, str | None, int]
"""``(at, position, model, role, tokens)``: one request charged."""
Period = tuple[float, int, str, float]
"""``(at, position, key, resets_at)`` of a ``QuotaPeriodStarted``."""
QuotaMark = tuple[float, int, str, str]
"""``(at, position, limit, label)`` of a warning or a refusal."""
_Interval = tuple[float, float, str, float | None]


def configured_limits(limits: QuotaLimits) -> dict[str, int]:
    """The configured daily limits by the names the quota events use (for ``WebIndex``)."""
    return {limit_name(scope, unit): value for scope, unit, value in limits.configured()}


def period_intervals(span: Span, periods: Sequence[Period]) -> list[_Interval]:
    """``(start, end, key, resets_at)`` of every period overlapping ``span``, in order."""
    explicit: list[_Interval] = []
    previous_end = -_INF
    ordered = sorted(periods)
    for i, (at, _, key, resets) in enumerate(ordered):
        following = ordered[i + 1][0] if i + 1 < len(ordered) else _INF
        start = max(previous_end, min(at, resets - _DAY)) if resets > at else at
        end = min(resets if resets > at else _INF, following)
        explicit.append((start, end, key, resets if resets > 0 else None))
        previous_end = end
    out: list[_Interval] = []
    cursor, floor = span.since, -_INF  # the next time to cover; where a gap may begin
    for interval in explicit:
        if interval[1] <= span.since:
            floor = max(floor, interval[1])
            continue
        if interval[0] > span.until:
            break
        out.extend(_days(floor, cursor, min(interval[0], span.until)))
        out.append(interval)
        cursor = floor = max(cursor, interval[1])
    if cursor <= span.until:
        out.extend(_days(floor, cursor, span.until, inclusive=True))
    return out


def _days(floor: float, since: float, until: float, *, inclusive: bool = False) -> list[_Interval]:
    """UTC days covering ``[since, until)`` (``]`` with ``inclusive``), none starting
    before ``floor`` (the end of the period before)."""
    out: list[_Interval] = []
    day = math.floor(since / _DAY) * _DAY
    while day < until or (inclusive and day <= until and not out):
        key = dt.datetime.fromtimestamp(day, dt.UTC).strftime("%Y-%m-%d")
        out.append((max(day, floor), day + _DAY, key, day + _DAY))
        day += _DAY
    return out


def quota_view(
    span: Span,
    charges: Sequence[Charge],
    periods: Sequence[Period],
    marks: Sequence[tuple[str, QuotaMark]],
    values: Mapping[str, int | None],
) -> QuotaView:
    """The quota page over ``span``.

    Args:
        charges: Every charge from the earliest period start that overlaps ``span`` to
            its end, in time order.
        periods: Every ``QuotaPeriodStarted`` seen.
        marks: ``("warning" | "exceeded", mark)`` of every warning and refusal seen.
        values: Every limit to show and its value (None: unknown).
    """
    names = sorted(values)
    note = ""
    if not names:
        if not any(span.since <= c[0] <= span.until for c in charges):
            return QuotaView(span=span, limits=(), note=NO_LIMITS)
        names, note = ["global.requests", "global.tokens"], NO_LIMITS + "; showing the total use"
    views: list[QuotaLimitView] = []
    for interval in period_intervals(span, periods):
        inside = [c for c in charges if interval[0] <= c[0] < interval[1]]
        for name, used in zip(names, _burn(span, interval, inside, names), strict=True):
            views.append(_limit_view(span, interval, name, used, values.get(name), marks))
    views.sort(key=lambda v: (v.limit, v.period_start))
    return QuotaView(span=span, limits=tuple(views), note=note)


def _burn(
    span: Span, interval: _Interval, charges: Iterable[Charge], names: Sequence[str]
) -> list[list[float | None]]:
    """Per name, cumulative use at each bucket's end (None outside the period)."""
    count = bucket_count(span)
    width = span.bucket_s
    start, end = interval[0], interval[1]
    per_global: list[tuple[int, bool]] = []
    per_model: dict[str, list[tuple[int, bool]]] = {}
    per_role: dict[str, list[tuple[int, bool]]] = {}
    for i, name in enumerate(names):
        scope, _, unit = name.rpartition(".")
        kind, _, which = scope.partition(":")
        entry = (i, unit == "tokens")
        if scope == "global":
            per_global.append(entry)
        elif kind == "model":
            per_model.setdefault(which, []).append(entry)
        elif kind == "role":
            per_role.setdefault(which, []).append(entry)
    base = [0] * len(names)
    steps = [[0] * count for _ in names]
    for at, _, model, role, tokens in charges:
        b = -1 if at < span.since else min(int((at - span.since) // width), count - 1)
        if at > span.until:
            continue
        for entries in (per_global, per_model.get(model, ()), per_role.get(role or "", ())):
            for i, is_tokens in entries:
                amount = tokens if is_tokens else 1
                if b < 0:
                    base[i] += amount
                else:
                    steps[i][b] += amount
    out: list[list[float | None]] = []
    starts = bucket_starts(span, count)
    for i in range(len(names)):
        total = base[i]
        points: list[float | None] = []
        for b, bucket_start in enumerate(starts):
            total += steps[i][b]
            overlaps = bucket_start < end and bucket_start + width > start
            points.append(float(total) if overlaps else None)
        out.append(points)
    return out


def _limit_view(
    span: Span,
    interval: _Interval,
    name: str,
    used: list[float | None],
    value: int | None,
    marks: Sequence[tuple[str, QuotaMark]],
) -> QuotaLimitView:
    start, end, key, resets = interval
    lo, hi = max(start, span.since), min(end, span.until)
    found: dict[str, list[Mark]] = {"warning": [], "exceeded": []}
    for kind, (at, _, limit, label) in marks:
        if limit == name and lo <= at <= hi and at < end:
            found[kind].append(Mark(at=at, label=label))
    starts = bucket_starts(span, len(used))
    now = next((u for u in reversed(used) if u is not None), 0.0)
    return QuotaLimitView(
        limit=name,
        period=key,
        period_start=start,
        resets_at=resets,
        used=Series(name=name, points=tuple(zip(starts, used, strict=True))),
        used_now=int(now),
        limit_value=value,
        warnings=tuple(found["warning"]),
        exceeded=tuple(found["exceeded"]),
    )
