"""The thresholds and durations health decisions are taken with."""

from __future__ import annotations

import math

import msgspec

__all__ = ["HealthPolicy", "quarantine_duration"]


class HealthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When to quarantine a deployment, for how long, and how to probe it back.

    A circuit breaker in the resilience4j mould: a consecutive-failure trip wire for
    fast reactions, plus a failure rate over a count window once enough calls were seen;
    quarantine durations grow geometrically while a deployment keeps failing its probes.

    Raises:
        ValueError: On construction (or decoding) with a value out of range; the message
            names the field.
    """

    failure_threshold: int = 3
    """Weighted consecutive failures that quarantine the deployment."""
    failure_rate_threshold: float = 0.5
    """Weighted failure rate over the window, in ``(0, 1]``, that quarantines it."""
    window_size: int = 20
    """How many recent outcomes the failure rate is computed over."""
    min_calls: int = 10
    """Outcomes needed in the window before the failure rate counts (at most window_size)."""
    quarantine_seconds: float = 300.0
    """Length of the first quarantine."""
    quarantine_backoff: float = 2.0
    """Each further quarantine (without stabilizing in between) lasts this much longer."""
    quarantine_max_seconds: float = 3600.0
    """Upper bound of any quarantine."""
    half_open_probes: int = 1
    """Probe requests admitted at a time while probing."""
    degraded_latency_seconds: float | None = None
    """A deployment whose recent successful calls are slower than this is ``degraded``
    (see ``actors.health._latency``); None: latency is never judged."""
    latency_window: int = 5
    """How many recent successful calls the latency rule looks at (their median)."""

    def __post_init__(self) -> None:
        _require(self.failure_threshold >= 1, "failure_threshold", "must be >= 1")
        _require(
            0.0 < self.failure_rate_threshold <= 1.0,
            "failure_rate_threshold",
            "must be in (0, 1]",
        )
        _require(self.window_size >= 1, "window_size", "must be >= 1")
        _require(
            1 <= self.min_calls <= self.window_size,
            "min_calls",
            f"must be in [1, window_size={self.window_size}]",
        )
        _require(_finite_positive(self.quarantine_seconds), "quarantine_seconds", "must be > 0")
        _require(
            math.isfinite(self.quarantine_backoff) and self.quarantine_backoff >= 1.0,
            "quarantine_backoff",
            "must be >= 1",
        )
        _require(
            _finite_positive(self.quarantine_max_seconds)
            and self.quarantine_max_seconds >= self.quarantine_seconds,
            "quarantine_max_seconds",
            f"must be >= quarantine_seconds={self.quarantine_seconds:g}",
        )
        _require(self.half_open_probes >= 1, "half_open_probes", "must be >= 1")
        _require(
            self.degraded_latency_seconds is None
            or _finite_positive(self.degraded_latency_seconds),
            "degraded_latency_seconds",
            "must be > 0 (or None)",
        )
        _require(self.latency_window >= 1, "latency_window", "must be >= 1")


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0.0


def _require(ok: bool, field: str, rule: str) -> None:
    if not ok:
        raise ValueError(f"health policy: {field} {rule}")


def quarantine_duration(policy: HealthPolicy, quarantine_count: int) -> float:
    """Seconds the ``quarantine_count``-th quarantine lasts.

    ``min(max, base * backoff ** (count - 1))``, computed without ``OverflowError`` for
    any count (a deployment that has been failing for weeks just stays at the maximum).

    Args:
        policy: The policy with base, backoff and maximum.
        quarantine_count: 1 for the first quarantine; lower values count as 1.

    Returns:
        A finite duration in ``[quarantine_seconds, quarantine_max_seconds]``.
    """
    exponent = max(quarantine_count, 1) - 1
    try:
        grown = policy.quarantine_seconds * policy.quarantine_backoff**exponent
    except OverflowError:
        return policy.quarantine_max_seconds
    return min(policy.quarantine_max_seconds, grown)
