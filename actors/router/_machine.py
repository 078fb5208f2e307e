"""One request as a pure state machine: ``start``, ``next_step``, ``on_outcome``.

``next_step(state, view, now, u)`` decides what the request does next (a ``Step``);
the driver carries it out — asking an actor, sleeping, calling a backend — and hands
what happened to ``on_outcome(state, outcome)``, which returns the new state and the
events to record. Every rule of a request lives here, tested without asyncio:

1. **Plan order.** Deployments of the current model are tried in plan order, each
   once per pass; one ruled out for this request (model missing, bad key) is passed
   over silently.
2. **Fallback.** When the model has none left, the request falls back to the rest of
   the chain (``Replan``: the router re-plans it now and records ``FallbackSwitched``
   with the reason: ``failure``, ``quota`` or ``unavailable``).
3. **Backoff only when nothing else is left.** Only when no fallback is found does
   the model get another pass: a retry of the same deployment waits a full-jitter
   backoff ``U(0, min(cap, base * 2**n))``, or the capped ``Retry-After`` it asked
   for if longer. Moving to *another* deployment never waits.
4. **Retry budget.** Every attempt after the first needs the deployment's retry budget
   above half (the router's ``RetryView``): a failing backend stops being retried
   while healthy ones still take failovers.
5. **Limits.** The request stops at ``max_attempts``, at its deadline (a backoff that
   would cross it is not started), or when a whole pass admitted nothing.
6. **Quota.** With a quota ledger each attempt reserves before its call. A refusal
   fails the request (``on_exceeded: fail``) or passes over the whole model
   (``fallback``: limits are per model, role or overall, never per endpoint); with no
   attempt made and every model refused, one ``QuotaExceeded`` lists them all. A
   reservation that cannot be recorded fails the request (quotas fail closed).
7. **Health at attempt time.** A deployment is re-checked just before its call
   (``Admit``); one quarantined since planning is passed over (``CandidateSkipped``).
8. **Outcomes.** A retryable failure moves on; a deployment that cannot succeed for
   this request (model missing, auth) is ruled out; a failure caused by the request
   itself (context overflow) ends it at once with ``RequestRejected``.
9. **Streams fall back only before the first chunk.** Once text reached the caller
   (``Delivered``) a failure ends the request with ``StreamInterrupted`` carrying the
   partial text.

Pure: no asyncio, clocks or randomness — time comes in as ``now``/``at``, the jitter
draw as ``u``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import msgspec

from actors.endpoint import BackendError, FailureClass, Message
from actors.health import RecordOutcome
from actors.quota import QuotaExceeded, estimate_tokens
from actors.router._errors import (
    AllCandidatesFailed,
    NoCandidates,
    RequestRejected,
    StreamInterrupted,
)
from actors.router._messages import RetryView
from actors.router._retry import backoff_delay, effective_retry_after
from actors.router._select import Plan, Skip
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Cancelled,
    Crashed,
    Delivered,
    Done,
    Failed,
    Finish,
    NotAdmitted,
    Outcome,
    PassOver,
    QuotaRefused,
    QuotaUnavailable,
    Repeat,
    Replan,
    Replanned,
    Reserve,
    Reserved,
    Step,
    Succeeded,
    Target,
    Wait,
)
from actors.router._types import AttemptRecord, Reply, RetryPolicy, RouteRequest
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

__all__ = [
    "MachineSettings",
    "Pending",
    "RequestState",
    "exhausted",
    "health_report",
    "next_step",
    "on_outcome",
    "prompt_hash",
    "start",
]

_BELOW_ONE = math.nextafter(1.0, 0.0)
_BUDGET_STOP = "the retry budget is exhausted (the backends keep failing)"


class MachineSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What every request of a runtime shares: the retry policy and the quota rules."""

    policy: RetryPolicy = msgspec.field(default_factory=RetryPolicy)
    quota: bool = False
    """Whether each attempt reserves quota first."""
    quota_fallback: bool = False
    """Whether a refused model makes the request fall back (else it fails)."""
    default_completion: int = 1024
    """Completion tokens estimated without any ``max_tokens``."""
    max_tokens: dict[str, int | None] = msgspec.field(default_factory=dict)
    """Model -> its configured ``max_tokens`` (the estimate's default)."""


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """The candidate being prepared: taken off the queue, not yet admitted."""

    deployment: str
    backoff_s: float = 0.0
    reserved: bool = False
    reservation: str | None = None


