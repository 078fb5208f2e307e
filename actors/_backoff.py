"""Exponential backoff with full jitter: the one backoff of the runtime.

Used by supervision (delay before restarting a failed actor) and by the request machine
(delay before retrying a deployment). Pure: the caller passes a uniform draw, so every
delay is reproducible in tests.

The edge cases are decided here, once:

* ``attempt`` counts retries from 0 (the first retry); a negative attempt is a caller's
  bug and raises ``ValueError``. Any non-negative attempt gives a finite delay: attempt
  10**9 cannot overflow (the Polly #2163 bug family).
* ``base`` and ``cap`` are finite seconds ``>= 0``, else ``ValueError``. ``base == 0`` or
  ``cap == 0`` means no delay at all. ``cap < base`` is allowed: every ceiling is ``cap``.
* ``jitter`` is a draw in the closed range ``[0, 1]`` (``random.random()`` gives
  ``[0, 1)``; 1.0 is accepted and yields the ceiling); NaN or anything outside raises.
"""

from __future__ import annotations

import math

__all__ = ["backoff_ceiling", "backoff_delay"]


def _check_seconds(label: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"backoff {label} must be a finite number of seconds >= 0, got {value}")


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The upper bound of the jittered delay: ``min(cap, base * 2**attempt)``.

    Args:
        attempt: 0 for the first retry (>= 0).
        base: Ceiling for attempt 0, in seconds (finite, >= 0).
        cap: Largest ceiling, in seconds (finite, >= 0; may be below ``base``).

    Returns:
        A finite ceiling in ``[0, cap]``, never smaller for a larger ``attempt``.

    Raises:
        ValueError: ``attempt`` negative, or ``base``/``cap`` negative or not finite.
    """
    if attempt < 0:
        raise ValueError(f"backoff attempt must be >= 0 (0 is the first retry), got {attempt}")
    _check_seconds("base", base)
    _check_seconds("cap", cap)
    if base == 0 or cap == 0:
        return 0.0
    # Compare exponents in log space: past this point doubling only hits the cap, so
    # 2**attempt is never formed for a huge attempt.
    if attempt >= math.log2(cap) - math.log2(base):
        return cap
    try:
        return min(cap, math.ldexp(base, attempt))
    except OverflowError:  # rounding at the very top of the float range
        return cap


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Full-jitter backoff: ``jitter * min(cap, base * 2**attempt)``, in ``[0, cap]``.

    AWS's "full jitter": spreading retries over the whole interval breaks up
    synchronized retry storms better than a fixed or "equal" jitter.

    Args:
        attempt: 0 for the first retry (>= 0).
        base: Ceiling for attempt 0, in seconds (finite, >= 0).
        cap: Largest ceiling, in seconds (finite, >= 0).
        jitter: A uniform draw in ``[0, 1]`` (``random.random()`` in production).

    Returns:
        A finite delay in ``[0, backoff_ceiling(attempt, base, cap)]``.

    Raises:
        ValueError: Any argument out of its range (see the module docstring).
    """
    if not 0.0 <= jitter <= 1.0:  # also rejects NaN
        raise ValueError(f"backoff jitter must be a draw in [0, 1], got {jitter}")
    ceiling = backoff_ceiling(attempt, base, cap)
    return min(ceiling, jitter * ceiling)
