"""Deciding the quota ledger: the commands, ``decide``, ``would_admit``, ``estimate_tokens``.

The state and its fold live in ``_state``, the policy in ``_limits``, period maths in
``_period``. Pure: wall-clock time comes in as ``now``; nothing here performs I/O.

Periods only move forward. Every command that changes something first compares the
period key of ``now`` with the ledger's: if it is *later*, one ``QuotaPeriodStarted``
for the period of ``now`` is emitted (a jump over several days starts one new period; the
missing days are not replayed); if it is earlier (the clock was stepped back) the ledger
keeps its period, so a reset is never done twice. The shell is expected to pass the same
kind of ``now`` to every call.

Rate limits: a ``Reserve`` with an endpoint whose deployment is rate limited must also
fit in its per-minute buckets (``_rate``), else ``RateLimited`` (checked after the daily
limits, which another deployment cannot fix).

Admission: a ``Reserve`` is checked against every limit of its scopes with the usage
*settled* in the period plus every *outstanding* reservation plus its own estimate.
Because in-flight requests are counted before they finish, concurrent requests cannot
overshoot a limit together: with exact estimates never, otherwise by at most the sum of
their underestimates. A request settled above its estimate may leave a limit exceeded
(it already ran); the next ``Reserve`` is then refused.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from actors._ask import Ask
from actors.quota._counting import MAX_REPORTED_TOKENS, clamp_tokens
from actors.quota._errors import QuotaExceeded
from actors.quota._limits import QuotaLimits, Unit, limit_name
from actors.quota._period import format_reset, next_reset, period_key
from actors.quota._rate import rate_limited, rate_refusal
from actors.quota._replies import ReserveReply
from actors.quota._state import LedgerState, evolve
from events._base import Event
from events._quota import (
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
)

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "MAX_REPORTED_TOKENS",
    "QuotaCommand",
    "Release",
    "Reserve",
    "Settle",
    "current",
    "decide",
    "estimate_tokens",
    "settled_tokens",
    "would_admit",
]

DEFAULT_COMPLETION_TOKENS = 1024
"""Completion tokens reserved for a request that sets no ``max_tokens`` (nor its model)."""
_EPSILON = 1e-9
"""Slack for comparing ``used / limit`` with a decimal warn ratio."""


class Reserve(Ask[ReserveReply], frozen=True, kw_only=True):
    """Admit a request and hold its estimated usage; ``decide`` raises ``QuotaExceeded``
    if not (the actor answers ``Refused``)."""

    reservation_id: str
    """Unique per attempt; an id already outstanding makes this a no-op (a retry)."""
    request_id: str
    model: str
    """Canonical model name (the ``per_model`` key)."""
    role: str | None = None
    estimated_tokens: int = 0
    """Upper estimate of prompt plus completion tokens (see ``estimate_tokens``)."""
    endpoint: str | None = None


class Settle(Ask[None], frozen=True, kw_only=True):
    """The request finished (even partially, e.g. a broken stream): charge what it used.

    Reported counts are clamped to ``[0, MAX_REPORTED_TOKENS]``. A missing count (``None``)
    cannot be known: with both missing the estimate is charged; with one missing, the
    larger of the estimate and the known part (failing closed: the missing part may have
    been large). An unknown reservation id is a no-op (already settled or released).
    """

    reservation_id: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    endpoint: str | None = None


class Release(Ask[None], frozen=True, kw_only=True):
    """The request failed or was cancelled before using anything: it consumes nothing.

    An unknown reservation id is a no-op. A request that produced output before failing
    used tokens and should be settled instead.
    """

    reservation_id: str
    reason: str = ""


QuotaCommand = Reserve | Settle | Release
"""Every command ``decide`` accepts."""


class _Refusal(NamedTuple):
    scope: str
    unit: Unit
    used: int
    limit_value: int
    requested: int


def decide(
    state: LedgerState, command: QuotaCommand, limits: QuotaLimits, now: float
) -> tuple[Event, ...]:
    """Decide what happened in response to ``command``; pure.

    Args:
        state: The ledger.
        command: What to decide on.
        limits: The policy in force.
        now: Wall-clock epoch seconds.

    Returns:
        The events to append and apply, in order (possibly none): a period start if the
        period moved forward, then the command's event, then first-time warnings.

    Raises:
        QuotaExceeded: ``Reserve`` would exceed a limit (see ``would_admit``).
    """
    match command:
        case Reserve():
            return _on_reserve(state, command, limits, now)
        case Settle() | Release() if command.reservation_id not in state.reservations:
            return ()
        case Settle():
            return _on_settle(state, command, limits, now)
        case Release():
            _, started = current(state, limits, now)
            released = QuotaReleased(
                at=now, reservation_id=command.reservation_id, reason=command.reason
            )
            return (*started, released)
        case _:
            raise TypeError(f"not a quota command: {command!r}")


def current(
    state: LedgerState, limits: QuotaLimits, now: float
) -> tuple[LedgerState, tuple[Event, ...]]:
    """The ledger as of ``now``: rolled into a later period if one began.

    Returns:
        The (possibly rolled) state and the ``QuotaPeriodStarted`` that rolled it, or the
        state unchanged and ``()`` when ``now`` is in the same or an earlier period.
    """
    zone = limits.zone
    key = period_key(now, zone, limits.reset_hour)
    # ISO dates sort as strings; "" (no period yet) sorts before any.
    if key <= state.period:
        return state, ()
    started = QuotaPeriodStarted(
        at=now,
        period=key,
        resets_at=next_reset(now, zone, limits.reset_hour),
        previous=state.period,
    )
    return evolve(state, started), (started,)


def would_admit(
    state: LedgerState,
    limits: QuotaLimits,
    model: str,
    role: str | None,
    estimated_tokens: int,
    now: float,
) -> str | None:
    """The name of the limit that would refuse this request now, or ``None`` if admitted.

    The router's filter ("skip a fallback without quota"); pure, same check as ``Reserve``.
    """
    rolled, _ = current(state, limits, now)
    refusal = _refusal(rolled, limits, model, role, clamp_tokens(estimated_tokens))
    return None if refusal is None else limit_name(refusal.scope, refusal.unit)


def estimate_tokens(prompt_chars: int, max_tokens: int | None, default_max: int) -> int:
    """An upper estimate of a request's tokens, reserved before it runs.

    Formula: ``ceil(prompt_chars / 4) + (max_tokens or default_max)``. Four characters
    per token is the usual average of BPE tokenizers on English text and code; the
    completion part is its ceiling, so the total usually *over*-estimates and settling
    refunds the difference. Text with fewer characters per token (e.g. CJK) is
    underestimated; the overshoot of a limit is bounded by such underestimates.

    Args:
        prompt_chars: Characters in all the messages' contents.
        max_tokens: The request's completion limit, if it set one.
        default_max: The completion ceiling assumed when it did not.

    Returns:
        The estimate, ``>= 0``.
    """
    completion = default_max if max_tokens is None else max_tokens
    return math.ceil(max(prompt_chars, 0) / 4) + max(completion, 0)


def settled_tokens(
    estimate: int, prompt: int | None, completion: int | None
) -> tuple[int | None, int | None, int]:
    """``(prompt, completion, charged)`` for a settle: clamped parts and the tokens charged.

    See ``Settle`` for the rules on missing and absurd counts.
    """
    prompt = None if prompt is None else clamp_tokens(prompt)
    completion = None if completion is None else clamp_tokens(completion)
    if prompt is None and completion is None:
        return None, None, estimate
    known = (prompt or 0) + (completion or 0)
    if prompt is None or completion is None:
        return prompt, completion, max(estimate, known)
    return prompt, completion, known


def _on_reserve(
    state: LedgerState, command: Reserve, limits: QuotaLimits, now: float
) -> tuple[Event, ...]:
    rolled, started = current(state, limits, now)
    if command.reservation_id in rolled.reservations:
        return started
    tokens = clamp_tokens(command.estimated_tokens)
    refusal = _refusal(rolled, limits, command.model, command.role, tokens)
    if refusal is not None:
        raise _exceeded(rolled, limits, command, refusal, now, started)
    rate = limits.rate_for(command.model, command.endpoint)
    if rate is not None:
        did = f"{command.model}@{command.endpoint}"
        limited = rate_refusal(rolled.buckets.get(did), rate, tokens, now)
        if limited is not None:
            raise rate_limited(
                did, limited, request_id=command.request_id, model=command.model,
                role=command.role, tokens=tokens, period=rolled.period, now=now,
                started=started,
            )  # fmt: skip
    reserved = QuotaReserved(
        at=now,
        reservation_id=command.reservation_id,
        request_id=command.request_id,
        model=command.model,
        role=command.role,
        endpoint=command.endpoint,
        requests=1,
        tokens=tokens,
        period=rolled.period,
        rpm=None if rate is None else rate.rpm,
        tpm=None if rate is None else rate.tpm,
    )
    after = evolve(rolled, reserved)
    return (*started, reserved, *_warnings(after, limits, command.model, command.role, now))


def _on_settle(
    state: LedgerState, command: Settle, limits: QuotaLimits, now: float
) -> tuple[Event, ...]:
    rolled, started = current(state, limits, now)
    reservation = rolled.reservations[command.reservation_id]
    prompt, completion, charged = settled_tokens(
        reservation.tokens, command.prompt_tokens, command.completion_tokens
    )
    settled = QuotaSettled(
        at=now,
        reservation_id=command.reservation_id,
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens=charged,
        endpoint=command.endpoint or reservation.endpoint,
    )
    after = evolve(rolled, settled)
    return (*started, settled, *_warnings(after, limits, reservation.model, reservation.role, now))


def _refusal(
    state: LedgerState, limits: QuotaLimits, model: str, role: str | None, tokens: int
) -> _Refusal | None:
    """The first limit (global, role, model) the request does not fit in, if any."""
    for scope, unit, value in limits.applicable(model, role):
        used = state.committed(scope).get(unit)
        need = 1 if unit == "requests" else tokens
        # ``used >= value`` also refuses a zero-token estimate once the tokens are gone.
        if used + need > value or used >= value:
            return _Refusal(scope, unit, used, value, need)
    return None


def _warnings(
    state: LedgerState, limits: QuotaLimits, model: str, role: str | None, now: float
) -> tuple[QuotaWarningIssued, ...]:
    """A warning for each limit of the request's scopes at or over the ratio, first time."""
    issued = []
    for scope, unit, value in limits.applicable(model, role):
        name = limit_name(scope, unit)
        used = state.committed(scope).get(unit)
        ratio = used / value
        if name not in state.warned and ratio >= limits.warn_ratio - _EPSILON:
            issued.append(
                QuotaWarningIssued(
                    at=now,
                    limit=name,
                    used=used,
                    limit_value=value,
                    ratio=ratio,
                    period=state.period,
                )
            )
    return tuple(issued)