class RequestState(msgspec.Struct, frozen=True, kw_only=True):
    """One request in progress (see the module docstring)."""

    request_id: str
    request: RouteRequest
    settings: MachineSettings
    stream: bool
    started: float
    """Monotonic seconds when the request was accepted."""
    chain: tuple[str, ...]
    prompt_chars: int
    # the walk
    model: str | None = None
    group: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    pass_start: int = 0
    repeat: bool = False
    replanned: bool = False
    """A fallback was looked for since the last pass began (and nothing was found)."""
    refused: QuotaExceeded | None = None
    """The current model's quota refusal, if that is why it is being left."""
    stop_reason: str = "every candidate failed"
    # per deployment
    tries: dict[str, int] = msgspec.field(default_factory=dict)
    dead: frozenset[str] = frozenset()
    retry_after: dict[str, float] = msgspec.field(default_factory=dict)
    # what happened
    attempts: int = 0
    records: tuple[AttemptRecord, ...] = ()
    skipped: tuple[Skip, ...] = ()
    quota_refusals: tuple[QuotaExceeded, ...] = ()
    reservations: int = 0
    budget_refusals: int = 0
    pending: Pending | None = None
    target: Target | None = None
    delivered: bool = False
    # the end
    reply: Reply | None = None
    error: Exception | None = None
    finished: bool = False
    """The terminal event was returned."""

    @property
    def deadline(self) -> float:
        """Monotonic seconds when the request must be over."""
        return self.started + self.settings.policy.request_deadline


def start(
    request: RouteRequest,
    request_id: str,
    planned: Plan,
    *,
    settings: MachineSettings,
    stream: bool,
    now: float,
) -> RequestState:
    """The state of a request just planned (its ``RequestStarted`` is the router's)."""
    first = planned.groups[0] if planned.groups else None
    return RequestState(
        request_id=request_id,
        request=request,
        settings=settings,
        stream=stream,
        started=now,
        chain=planned.chain,
        prompt_chars=sum(len(m.content) for m in request.messages),
        skipped=planned.skipped,
        model=first.model if first else None,
        group=first.deployments if first else (),
        queue=first.deployments if first else (),
        error=None if first else NoCandidates(request_id, planned.skipped),
    )


def prompt_hash(messages: tuple[Message, ...]) -> str:
    """A short digest of the conversation (logged instead of the prompt itself)."""
    digest = hashlib.blake2b(digest_size=8)
    for message in messages:
        digest.update(message.role.encode())
        digest.update(b"\x00")
        digest.update(message.content.encode())
        digest.update(b"\x01")
    return digest.hexdigest()


# --- next_step -----------------------------------------------------------------------


def next_step(state: RequestState, view: RetryView, now: float, u: float) -> Step:
    """What the request does next.

    Args:
        state: The request.
        view: The router's retry budgets (from its last answer).
        now: Monotonic seconds.
        u: A uniform draw in ``[0, 1)`` for backoff jitter.
    """
    if state.reply is not None or state.error is not None or state.finished:
        return Finish(reply=state.reply, error=state.error)  # neither: it was cancelled
    if state.target is not None:
        return Attempt(target=state.target, remaining_s=state.deadline - now)
    if state.pending is not None:
        return _prepare(state, state.pending.deployment, state.pending)
    return _choose(state, view, now, u)


