"""How each outcome changes a request's state, and the events it records (pure).

The other half of the request machine (``actors.router._machine``): ``next_step``
decides, the driver acts, and the handler here for the outcome's type folds what
happened into the state — attempts and their records, deployments ruled out, the
``Retry-After`` hints, quota refusals, the terminal event exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from actors.endpoint import BackendError, CallTimings, FailureClass
from actors.quota import RateLimited
from actors.router._errors import RequestRejected, StreamBroken
from actors.router._retry import effective_retry_after
from actors.router._select import Skip
from actors.router._state import BUDGET_STOP, Pending, RequestState
from actors.router._steps import (
    Admitted,
    Cancelled,
    Crashed,
    Delivered,
    Done,
    Failed,
    Finish,
    NotAdmitted,
    PassOver,
    QuotaRefused,
    QuotaUnavailable,
    Repeat,
    Replanned,
    Reserved,
    Succeeded,
    Target,
    Wait,
)
from actors.router._types import AttemptRecord, Reply
from actors.router._usage import counted_usage, scaled_rate
from actors.router._windows import CONTEXT_WINDOW
from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    Event,
    RequestCancelled,
    RequestFailed,
    RequestSucceeded,
    split_deployment,
)
from events import StreamInterrupted as StreamInterruptedEvent

__all__ = ["HANDLERS", "Fold", "enter"]

Fold = tuple[RequestState, tuple[Event, ...]]


def _on_done(state: RequestState, outcome: Done) -> Fold:
    match outcome.step:
        case PassOver() as step:
            return _passed_over(state, step, outcome.at)
        case Repeat():
            queue = tuple(d for d in state.group if d not in state.dead)
            new = _replace(
                state, queue=queue, pass_start=state.attempts, repeat=True, replanned=False
            )
            return _after_rate_wait(new, outcome.step), ()
        case Wait(deployment=did, seconds=seconds):
            return _replace(state, **_taken(state, did, seconds)), ()
        case Finish(error=error):
            if state.finished:
                return state, ()
            if error is None:
                return _replace(state, finished=True), ()
            return _failed(_replace(state, error=error), error, outcome.at, outcome.now)


def _reserved(state: RequestState, outcome: Reserved) -> Fold:
    step = outcome.step
    changes = _taken(state, step.deployment) if state.pending is None else {}
    before = changes.get("pending", state.pending)
    assert isinstance(before, Pending)
    pending = msgspec.structs.replace(before, reserved=True, reservation=step.reservation_id)
    changes.update(pending=pending, reservations=state.reservations + 1)
    return _replace(state, **changes), ()


def _quota_unavailable(state: RequestState, outcome: QuotaUnavailable) -> Fold:
    error = outcome.error
    new = _replace(state, reservations=state.reservations + 1, pending=None, error=error)
    return _failed(new, error, outcome.at, outcome.now)


def _not_admitted(state: RequestState, outcome: NotAdmitted) -> Fold:
    did = outcome.step.deployment
    changes = _taken(state, did) if state.pending is None else {}
    changes["pending"] = None
    return _skip(_replace(state, **changes), did, outcome.reason, outcome.detail, outcome.at)


def _delivered(state: RequestState, outcome: Delivered) -> Fold:
    return _replace(state, delivered=True), ()


def _call_failed(state: RequestState, outcome: Failed) -> Fold:
    if state.delivered:
        return _interrupted(state, outcome)
    return _attempt_failed(state, outcome)


def _crashed(state: RequestState, outcome: Crashed) -> Fold:
    if state.finished:
        return state, ()
    error = outcome.error
    return _failed(_replace(state, error=error), error, outcome.at, outcome.now)


def _replace(state: RequestState, **changes: object) -> RequestState:
    return msgspec.structs.replace(state, **changes)


def enter(state: RequestState, model: str, deployments: tuple[str, ...]) -> RequestState:
    return _replace(
        state,
        model=model,
        group=deployments,
        queue=deployments,
        pass_start=state.attempts,
        repeat=False,
        replanned=False,
        refused=None,
        rate_free={},
    )


def _taken(state: RequestState, did: str, backoff_s: float = 0.0) -> dict[str, object]:
    """The changes that take ``did`` (the head of the queue) as the candidate."""
    assert state.queue and state.queue[0] == did, "a step must answer the queue's head"
    changes: dict[str, object] = {
        "queue": state.queue[1:],
        "pending": Pending(deployment=did, backoff_s=backoff_s),
    }
    if did in state.retry_after:
        changes["retry_after"] = {d: s for d, s in state.retry_after.items() if d != did}
    return changes


def _skip(state: RequestState, did: str, reason: str, detail: str, at: float) -> Fold:
    event = CandidateSkipped(
        request_id=state.request_id, at=at, deployment=did, reason=reason, detail=detail
    )
    skip = Skip(deployment=did, reason=reason, detail=detail)
    return _replace(state, skipped=(*state.skipped, skip)), (event,)


def _passed_over(state: RequestState, step: PassOver, at: float) -> Fold:
    new = _replace(state, queue=state.queue[1:])
    if step.reason is None:
        return new, ()
    if step.stop_reason is not None:
        new = _replace(new, stop_reason=step.stop_reason)
    if step.stop_reason == BUDGET_STOP:
        new = _replace(new, budget_refusals=new.budget_refusals + 1)
    if step.reason == CONTEXT_WINDOW:  # too small for this request on every pass
        new = _replace(new, dead=new.dead | {step.deployment})
    return _skip(new, step.deployment, step.reason, step.detail, at)


def _replanned(state: RequestState, outcome: Replanned) -> Fold:
    if outcome.plan.empty:
        return _replace(state, replanned=True), ()
    target = outcome.plan.groups[0]
    return enter(state, target.model, target.deployments), outcome.events


def _quota_refused(state: RequestState, outcome: QuotaRefused) -> Fold:
    step, error = outcome.step, outcome.error
    changes = _taken(state, step.deployment) if state.pending is None else {}
    new = _replace(
        state,
        **changes | {"pending": None},
        reservations=state.reservations + 1,
        quota_refusals=(*state.quota_refusals, error),
    )
    if isinstance(error, RateLimited):  # per deployment: the next one may have room
        free = {**new.rate_free, step.deployment: outcome.now + max(error.retry_after, 0.0)}
        new = _replace(new, rate_free=free)
        return _skip(new, step.deployment, "rate_limited", str(error), outcome.at)
    new, events = _skip(new, step.deployment, "quota", str(error), outcome.at)
    if not state.settings.quota_fallback:
        new, final = _failed(_replace(new, error=error), error, outcome.at, outcome.now)
        return new, (*events, *final)
    # Limits are per model, role or overall, never per endpoint: no other deployment
    # of this model would be admitted either.
    return _replace(new, refused=error, queue=()), events


def _after_rate_wait(state: RequestState, step: object) -> RequestState:
    """A new pass forgets the last pass's rate refusals and counts any wait for them."""
    waited = step.seconds if isinstance(step, Repeat) else 0.0
    return _replace(state, rate_free={}, rate_waited=state.rate_waited + waited)


