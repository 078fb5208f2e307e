"""A request's quota reservation (a shell step of the driver)."""

from __future__ import annotations

import asyncio
import functools

from actors._clock import Clock
from actors._ref import ActorRef
from actors.quota import QuotaMessage, QuotaUnavailable, Refused, Release
from actors.quota import Reserve as ReserveQuota
from actors.router._run import Refs, RunningRequest, ask
from actors.router._steps import Outcome, QuotaRefused, Reserve, Reserved
from actors.router._steps import QuotaUnavailable as QuotaFailed
from events import ConcurrencyConflict

__all__ = ["reserve"]


_CONFLICTS = 1_000
"""Reservations overtaken by other runtimes' commits, in a row, before giving up (each
one means another runtime's reservation committed: progress, so this is a backstop)."""


async def reserve(refs: Refs, clock: Clock, run: RunningRequest, step: Reserve) -> Outcome:
    """Reserve the step's quota: committed to the log before the call (quotas fail
    closed); a reservation whose caller gave up is given back once it is in the log.
    One that another runtime's commit overtook is decided again on the new ledger."""
    for _ in range(_CONFLICTS):
        outcome = await _reserve_once(refs, clock, run, step)
        if outcome is not None:
            return outcome
    error = QuotaUnavailable(
        f"quota reservation for model {step.model!r} was overtaken by other runtimes' "
        f"reservations {_CONFLICTS} times in a row; the request was refused (quotas fail "
        "closed) — the shared ledger is too contended"
    )
    return QuotaFailed(step=step, at=clock.time(), now=clock.monotonic(), error=error)


async def _reserve_once(
    refs: Refs, clock: Clock, run: RunningRequest, step: Reserve
) -> Outcome | None:
    """One try; None when another runtime's reservation went first (try again)."""
    quota = refs.quota
    assert quota is not None  # the machine reserves only with a quota actor
    answer = await ask(
        quota,
        ReserveQuota(
            reservation_id=step.reservation_id, request_id=run.id, model=step.model,
            role=run.request.role, endpoint=step.endpoint,
            estimated_tokens=step.estimated_tokens,
        ),
    )  # fmt: skip
    if isinstance(answer, Refused):
        return QuotaRefused(step=step, at=clock.time(), now=clock.monotonic(), error=answer.error)
    if answer.commit is not None:
        commit = asyncio.ensure_future(answer.commit)
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            # Give it back once it is known to be in the log (undone if it is not).
            commit.add_done_callback(functools.partial(_release_later, quota, step))
            raise
        except ConcurrencyConflict:
            return None  # undone by the quota actor, which folded what went first
        except Exception as exc:
            error = QuotaUnavailable(
                f"quota reservation for model {step.model!r} could not be recorded "
                f"({type(exc).__name__}: {exc}); the request was refused because quotas "
                "fail closed — check the event log (disk full? read-only?)"
            )
            error.__cause__ = exc
            return QuotaFailed(step=step, at=clock.time(), now=clock.monotonic(), error=error)
    return Reserved(step=step, at=clock.time(), now=clock.monotonic())


def _release_later(
    quota: ActorRef[QuotaMessage], step: Reserve, commit: asyncio.Future[None]
) -> None:
    if not commit.cancelled() and commit.exception() is None:
        quota.notify(Release(reservation_id=step.reservation_id, reason="cancelled"))