def _choose(state: RequestState, view: RetryView, now: float, u: float) -> Step:
    """The next candidate of the walk, or how the walk goes on or ends."""
    policy = state.settings.policy
    if state.model is None:
        return _fail(state)
    if state.attempts >= policy.max_attempts:
        return _fail(state, f"the limit of {policy.max_attempts} attempts was reached")
    remaining = state.deadline - now
    if remaining <= 0:
        return _fail(state, _deadline_reason(policy))
    if not state.queue:
        return _refill(state)
    did = state.queue[0]
    if did in state.dead:
        return PassOver(deployment=did)
    if state.attempts > 0 and did in view.exhausted:
        return PassOver(
            deployment=did,
            reason="unavailable",
            detail="retry budget exhausted",
            stop_reason=_BUDGET_STOP,
        )
    backoff = _backoff(state, did, u)
    if backoff > 0:
        if backoff >= remaining:
            return _fail(state, _deadline_reason(policy))  # waiting would cross it
        return Wait(deployment=did, seconds=backoff)
    return _prepare(state, did, None)


def _prepare(state: RequestState, did: str, pending: Pending | None) -> Reserve | Admit:
    """Reserve the candidate's quota if that is still to do, else ask health."""
    if state.settings.quota and (pending is None or not pending.reserved):
        model, endpoint = split_deployment(did)
        settings = state.settings
        max_tokens = state.request.max_tokens or settings.max_tokens.get(model)
        return Reserve(
            deployment=did,
            model=model,
            endpoint=endpoint,
            reservation_id=f"{state.request_id}#{state.reservations + 1}",
            estimated_tokens=estimate_tokens(
                state.prompt_chars, max_tokens, settings.default_completion
            ),
        )
    return Admit(deployment=did, reservation=pending.reservation if pending else None)


def _refill(state: RequestState) -> Step:
    """The pass is over: fall back, else another pass, else stop."""
    model = state.model
    assert model is not None
    rest = state.chain[state.chain.index(model) + 1 :]
    if rest and not state.replanned:
        reason, detail = _why_leave(state, model)
        return Replan(rest=rest, from_model=model, reason=reason, detail=detail)
    if state.refused is not None:
        return _fail(state, f"the quota is used up: {state.refused}")  # a pass would too
    if state.repeat and state.attempts == state.pass_start:
        return _fail(state)  # a whole pass admitted nothing: another would not either
    if not any(d not in state.dead for d in state.group):
        return _fail(state)
    return Repeat()


def _why_leave(state: RequestState, model: str) -> tuple[str, str]:
    """``FallbackSwitched``'s reason and detail for leaving ``model``."""
    if state.refused is not None:
        return "quota", str(state.refused)
    tried = [r for r in state.records if r.model == model]
    if tried:
        return "failure", f"{len(tried)} attempt(s) failed (last: {tried[-1].failure})"
    return "unavailable", "no deployment could be used"


def _backoff(state: RequestState, did: str, u: float) -> float:
    """Seconds to wait before retrying ``did``; 0 for a deployment not tried yet."""
    tries = state.tries.get(did, 0)
    if tries == 0:
        return 0.0
    policy = state.settings.policy
    jitter = min(max(u, 0.0), _BELOW_ONE)
    delay = backoff_delay(tries - 1, policy.backoff_base, policy.backoff_cap, jitter)
    asked = state.retry_after.get(did)
    return max(delay, asked) if asked is not None else delay


def _deadline_reason(policy: RetryPolicy) -> str:
    return f"the request deadline of {policy.request_deadline:g} s passed"


def _fail(state: RequestState, reason: str | None = None) -> Finish:
    """End the walk without a reply: the error says why."""
    if state.quota_refusals and not state.records:
        return Finish(error=exhausted(state.request_id, list(state.quota_refusals)))
    return Finish(
        error=AllCandidatesFailed(
            state.request_id, state.records, state.skipped, reason=reason or state.stop_reason
        )
    )


def exhausted(request_id: str, refusals: list[QuotaExceeded]) -> QuotaExceeded:
    """One error for a request every model of which was refused (``refusals`` non-empty).

    It carries the first refusal's numbers (the limit that matters first: global,
    role, then model) and lists every refusal in its message and ``refusals``.
    """
    first = refusals[0]
    if len(refusals) == 1:
        listing = str(first)
    else:
        listing = "every model of the chain is out of quota: " + " | ".join(
            str(r) for r in refusals
        )
    return QuotaExceeded(
        f"request {request_id}: {listing}",
        limit=first.limit,
        used=first.used,
        limit_value=first.limit_value,
        requested=first.requested,
        resets_at=first.resets_at,
        refusals=tuple(refusals),
    )