def _admitted(state: RequestState, outcome: Admitted) -> Fold:
    step = outcome.step
    changes = {} if state.pending is not None else _taken(state, step.deployment)
    pending = changes.get("pending", state.pending)
    assert isinstance(pending, Pending)
    model, endpoint = split_deployment(step.deployment)
    attempt = state.attempts + 1
    target = Target(
        deployment=step.deployment,
        model=model,
        endpoint=endpoint,
        attempt=attempt,
        backoff_s=pending.backoff_s,
        probe_round=outcome.probe_round,
        reservation=pending.reservation,
    )
    tries = {**state.tries, step.deployment: state.tries.get(step.deployment, 0) + 1}
    event = AttemptStarted(
        request_id=state.request_id,
        at=outcome.at,
        attempt=attempt,
        deployment=step.deployment,
        model=model,
        endpoint=endpoint,
        backoff_s=pending.backoff_s,
        probe=outcome.probe_round is not None,
    )
    changes.update(pending=None, target=target, attempts=attempt, tries=tries)
    return _replace(state, **changes), (event,)


def _record(
    target: Target,
    *,
    latency_s: float,
    error: BackendError | None = None,
    status: int | None = None,
) -> AttemptRecord:
    return AttemptRecord(
        attempt=target.attempt,
        deployment=target.deployment,
        model=target.model,
        endpoint=target.endpoint,
        ok=error is None,
        failure=error.failure.value if error is not None else None,
        message=error.message if error is not None else "",
        status=status,
        latency_s=latency_s,
        backoff_s=target.backoff_s,
    )


def _timed(timings: CallTimings | None) -> dict[str, Any]:
    """An attempt event's queue/connect/first-byte fields (None when unknown)."""
    t = timings or CallTimings()
    return {"queue_s": t.queue_s, "connect_s": t.connect_s, "first_byte_s": t.first_byte_s}


