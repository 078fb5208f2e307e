"""The runtime's errors as HTTP statuses (pure mapping)."""

from __future__ import annotations

from runtime import (
    EventLogFailing,
    InvalidRequest,
    QuotaExceeded,
    RuntimeNotRunning,
    StateUnavailable,
)
from runtime.serve._errors import from_runtime_error


def test_errors_map_to_statuses_and_unknown_ones_to_none() -> None:
    quota = QuotaExceeded(
        "used up", limit="global:requests", used=3, limit_value=3, requested=1, resets_at=110.0
    )
    cases = [
        (InvalidRequest("bad"), 400, "invalid_request"),
        (quota, 429, "quota_exceeded"),
        (RuntimeNotRunning("closed"), 503, "runtime_not_running"),
        (StateUnavailable("the health actor is restarting"), 503, "state_unavailable"),
        (EventLogFailing("the disk is full"), 503, "event_log_failing"),
    ]
    for exc, status, code in cases:
        error = from_runtime_error(exc, now=100.0)
        assert error is not None and (error.status, error.code) == (status, code)
    assert from_runtime_error(quota, now=100.0).headers["retry-after"] == "10"  # type: ignore[union-attr]
    restarting = from_runtime_error(StateUnavailable("x"), now=0.0)
    assert restarting is not None and restarting.headers["retry-after"] == "1"
    full = from_runtime_error(EventLogFailing("the disk is full"), now=0.0)
    assert full is not None and full.headers["retry-after"] == "1"  # it retries every second
    assert from_runtime_error(ValueError("a bug"), now=0.0) is None