# --- on_outcome ----------------------------------------------------------------------

Fold = tuple[RequestState, tuple[Event, ...]]


def on_outcome(state: RequestState, outcome: Outcome) -> Fold:
    """Apply what happened; returns the new state and the events to record, in order."""
    handle = _ON.get(type(outcome))
    if handle is None:
        raise TypeError(f"not an outcome: {outcome!r}")
    return handle(state, outcome)


def _on_done(state: RequestState, outcome: Done) -> Fold:
    match outcome.step:
        case PassOver() as step:
            return _passed_over(state, step, outcome.at)
        case Repeat():
            queue = tuple(d for d in state.group if d not in state.dead)
            new = _replace(
                state, queue=queue, pass_start=state.attempts, repeat=True, replanned=False
            )
            return new, ()
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


def _enter(state: RequestState, model: str, deployments: tuple[str, ...]) -> RequestState:
    return _replace(
        state,
        model=model,
        group=deployments,
        queue=deployments,
        pass_start=state.attempts,
        repeat=False,
        replanned=False,
        refused=None,
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
    if step.stop_reason == _BUDGET_STOP:
        new = _replace(new, budget_refusals=new.budget_refusals + 1)
    return _skip(new, step.deployment, step.reason, step.detail, at)


def _replanned(state: RequestState, outcome: Replanned) -> Fold:
    if outcome.plan.empty:
        return _replace(state, replanned=True), ()
    target = outcome.plan.groups[0]
    return _enter(state, target.model, target.deployments), outcome.events


def _quota_refused(state: RequestState, outcome: QuotaRefused) -> Fold:
    step, error = outcome.step, outcome.error
    changes = _taken(state, step.deployment) if state.pending is None else {}
    new = _replace(
        state,
        **changes | {"pending": None},
        reservations=state.reservations + 1,
        quota_refusals=(*state.quota_refusals, error),
    )
    new, events = _skip(new, step.deployment, "quota", str(error), outcome.at)
    if not state.settings.quota_fallback:
        new, final = _failed(_replace(new, error=error), error, outcome.at, outcome.now)
        return new, (*events, *final)
    # Limits are per model, role or overall, never per endpoint: no other deployment
    # of this model would be admitted either.
    return _replace(new, refused=error, queue=()), events


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


def _succeeded(state: RequestState, outcome: Succeeded) -> Fold:
    target = outcome.step.target
    usage = outcome.usage
    succeeded = AttemptSucceeded(
        request_id=state.request_id,
        at=outcome.at,
        attempt=target.attempt,
        deployment=target.deployment,
        latency_s=outcome.latency_s,
        ttft_s=outcome.ttft_s,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        tokens_per_s=outcome.tokens_per_s,
        completion_chars=outcome.chars,
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
    )  # fmt: skip
    record = _record(target, latency_s=outcome.latency_s, error=exc, status=exc.status)
    records = (*state.records, record)
    new = _replace(state, target=None, records=records)
    if retry_after is not None:
        new = _replace(new, retry_after={**new.retry_after, did: retry_after})
    if exc.retryable:
        return new, (event,)
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
    error = StreamInterrupted(
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


_ON: dict[type, Callable[[RequestState, Any], Fold]] = {
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


# --- what the driver reports to the other actors --------------------------------------


def health_report(state: RequestState, outcome: Succeeded | Failed) -> RecordOutcome:
    """The outcome health counts for an attempt (an interrupted stream is never
    "permanent": it was serving a moment ago)."""
    if isinstance(outcome, Succeeded):
        return _OK
    failure = outcome.error.failure
    return RecordOutcome(
        ok=False,
        failure=failure.value,
        weight=failure.health_weight,
        permanent=failure.permanent and not state.delivered,
        message=outcome.error.message,
    )


_OK = RecordOutcome(ok=True)