def _exceeded(
    state: LedgerState,
    limits: QuotaLimits,
    command: Reserve,
    refusal: _Refusal,
    now: float,
    started: tuple[Event, ...],
) -> QuotaExceeded:
    name = limit_name(refusal.scope, refusal.unit)
    record = QuotaExceededRecorded(
        at=now,
        limit=name,
        used=refusal.used,
        limit_value=refusal.limit_value,
        requested=refusal.requested,
        request_id=command.request_id,
        model=command.model,
        role=command.role,
        period=state.period,
        resets_at=state.resets_at,
    )
    return QuotaExceeded(
        _message(state, limits, refusal, now),
        limit=name,
        used=refusal.used,
        limit_value=refusal.limit_value,
        requested=refusal.requested,
        resets_at=state.resets_at,
        events=(*started, record),
    )


def _message(state: LedgerState, limits: QuotaLimits, refusal: _Refusal, now: float) -> str:
    unit = "token" if refusal.unit == "tokens" else "request"
    kind, _, owner = refusal.scope.partition(":")
    what = f"daily {unit} quota" + (f" for {kind} {owner!r}" if owner else "")
    state_word = "exhausted" if refusal.used >= refusal.limit_value else "would be exceeded"
    text = f"{what} {state_word}: {refusal.used:,} of {refusal.limit_value:,} used"
    in_flight = state.reserved(refusal.scope).get(refusal.unit)
    if in_flight:
        text += f" (incl. {in_flight:,} reserved by requests in flight)"
    if refusal.unit == "tokens" and refusal.requested:
        text += f", this request needs up to {refusal.requested:,}"
    reset = format_reset(state.resets_at, limits.zone, limits.timezone, now)
    return f"{text}; resets at {reset}; wait for the reset or raise the limit"
