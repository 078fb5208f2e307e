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
   reservation that cannot be recorded fails the request (quotas fail closed). A
   deployment over its per-minute rate (``RateLimited``) is skipped (``rate_limited``)
   and the next deployment tried; when a pass admitted nothing and some were rate
   limited, the request waits for the soonest refill (at most ``rate_wait`` in all,
   within the deadline) and makes another pass, else fails with ``RateLimited``.
7. **Health at attempt time.** A deployment is re-checked just before its call
   (``Admit``); one quarantined since planning is passed over (``CandidateSkipped``).
8. **Outcomes.** A retryable failure moves on; a deployment that cannot succeed for
   this request (model missing, auth) is ruled out; a failure caused by the request
   itself ends it at once with ``RequestRejected``, except a context overflow: the
   walk goes on to a deployment with a larger (or unknown) window, and ends with
   ``RequestRejected`` only when nothing of the chain fits (``_windows``).
9. **Streams fall back only before the first chunk.** Once text reached the caller
   (``Delivered``) a failure ends the request with ``StreamBroken`` carrying the
   partial text.

Pure: no asyncio, clocks or randomness — time comes in as ``now``/``at``, the jitter
draw as ``u``.
"""

from __future__ import annotations

import hashlib

import msgspec

from actors._backoff import backoff_delay
from actors.endpoint import Message
from actors.health import RecordOutcome
from actors.quota import QuotaExceeded, RateLimited, estimate_tokens
from actors.router._errors import (
    AllCandidatesFailed,
    NoCandidates,
    RequestRejected,
)
from actors.router._messages import RetryView
from actors.router._outcomes import HANDLERS, Fold
from actors.router._retry import effective_retry_after
from actors.router._select import Plan
from actors.router._state import BUDGET_STOP, MachineSettings, Pending, RequestState
from actors.router._steps import (
    Admit,
    Attempt,
    Failed,
    Finish,
    Outcome,
    PassOver,
    Repeat,
    Replan,
    Reserve,
    Step,
    Succeeded,
    Wait,
)
from actors.router._types import RetryPolicy, RouteRequest
from actors.router._windows import CONTEXT_WINDOW, nothing_fits, ruled_out_by_overflow
from events import (
    split_deployment,
)

__all__ = [
    "MachineSettings",
    "Pending",
    "RequestState",
    "exhausted",
    "health_report",
    "next_step",
    "on_outcome",
    "prompt_chars",
    "prompt_hash",
    "start",
]


def start(
    request: RouteRequest,
    request_id: str,
    planned: Plan,
    *,
    settings: MachineSettings,
    stream: bool,
    now: float,
    windows: dict[str, int] | None = None,
) -> RequestState:
    """The state of a request just planned (its ``RequestStarted`` is the router's);
    ``windows``: deployment id -> its context window for this request, where known."""
    first = planned.groups[0] if planned.groups else None
    state = RequestState(
        request_id=request_id,
        request=request,
        settings=settings,
        stream=stream,
        started=now,
        chain=planned.chain,
        prompt_chars=prompt_chars(request),
        skipped=planned.skipped,
        model=first.model if first else None,
        group=first.deployments if first else (),
        queue=first.deployments if first else (),
        windows=windows or {},
    )
    if first is None:
        error = _too_long(state) or NoCandidates(request_id, planned.skipped)
        state = msgspec.structs.replace(state, error=error)
    return state


def prompt_chars(request: RouteRequest) -> int:
    """Characters of the request's text: every message's (images left out) and every
    input to embed."""
    chars = 0
    for message in request.messages:
        chars += len(message.text)
    for text in request.inputs:
        chars += len(text)
    return chars


def prompt_hash(messages: tuple[Message, ...], inputs: tuple[str, ...] = ()) -> str:
    """A short digest of the conversation or the inputs (logged instead of them)."""
    parts: list[bytes] = []  # hashed at once: the same digest as one update per part
    add = parts.append
    for message in messages:
        add(message.role.encode())
        add(b"\x00")
        content = message.content
        add(content.encode() if isinstance(content, str) else msgspec.json.encode(content))
        for call in message.tool_calls:
            add(msgspec.json.encode(call))
        add(b"\x01")
    for text in inputs:
        add(text.encode())
        add(b"\x02")
    return hashlib.blake2b(b"".join(parts), digest_size=8).hexdigest()


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
        return _refill(state, now)
    did = state.queue[0]
    if did in state.dead:
        return PassOver(deployment=did)
    if state.overflowed and (why := ruled_out_by_overflow(did, state.overflowed, state.windows)):
        return PassOver(deployment=did, reason=CONTEXT_WINDOW, detail=why)
    if state.attempts > 0 and did in view.exhausted:
        return PassOver(
            deployment=did,
            reason="unavailable",
            detail="retry budget exhausted",
            stop_reason=BUDGET_STOP,
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
        request = state.request
        max_tokens = (
            0  # embeddings generate nothing
            if request.inputs
            else request.params.max_tokens or settings.max_tokens.get(model)
        )
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


def _refill(state: RequestState, now: float) -> Step:
    """The pass is over: fall back, else another pass, else stop."""
    model = state.model
    assert model is not None
    rest = state.chain[state.chain.index(model) + 1 :]
    if rest and not state.replanned:
        reason, detail = _why_leave(state, model)
        return Replan(rest=rest, from_model=model, reason=reason, detail=detail)
    if state.refused is not None:
        return _fail(state, f"the quota is used up: {state.refused}")  # a pass would too
    if state.rate_free and state.attempts == state.pass_start:
        # Every deployment tried in this pass was rate limited or not admitted: wait for
        # the soonest refill if the request may wait that long, else stop.
        seconds = max(min(state.rate_free.values()) - now, 0.0)
        allowed = state.settings.rate_wait - state.rate_waited
        if seconds <= allowed and now + seconds < state.deadline:
            return Repeat(seconds=seconds)
        return _fail(state, "every deployment is over its rate limit")
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
    jitter = min(max(u, 0.0), 1.0)
    delay = backoff_delay(tries - 1, policy.backoff_base, policy.backoff_cap, jitter)
    asked = state.retry_after.get(did)
    return max(delay, asked) if asked is not None else delay


def _deadline_reason(policy: RetryPolicy) -> str:
    return f"the request deadline of {policy.request_deadline:g} s passed"


def _fail(state: RequestState, reason: str | None = None) -> Finish:
    """End the walk without a reply: the error says why."""
    if reason is None and (too_long := _too_long(state)) is not None:
        return Finish(error=too_long)  # the walk is over, not cut short
    if state.quota_refusals and not state.records:
        return Finish(error=exhausted(state.request_id, list(state.quota_refusals)))
    return Finish(
        error=AllCandidatesFailed(
            state.request_id, state.records, state.skipped, reason=reason or state.stop_reason
        )
    )


def _too_long(state: RequestState) -> RequestRejected | None:
    settings = state.settings
    return nothing_fits(
        state.request_id, state.request, state.records, state.skipped, state.windows,
        settings.max_tokens,
    )  # fmt: skip


def exhausted(request_id: str, refusals: list[QuotaExceeded]) -> QuotaExceeded:
    """One error for a request every model of which was refused (``refusals`` non-empty).

    It carries the first refusal's numbers (the limit that matters first: global,
    role, then model) and lists every refusal in its message and ``refusals``.
    """
    if all(isinstance(r, RateLimited) for r in refusals):
        return _rate_exhausted(request_id, [r for r in refusals if isinstance(r, RateLimited)])
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


def _rate_exhausted(request_id: str, refusals: list[RateLimited]) -> RateLimited:
    """One ``RateLimited`` for a request every deployment of which was over its rate:
    the last refusal of each deployment, the numbers of the one that frees first."""
    latest = {r.deployment: r for r in refusals}
    soonest = min(latest.values(), key=lambda r: r.resets_at)
    listing = " | ".join(str(r) for r in latest.values())
    if len(latest) > 1:
        listing = f"every deployment is over its rate limit: {listing}"
    return RateLimited(
        f"request {request_id}: {listing}", deployment=soonest.deployment,
        retry_after=soonest.retry_after, limit=soonest.limit, used=soonest.used,
        limit_value=soonest.limit_value, requested=soonest.requested,
        resets_at=soonest.resets_at, refusals=tuple(latest.values()),
    )  # fmt: skip


# --- on_outcome ----------------------------------------------------------------------


def on_outcome(state: RequestState, outcome: Outcome) -> Fold:
    """Apply what happened; returns the new state and the events to record, in order."""
    handle = HANDLERS.get(type(outcome))
    if handle is None:
        raise TypeError(f"not an outcome: {outcome!r}")
    return handle(state, outcome)


# --- what the driver reports to the other actors --------------------------------------


def health_report(state: RequestState, outcome: Succeeded | Failed) -> RecordOutcome:
    """The outcome health counts for an attempt (an interrupted stream is never
    "permanent": it was serving a moment ago). A success carries its latency: the whole
    call, or a stream's time to its first chunk (a long answer is not a slow backend)."""
    if isinstance(outcome, Succeeded):
        latency = outcome.ttft_s if state.stream and outcome.ttft_s is not None else None
        return RecordOutcome(ok=True, latency=outcome.latency_s if latency is None else latency)
    failure = outcome.error.failure
    return RecordOutcome(
        ok=False,
        failure=failure.value,
        weight=failure.health_weight,
        permanent=failure.permanent and not state.delivered,
        message=outcome.error.message,
        retry_after=effective_retry_after(  # health's cool-down: what the router honours
            outcome.error.retry_after, state.settings.policy.retry_after_cap
        ),
        http_status=outcome.error.status,
    )
