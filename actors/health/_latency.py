"""The latency rule: when slow successful calls make a deployment ``degraded``.

``health.degraded_latency_seconds`` (``HealthPolicy.degraded_latency_seconds``) is the
threshold. "Recent latency" is the **median of the last ``latency_window`` (5)
successful calls**: each success is judged slow or not when it is counted (a plain
call by its whole duration, a stream by the time to its first chunk, since a long
answer is not a slow backend), and the deployment is slow when more than half of the
last five verdicts are slow — exactly "their median is over the threshold". A median
rather than a mean or an EWMA, so that one cold model load (a minute, once) does not
degrade a deployment, while a backend that stays slow does so within three calls.

Hysteresis: a degraded deployment is fast again only when at most a quarter of the
window (1 of 5) is slow, so latency hovering at the threshold does not flap the status.

Only the verdicts (booleans) are kept in the state, not the latencies: a fast success on
a deployment whose window is all fast folds to the same state, which is what lets the
health actor skip recording it (one event per request spared) while live and replayed
state stay equal. Pure: no I/O, no clock.
"""

from __future__ import annotations

from actors.health._policy import HealthPolicy
from actors.health._status import DeploymentHealth

__all__ = ["fast_again", "judge", "slow_reason", "too_slow"]


def judge(policy: HealthPolicy, latency: float | None) -> bool | None:
    """Whether a successful call that took ``latency`` seconds was slow.

    Returns:
        None when latency is not judged (no threshold set, or no latency measured),
        else whether ``latency`` is over ``degraded_latency_seconds``.
    """
    threshold = policy.degraded_latency_seconds
    if threshold is None or latency is None:
        return None
    return latency > threshold


def _slow_calls(state: DeploymentHealth, policy: HealthPolicy) -> int:
    return sum(state.slow[-policy.latency_window :])


def too_slow(state: DeploymentHealth, policy: HealthPolicy) -> bool:
    """Whether the median of the recent successful calls is over the threshold.

    More than half of the last ``latency_window`` verdicts slow; a window not full yet
    counts its missing calls as fast, so two slow calls out of two do not suffice.
    Always False when the policy sets no threshold.
    """
    if policy.degraded_latency_seconds is None:
        return False
    return 2 * _slow_calls(state, policy) > policy.latency_window


def fast_again(state: DeploymentHealth, policy: HealthPolicy) -> bool:
    """Whether a deployment degraded for slowness may recover: at most a quarter of the
    window slow (the hysteresis). Always True when the policy sets no threshold."""
    if policy.degraded_latency_seconds is None:
        return True
    return 4 * _slow_calls(state, policy) <= policy.latency_window


def slow_reason(state: DeploymentHealth, policy: HealthPolicy, latency: float | None) -> str:
    """The ``reason`` of a ``DeploymentDegraded`` for slowness."""
    window = min(len(state.slow), policy.latency_window)
    last = f"{latency:.3g} s" if latency is not None else "unknown"
    return (
        f"slow: {_slow_calls(state, policy)} of the last {window} successful calls took "
        f"over {policy.degraded_latency_seconds:g} s (last: {last})"
    )
