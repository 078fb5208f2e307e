"""What the web view's index keeps of the time before a cut-off (its retention window).

A followed log grows without end; ``WebIndex.forget_before(cutoff)`` drops what lies
before the cut-off and keeps only what the pages still need to show the time after it:

- health: where the walk over each deployment's changes stood at the cut-off (its last
  stretches and any cool-down or panic probe still running: ``_index_bands.carry_at``),
  so that its band starts with the right status at the cut-off (a quarantine that began
  before it still shows from the span's start); the changes before it are dropped;
- quota: the period containing the cut-off is kept whole (its burn-down counts every
  charge since the period began), so charges and marks are kept from that period's
  start (``quota_floor``), and the periods from the last two that began before it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.inspect.web._index_quota import Period, period_intervals
from runtime.inspect.web._views import Span

__all__ = ["keep_periods", "quota_floor"]

_PERIODS_BEFORE = 2
"""Periods kept that began before the cut-off (the one in force and the one before it,
whose end bounds the start of the next)."""


def quota_floor(periods: Sequence[Period], cutoff: float) -> float:
    """Where the quota period in force at ``cutoff`` began (at most ``cutoff``): charges
    and marks from there on are kept, so its burn-down stays whole."""
    intervals = period_intervals(Span(since=cutoff, until=cutoff, bucket_s=1.0), periods)
    return min([cutoff, *(interval[0] for interval in intervals)])


def keep_periods(periods: Sequence[Period], floor: float) -> list[Period]:
    """The periods to keep: every one that began at or after ``floor`` and the last
    ``_PERIODS_BEFORE`` before it."""
    ordered = sorted(periods)
    before = [p for p in ordered if p[0] < floor][-_PERIODS_BEFORE:]
    return before + [p for p in ordered if p[0] >= floor]
