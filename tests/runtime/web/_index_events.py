"""Hand-built events for the request-fold and web-index tests: short builders.

Every builder returns bare events; ``tests.runtime.inspect._requests.stored`` turns a
list of them into stored events with positions and streams as the runtime writes them.
"""

from __future__ import annotations

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentPanicProbe,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaWarningIssued,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)
from tests.runtime.inspect._requests import WALL

__all__ = [
    "WALL",
    "answered",
    "attempt",
    "cancelled",
    "cooling",
    "degraded",
    "exceeded",
    "fail",
    "fallback",
    "gave_up",
    "interrupted",
    "ok",
    "panic",
    "period",
    "probing",
    "quarantined",
    "recovered",
    "simple",
    "skipped",
    "started",
    "warning",
]


def started(
    rid: str,
    at: float,
    *,
    role: str | None = "gen",
    model: str | None = None,
    chain: tuple[str, ...] = ("llama3", "qwen"),
    stream: bool = False,
    prompt_chars: int = 40,
) -> RequestStarted:
    return RequestStarted(
        request_id=rid,
        at=at,
        role=role,
        model=model,
        kind=role,
        stream=stream,
        chain=chain,
        candidates=(),
        prompt_chars=prompt_chars,
        prompt_hash="abc",
        messages=1,
    )


def skipped(rid: str, did: str, at: float, reason: str = "quarantined") -> CandidateSkipped:
    return CandidateSkipped(request_id=rid, at=at, deployment=did, reason=reason)


def attempt(rid: str, n: int, did: str, at: float) -> AttemptStarted:
    model, _, endpoint = did.rpartition("@")
    return AttemptStarted(
        request_id=rid, at=at, attempt=n, deployment=did, model=model, endpoint=endpoint
    )


def ok(
    rid: str,
    n: int,
    did: str,
    at: float,
    latency: float = 0.1,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    completion_chars: int = 0,
    ttft: float | None = None,
) -> AttemptSucceeded:
    return AttemptSucceeded(
        request_id=rid,
        at=at,
        attempt=n,
        deployment=did,
        latency_s=latency,
        ttft_s=ttft,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        completion_chars=completion_chars,
    )


def fail(
    rid: str,
    n: int,
    did: str,
    at: float,
    failure: str = "server_error",
    *,
    message: str = "",
    latency: float = 0.05,
) -> AttemptFailed:
    return AttemptFailed(
        request_id=rid,
        at=at,
        attempt=n,
        deployment=did,
        failure=failure,
        retryable=True,
        message=message,
        latency_s=latency,
    )


def interrupted(
    rid: str, n: int, did: str, at: float, failure: str = "timeout_idle", partial: int = 40
) -> StreamInterrupted:
    return StreamInterrupted(
        request_id=rid, at=at, attempt=n, deployment=did, partial_chars=partial, failure=failure
    )


def fallback(rid: str, at: float, from_model: str, to_model: str) -> FallbackSwitched:
    return FallbackSwitched(
        request_id=rid, at=at, from_model=from_model, to_model=to_model, reason="failure"
    )


def answered(rid: str, did: str, at: float, attempts: int, latency: float) -> RequestSucceeded:
    model, _, endpoint = did.rpartition("@")
    return RequestSucceeded(
        request_id=rid,
        at=at,
        model=model,
        endpoint=endpoint,
        attempts=attempts,
        latency_s=latency,
    )


def gave_up(
    rid: str, at: float, attempts: int, failure: str | None, error: str, latency: float
) -> RequestFailed:
    return RequestFailed(
        request_id=rid,
        at=at,
        attempts=attempts,
        error=error,
        error_type="AllDeploymentsFailed",
        failure=failure,
        latency_s=latency,
    )


def cancelled(rid: str, at: float, attempts: int, latency: float) -> RequestCancelled:
    return RequestCancelled(request_id=rid, at=at, attempts=attempts, latency_s=latency)


def simple(
    rid: str,
    at: float,
    did: str,
    latency: float = 0.1,
    *,
    role: str | None = "gen",
    model: str | None = None,
    tokens: tuple[int, int] | None = None,
) -> list[Event]:
    """A request answered by ``did`` at its first attempt, ``latency`` seconds after ``at``."""
    prompt, completion = tokens if tokens is not None else (None, None)
    return [
        started(rid, at, role=role, model=model),
        attempt(rid, 1, did, at),
        ok(
            rid,
            1,
            did,
            at + latency,
            latency,
            prompt_tokens=prompt,
            completion_tokens=completion,
        ),
        answered(rid, did, at + latency, 1, latency),
    ]


def quarantined(did: str, at: float, until: float, failure: str = "server_error") -> Event:
    return DeploymentQuarantined(
        deployment=did,
        at=at,
        until=until,
        quarantine_count=1,
        reason="3 consecutive failures",
        failure=failure,
    )


def probing(did: str, at: float) -> Event:
    return DeploymentProbingStarted(deployment=did, at=at, probe_round=1)


def recovered(did: str, at: float, previous: str = "probing") -> Event:
    return DeploymentRecovered(deployment=did, at=at, previous=previous)


def degraded(did: str, at: float) -> Event:
    return DeploymentDegraded(deployment=did, at=at, reason="1 consecutive failure")


def cooling(did: str, at: float, until: float) -> Event:
    return DeploymentCoolingDown(
        deployment=did, at=at, until=until, reason="rate_limited", failure="rate_limited"
    )


def panic(did: str, at: float, out_until: float) -> Event:
    return DeploymentPanicProbe(deployment=did, at=at, out_until=out_until, status="quarantined")


def period(at: float, key: str, resets_at: float) -> Event:
    return QuotaPeriodStarted(at=at, period=key, resets_at=resets_at)


def warning(at: float, limit: str, used: int, value: int, key: str = "") -> Event:
    return QuotaWarningIssued(
        at=at, limit=limit, used=used, limit_value=value, ratio=used / value, period=key
    )


def exceeded(at: float, limit: str, used: int, value: int, key: str = "") -> Event:
    return QuotaExceededRecorded(
        at=at, limit=limit, used=used, limit_value=value, requested=1, period=key
    )
