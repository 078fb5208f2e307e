"""Rebuilding one request from the log: its plan, every step in time order, its outcome.

Input: the events of stream ``request/<id>`` (``RequestStarted``, ``CandidateSkipped``,
``AttemptStarted``, ``AttemptSucceeded``/``AttemptFailed``/``StreamInterrupted``,
``FallbackSwitched``, ``RequestSucceeded``/``RequestFailed``/``RequestCancelled``) and,
optionally, the health status changes of the deployments involved. Output: an
``Explanation`` — plain frozen data that ``_explain_render`` turns into text and
``--json`` prints as is.

Times come from each event's own ``at`` (the runtime's wall clock when it happened), not
from the log's commit time: a request's events are committed together when it ends, so
only ``at`` orders and spaces them. Health changes are merged in by ``at``: one that
happened while the request ran (e.g. the quarantine its own failure caused) becomes a
step; the latest quarantine before a "skipped: quarantined" step supplies its deadline.

Only the deployments the request **reached** count: those it attempted or skipped. A
candidate further down the plan that it never got to (an earlier one answered) did not
shape it, so its health changes are left out (``Explanation.unreached_changes`` counts
the ones that fell inside the request's time span; ``timeline`` shows them).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import msgspec

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentQuarantined,
    Event,
    FallbackSwitched,
    HealthEvent,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    RoutingEvent,
    StoredEvent,
    StreamInterrupted,
    split_deployment,
)
from runtime.inspect._explain_text import (
    attempt_result,
    attempt_text,
    fallback_text,
    finished_text,
    health_text,
    skip_text,
    summarize,
)
from runtime.inspect._explain_types import Candidate, Explanation, Outcome, Step
from runtime.inspect._when import clock_time

__all__ = ["explain", "reached_deployments", "request_id_of"]

_Result = AttemptSucceeded | AttemptFailed | StreamInterrupted


def request_id_of(events: Sequence[StoredEvent]) -> str | None:
    """The request id of the first routing event in ``events``, if any."""
    for stored in events:
        if isinstance(stored.event, RoutingEvent):
            return stored.event.request_id
    return None


def explain(events: Sequence[StoredEvent], health: Sequence[StoredEvent] = ()) -> Explanation:
    """Reconstruct the request whose stream is ``events``.

    Args:
        events: The request's stream, in order; must start with ``RequestStarted``.
        health: Health status changes of the involved deployments, up to the request's
            end (events outside that are ignored but for quarantine deadlines).

    Raises:
        ValueError: ``events`` holds no ``RequestStarted``.
    """
    routing = [s.event for s in events if isinstance(s.event, RoutingEvent)]
    started = next((e for e in routing if isinstance(e, RequestStarted)), None)
    if started is None:
        raise ValueError("the events hold no RequestStarted: not a request stream")
    reached = reached_deployments(routing)
    every = [s.event for s in health if isinstance(s.event, HealthEvent)]
    changes = [c for c in every if c.deployment in reached]
    steps = _request_steps(routing, started.at, changes)
    end = steps[-1].at if steps else started.at
    outcome = _outcome(routing)
    merged = _merge(steps, _health_steps(changes, started.at, end))
    others = [c for c in every if c.deployment not in reached]
    attempts = sum(1 for e in routing if isinstance(e, AttemptStarted))
    fallbacks = sum(1 for e in routing if isinstance(e, FallbackSwitched))
    return Explanation(
        request_id=started.request_id,
        role=started.role,
        model=started.model,
        kind=started.kind,
        stream=started.stream,
        operation=started.operation,
        started_at=started.at,
        prompt_chars=started.prompt_chars,
        messages=started.messages,
        chain=started.chain,
        candidates=_candidates(started.candidates, started.weights),
        steps=merged,
        outcome=outcome,
        attempts=attempts,
        fallbacks=fallbacks,
        summary=summarize(routing, outcome),
        prompt=started.prompt,
        reply=next((e.content for e in routing if isinstance(e, RequestSucceeded)), None),
        unreached_changes=len(_health_steps(others, started.at, end)),
    )


def reached_deployments(routing: Sequence[Event]) -> frozenset[str]:
    """The deployments a request attempted or skipped (of its routing events)."""
    return frozenset(
        e.deployment for e in routing if isinstance(e, AttemptStarted | CandidateSkipped)
    )


def _candidates(dids: tuple[str, ...], weights: tuple[float, ...]) -> tuple[Candidate, ...]:
    out = []
    for i, did in enumerate(dids):
        model, endpoint = _split(did)
        weight = weights[i] if i < len(weights) and weights[i] > 0 else None
        out.append(Candidate(deployment=did, model=model, endpoint=endpoint, weight=weight))
    return tuple(out)


def _split(did: str) -> tuple[str, str]:
    try:
        return split_deployment(did)
    except ValueError:
        return did, ""


def _data(*events: Event) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for event in events:
        data.update(msgspec.structs.asdict(event))
    data.pop("request_id", None)
    data.pop("at", None)
    return data


def _request_steps(
    routing: Sequence[RoutingEvent], start: float, changes: Sequence[HealthEvent]
) -> list[Step]:
    steps: list[Step] = []
    pending: AttemptStarted | None = None
    for event in routing:
        if pending is not None and _ends_attempt(event, pending):
            steps.append(_attempt_step(pending, event, start))
            pending = None
            continue
        if pending is not None:  # an attempt without its result (the process died)
            steps.append(_attempt_step(pending, None, start))
            pending = None
        if isinstance(event, AttemptStarted):
            pending = event
        elif (step := _other_step(event, start, changes)) is not None:
            steps.append(step)
    if pending is not None:
        steps.append(_attempt_step(pending, None, start))
    return steps


def _ends_attempt(event: RoutingEvent, pending: AttemptStarted) -> TypeGuard[_Result]:
    """Whether ``event`` is the result of the attempt ``pending``."""
    if not isinstance(event, AttemptSucceeded | AttemptFailed | StreamInterrupted):
        return False
    # StreamInterrupted of logs older than its ``attempt`` field says 0.
    return event.deployment == pending.deployment and event.attempt in (0, pending.attempt)


def _attempt_step(
    begun: AttemptStarted,
    result: _Result | None,
    start: float,
) -> Step:
    headline, details, tone = attempt_result(result)
    names = (type(begun).__name__,) + ((type(result).__name__,) if result else ())
    return Step(
        kind="attempt",
        at=begun.at,
        offset_s=begun.at - start,
        ended_at=result.at if result is not None else None,
        text=f"{attempt_text(begun)}: {headline}",
        details=details,
        tone=tone,
        deployment=begun.deployment,
        events=names,
        data=_data(begun, result) if result is not None else _data(begun),
    )


def _other_step(event: RoutingEvent, start: float, changes: Sequence[HealthEvent]) -> Step | None:
    did: str | None
    match event:
        case CandidateSkipped():
            until = _quarantine_until(changes, event.deployment, event.at)
            text, details = skip_text(event, clock_time(until) if until else None)
            kind, tone, did = "skipped", "warn", event.deployment
        case FallbackSwitched():
            text, details = fallback_text(event)
            kind, tone, did = "fallback", "warn", None
        case RequestSucceeded() | RequestFailed() | RequestCancelled():
            text, details, tone = finished_text(event)
            kind = "finished"
            did = event.deployment if isinstance(event, RequestSucceeded) else None
        case _:
            return None
    return Step(
        kind=kind,
        at=event.at,
        offset_s=event.at - start,
        text=text,
        details=details,
        tone=tone,
        deployment=did,
        events=(type(event).__name__,),
        data=_data(event),
    )


def _quarantine_until(changes: Sequence[HealthEvent], did: str, at: float) -> float | None:
    """The deadline of the latest quarantine of ``did`` decided at or before ``at``."""
    until = None
    for change in changes:
        if (
            change.deployment == did
            and change.at <= at
            and isinstance(change, DeploymentQuarantined)
        ):
            until = change.until
    return until


def _health_steps(changes: Sequence[HealthEvent], start: float, end: float) -> list[Step]:
    steps = []
    for change in changes:
        if not start <= change.at <= end:
            continue
        text, tone = health_text(change)
        if not text:
            continue
        steps.append(
            Step(
                kind="health",
                at=change.at,
                offset_s=change.at - start,
                text=text,
                tone=tone,
                deployment=change.deployment,
                events=(type(change).__name__,),
                data=_data(change),
            )
        )
    return sorted(steps, key=lambda s: s.at)


def _merge(steps: list[Step], health: list[Step]) -> tuple[Step, ...]:
    """Request steps keep their order; each health step goes where it belongs in time.

    That is before the first request step at or after it, but never before the latest
    attempt on the same deployment that had ended by then (the attempt whose outcome it
    records): the runtime's clock may give both the same reading, and then only this
    rule keeps cause before effect.
    """
    slots: dict[int, list[Step]] = {}
    for change in health:
        slots.setdefault(_slot(steps, change), []).append(change)
    merged: list[Step] = []
    for index, step in enumerate(steps):
        merged += slots.get(index, [])
        merged.append(step)
    merged += slots.get(len(steps), [])
    return tuple(merged)


def _slot(steps: list[Step], change: Step) -> int:
    """The index of the request step ``change`` goes before (``len(steps)``: the end)."""
    by_time = next((i for i, s in enumerate(steps) if s.at >= change.at), len(steps))
    after_cause = 0
    for i, step in enumerate(steps):
        ended = step.ended_at
        if step.deployment == change.deployment and ended is not None and ended <= change.at:
            after_cause = i + 1
    return max(by_time, after_cause)


def _outcome(routing: Sequence[RoutingEvent]) -> Outcome:
    attempts = sum(1 for e in routing if isinstance(e, AttemptStarted))
    broken = next((e for e in routing if isinstance(e, StreamInterrupted)), None)
    failures = [e.failure for e in routing if isinstance(e, AttemptFailed | StreamInterrupted)]
    last_failure = failures[-1] if failures else None
    for event in reversed(routing):
        match event:
            case RequestSucceeded():
                return Outcome(
                    status="succeeded",
                    attempts=event.attempts,
                    deployment=event.deployment,
                    latency_s=event.latency_s,
                    failure=last_failure,
                )
            case RequestFailed():
                return Outcome(
                    status="interrupted" if broken is not None else "failed",
                    attempts=event.attempts,
                    deployment=broken.deployment if broken is not None else None,
                    latency_s=event.latency_s,
                    error=event.error,
                    error_type=event.error_type,
                    failure=event.failure or last_failure,
                    partial_chars=broken.partial_chars if broken is not None else 0,
                )
            case RequestCancelled():
                return Outcome(
                    status="cancelled",
                    attempts=event.attempts,
                    latency_s=event.latency_s,
                    failure=last_failure,
                    partial_chars=event.partial_chars,
                )
    return Outcome(status="unfinished", attempts=attempts, failure=last_failure)
