"""The thresholds and durations health decisions are taken with."""

from __future__ import annotations

import math

import msgspec

__all__ = ["HealthPolicy", "cool_down_duration", "liveness_delay", "quarantine_duration"]


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
    cool_down_seconds: float = 5.0
    """Cool-down after a 429 that carries no ``Retry-After`` (see ``_rotation``)."""
    cool_down_max_seconds: float = 60.0
    """Longest cool-down a ``Retry-After`` can ask for; 0 turns cool-downs off."""
    panic_probe: bool = True
    """When every deployment a request could use is out of rotation, let one request
    try the one back soonest (as a probe) instead of failing it without trying."""
    liveness_seconds: float = 1.0
    """First interval of the liveness checks of a deployment quarantined for a
    connection failure (then doubling, up to the quarantine); 0 turns them off."""

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
        for field in ("cool_down_seconds", "cool_down_max_seconds", "liveness_seconds"):
            value = getattr(self, field)
            _require(math.isfinite(value) and value >= 0.0, field, "must be >= 0")


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


def cool_down_duration(policy: HealthPolicy, retry_after: float | None) -> float:
    """Seconds a deployment cools down for a backend's ``Retry-After`` (None: absent).

    The hint, clamped to ``[0, cool_down_max_seconds]``; ``cool_down_seconds`` (also
    capped) when the backend gave none or an unusable one (NaN).
    """
    if retry_after is None or math.isnan(retry_after):
        retry_after = policy.cool_down_seconds
    return min(policy.cool_down_max_seconds, max(0.0, retry_after))


def liveness_delay(policy: HealthPolicy, attempt: int, quarantine: float) -> float:
    """Seconds before liveness check number ``attempt`` (0 = the first) of a quarantine.

    ``liveness_seconds * 2 ** attempt``, at most ``quarantine`` (the quarantine's own
    length: the longest a deployment stays out without a check).
    """
    try:
        grown = policy.liveness_seconds * 2.0 ** max(attempt, 0)
    except OverflowError:
        return quarantine
    return max(0.0, min(grown, quarantine))
