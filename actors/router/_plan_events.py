"""The events that record a plan: ``RequestStarted`` or ``FallbackSwitched``, then the
skips that mattered. Folding them (``actors.router._select.evolve``) moves the cursors.

Pure: time comes in as ``at``.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.router._select import Plan, Skip
from events._base import Event
from events._routing import CandidateSkipped, FallbackSwitched, RequestStarted

__all__ = ["fallback_events", "started_events"]


def started_events(
    planned: Plan,
    *,
    request_id: str,
    at: float,
    role: str | None,
    model: str | None,
    kind: str | None,
    stream: bool,
    prompt_chars: int,
    prompt_hash: str,
    messages: int = 0,
    operation: str = "chat",
) -> tuple[Event, ...]:
    """The events that record a planned request: ``RequestStarted`` then the skips.

    Apply them (``evolve``) before awaiting anything, so that the next plan already
    sees the advanced cursor.
    """
    started = RequestStarted(
        request_id=request_id,
        at=at,
        role=role,
        model=model,
        kind=kind,
        stream=stream,
        chain=planned.chain,
        candidates=planned.candidates,
        weights=planned.weights,
        prompt_chars=prompt_chars,
        prompt_hash=prompt_hash,
        messages=messages,
        operation=operation,
    )
    return (started, *_skip_events(planned.skipped, request_id, at))


def fallback_events(
    replanned: Plan, *, request_id: str, at: float, from_model: str, reason: str, detail: str = ""
) -> tuple[Event, ...]:
    """The events of switching to the next model: ``FallbackSwitched`` then its skips.

    Args:
        replanned: ``plan`` over the rest of the chain (after ``from_model``), computed
            at the switch so the fallback's order reflects health and cursors now.
        request_id: The request's id.
        at: Wall-clock seconds since the epoch.
        from_model: The model given up on.
        reason: One of ``events.FALLBACK_REASONS``.
        detail: Human-readable context.

    Raises:
        ValueError: ``replanned`` is empty (there is nothing to switch to).
    """
    if replanned.empty:
        raise ValueError("cannot fall back: the re-planned chain has no admissible deployment")
    target = replanned.groups[0]
    # Skips of models beyond the target are not decisions taken yet; the next switch
    # (if any) records them, so each skip is recorded when it actually mattered.
    reached = set(replanned.chain[: replanned.chain.index(target.model) + 1])
    skips = [s for s in replanned.skipped if s.deployment.rpartition("@")[0] in reached]
    switched = FallbackSwitched(
        request_id=request_id,
        at=at,
        from_model=from_model,
        to_model=target.model,
        reason=reason,
        detail=detail,
        candidates=target.deployments,
        weights=target.weights,
    )
    return (switched, *_skip_events(skips, request_id, at))


def _skip_events(skips: Iterable[Skip], request_id: str, at: float) -> tuple[Event, ...]:
    return tuple(
        CandidateSkipped(
            request_id=request_id, at=at, deployment=s.deployment, reason=s.reason, detail=s.detail
        )
        for s in skips
    )