def _succeeded(state: RequestState, outcome: Succeeded) -> Fold:
    target = outcome.step.target
    usage = outcome.usage
    counted = counted_usage(state, target.deployment, usage)  # implausible figures bounded
    succeeded = AttemptSucceeded(
        request_id=state.request_id,
        at=outcome.at,
        attempt=target.attempt,
        deployment=target.deployment,
        latency_s=outcome.latency_s,
        ttft_s=outcome.ttft_s,
        prompt_tokens=counted.prompt_tokens,
        completion_tokens=counted.completion_tokens,
        tokens_per_s=scaled_rate(outcome.tokens_per_s, counted),
        completion_chars=outcome.chars,
        reported_prompt_tokens=counted.reported_prompt_tokens,
        reported_completion_tokens=counted.reported_completion_tokens,
        **_timed(outcome.timings),
    )
    records = (*state.records, _record(target, latency_s=outcome.latency_s))
    latency = outcome.now - state.started
    ended = RequestSucceeded(
        request_id=state.request_id, at=outcome.at, model=target.model,
        endpoint=target.endpoint, attempts=state.attempts, latency_s=latency,
    )  # fmt: skip
    reply = Reply(
        content=outcome.content, model=target.model, endpoint=target.endpoint, usage=usage,
        request_id=state.request_id, attempts=records, latency_s=latency,
        finish_reason=outcome.finish_reason, role=state.request.role,
        tool_calls=outcome.tool_calls, logprobs=outcome.logprobs,
    )  # fmt: skip
    new = _replace(state, target=None, records=records, reply=reply, finished=True)
    return new, (succeeded, ended)


def _attempt_failed(state: RequestState, outcome: Failed) -> Fold:
    target, exc = outcome.step.target, outcome.error
    did, failure = target.deployment, exc.failure
    retry_after = effective_retry_after(exc.retry_after, state.settings.policy.retry_after_cap)
    event = AttemptFailed(
        request_id=state.request_id, at=outcome.at, attempt=target.attempt, deployment=did,
        failure=failure.value, retryable=exc.retryable, status=exc.status,
        message=exc.message, latency_s=outcome.latency_s, retry_after_s=retry_after,
        **_timed(outcome.timings),
    )  # fmt: skip
    record = _record(target, latency_s=outcome.latency_s, error=exc, status=exc.status)
    records = (*state.records, record)
    new = _replace(state, target=None, records=records)
    if retry_after is not None:
        new = _replace(new, retry_after={**new.retry_after, did: retry_after})
    if exc.retryable:
        return new, (event,)
    if failure is FailureClass.CONTEXT_OVERFLOW:
        # Too long for this window, maybe not for a larger one (``_windows``): the
        # walk goes on past every deployment whose window is not larger.
        overflowed = {**new.overflowed, did: new.windows.get(did)}
        return _replace(new, dead=new.dead | {did}, overflowed=overflowed), (event,)
    if failure is FailureClass.MODEL_NOT_FOUND or failure.permanent or failure.health_weight > 0:
        # The model is missing there, or the key is bad (health marked it failed):
        # this deployment cannot succeed for this request; the next one may.
        return _replace(new, dead=new.dead | {did}), (event,)
    error = RequestRejected(state.request_id, records, failure.value, exc.message, exc.status)
    new, final = _failed(_replace(new, error=error), error, outcome.at, outcome.now)
    return new, (event, *final)


def _interrupted(state: RequestState, outcome: Failed) -> Fold:
    target, exc = outcome.step.target, outcome.error
    event = StreamInterruptedEvent(
        request_id=state.request_id, at=outcome.at, attempt=target.attempt,
        deployment=target.deployment, partial_chars=len(outcome.partial),
        failure=exc.failure.value, message=exc.message, latency_s=outcome.latency_s,
    )  # fmt: skip
    records = (*state.records, _record(target, latency_s=outcome.latency_s, error=exc))
    error = StreamBroken(
        state.request_id, records, partial=outcome.partial, failure=exc.failure.value,
        deployment=target.deployment, message=exc.message,
    )  # fmt: skip
    new = _replace(state, target=None, records=records, error=error)
    new, final = _failed(new, error, outcome.at, outcome.now)
    return new, (event, *final)


def _failed(state: RequestState, error: Exception, at: float, now: float) -> Fold:
    """The request's terminal ``RequestFailed`` (once)."""
    if state.finished:
        return state, ()
    event = RequestFailed(
        request_id=state.request_id,
        at=at,
        attempts=state.attempts,
        error=str(error),
        error_type=type(error).__name__,
        failure=state.records[-1].failure if state.records else None,
        latency_s=now - state.started,
    )
    return _replace(state, finished=True), (event,)


def _cancelled(state: RequestState, outcome: Cancelled) -> Fold:
    if state.finished:
        return state, ()
    event = RequestCancelled(
        request_id=state.request_id,
        at=outcome.at,
        attempts=state.attempts,
        latency_s=outcome.now - state.started,
        partial_chars=outcome.partial_chars,
    )
    return _replace(state, finished=True, target=None, pending=None, error=None), (event,)


HANDLERS: dict[type, Callable[[RequestState, Any], Fold]] = {
    Done: _on_done,
    Replanned: _replanned,
    Reserved: _reserved,
    QuotaRefused: _quota_refused,
    QuotaUnavailable: _quota_unavailable,
    Admitted: _admitted,
    NotAdmitted: _not_admitted,
    Delivered: _delivered,
    Succeeded: _succeeded,
    Failed: _call_failed,
    Cancelled: _cancelled,
    Crashed: _crashed,
}
"""Outcome type -> its handler (a dict: one lookup instead of a long ``match``)."""
