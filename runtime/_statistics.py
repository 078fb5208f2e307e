"""Reading the actors from synchronous code, and the runtime's statistics."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from actors import ActorRef, ActorStatistics, Ask, WouldBlock
from actors.endpoint import EndpointStatistics, GetEndpointStatistics
from actors.health import GetHealthStatistics, HealthStatistics
from actors.quota import GetQuotaStatistics, QuotaStatistics
from actors.router import GetRouterStatistics, RouterStatistics
from events import PipelineStatistics
from runtime._assembly import Parts
from runtime._errors import StateUnavailable
from runtime._log_guard import EventLogHealth

__all__ = ["RuntimeStatistics", "collect_statistics", "read"]

R = TypeVar("R")


class RuntimeStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of every part (read by ``runtime.inspect`` and ``/metrics``)."""

    router: RouterStatistics
    health: HealthStatistics
    quota: QuotaStatistics
    event_log: PipelineStatistics
    """The log's queue: depth, background appends, failures, waits for room."""
    event_log_health: EventLogHealth
    """Whether the log writes; requests refused or answered unrecorded meanwhile."""
    endpoints: tuple[EndpointStatistics, ...]
    actors: tuple[ActorStatistics, ...]
    notification_errors: int
    """Subscriber callbacks that raised (each was logged)."""


def read(ref: ActorRef[Any], message: Ask[R]) -> R:
    """Ask an actor from synchronous code (answered inline, after what is queued).

    Raises:
        StateUnavailable: The actor is restarting (rebuilding its state from the log).
    """
    try:
        return ref.ask_nowait(message)
    except WouldBlock as exc:
        raise StateUnavailable(
            f"the {ref.name} actor cannot answer right now ({exc.why}): it is restarting "
            "after a failure and rebuilding its state from the event log; try again in a "
            "moment"
        ) from None


def collect_statistics(parts: Parts) -> RuntimeStatistics:
    """Counters of the router, health, quota, event log, endpoints and actors."""
    refs = parts.refs
    assert refs.quota is not None  # the runtime always runs a quota actor
    return RuntimeStatistics(
        router=read(refs.router, GetRouterStatistics()),
        health=read(refs.health, GetHealthStatistics()),
        quota=read(refs.quota, GetQuotaStatistics()),
        event_log=parts.log.pipeline_statistics(),
        event_log_health=parts.guard.health(),
        endpoints=tuple(read(e, GetEndpointStatistics()) for e in refs.endpoints.values()),
        actors=parts.system.statistics(),
        notification_errors=parts.notifier.callback_errors,
    )
