"""Supervision policy and the sliding restart window (backoff from ``actors._backoff``).

Pure: no asyncio, time or random. The caller passes the current monotonic time and a
uniform random draw in ``[0, 1]``, which keeps every decision reproducible in tests.
"""

from __future__ import annotations

import math

import msgspec

from actors._backoff import backoff_delay

__all__ = [
    "RestartDecision",
    "SupervisionPolicy",
    "decide_restart",
]


class SupervisionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a failing actor is restarted.

    A failure within ``window`` seconds of at most ``max_restarts`` earlier failures is
    restarted after ``U(0, min(backoff_cap, backoff_base * 2**n))`` seconds, where ``n``
    is the number of earlier failures still in the window. One more failure than that
    stops the actor for good ("too many restarts").
    """

    max_restarts: int = 3
    """Restarts allowed within ``window``; 0 stops the actor on its first failure."""
    window: float = 60.0
    """Length of the sliding window, in seconds of monotonic time."""
    backoff_base: float = 0.1
    """Ceiling of the first restart delay, in seconds."""
    backoff_cap: float = 30.0
    """The delay never exceeds this, however many failures there were."""

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if not (math.isfinite(self.window) and self.window > 0):
            raise ValueError(f"window must be a positive number of seconds, got {self.window}")
        _check_backoff(self.backoff_base, self.backoff_cap)


class RestartDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What to do about one failure."""

    restart: bool
    """``True``: restart after ``delay``; ``False``: give up and stop the actor."""
    delay: float
    """Seconds to wait before the restart (0 when giving up)."""
    failures_in_window: int
    """Failures in the window, this one included (1 for the first)."""
    history: tuple[float, ...]
    """Monotonic times of the failures still in the window: the next call's input."""


def _check_backoff(base: float, cap: float) -> None:
    for label, value in (("backoff_base", base), ("backoff_cap", cap)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")


def decide_restart(
    history: tuple[float, ...], now: float, policy: SupervisionPolicy, jitter: float
) -> RestartDecision:
    """Decide whether a failure at ``now`` is restarted, and after how long.

    Args:
        history: Monotonic times of earlier failures (from the previous decision).
        now: Monotonic time of this failure.
        policy: The actor's supervision policy.
        jitter: A uniform draw in ``[0, 1]`` for the backoff.
    """
    horizon = now - policy.window
    recent = (*(t for t in history if t > horizon), now)
    failures = len(recent)
    if failures > policy.max_restarts:
        return RestartDecision(
            restart=False, delay=0.0, failures_in_window=failures, history=recent
        )
    delay = backoff_delay(failures - 1, policy.backoff_base, policy.backoff_cap, jitter)
    return RestartDecision(restart=True, delay=delay, failures_in_window=failures, history=recent)
