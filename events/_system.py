"""Events the actor system records about its own actors (supervision)."""

from __future__ import annotations

from events._base import Event
from events._codec import default_registry

__all__ = ["EVENT_LOG_STREAM", "ActorFailed", "ActorRestarted", "ActorStopped", "EventLogRecovered"]

SYSTEM_STREAM_PREFIX = "actor/"
"""Supervision events for actor ``name`` go to stream ``actor/<name>``."""


class ActorFailed(Event, frozen=True, kw_only=True):
    """An actor's ``receive`` (or ``on_start``) raised."""

    actor: str
    """The actor's name."""
    error_type: str
    """The exception's class name."""
    message: str
    """``str(exception)``, truncated to 2,000 characters."""
    failures_in_window: int
    """Failures counted in the supervision window, this one included."""


class ActorRestarted(Event, frozen=True, kw_only=True):
    """A failed actor was restarted after a backoff delay."""

    actor: str
    restart: int
    """1 for the first restart in the current window."""
    delay: float
    """Seconds waited before the restart (exponential backoff with jitter)."""


class ActorStopped(Event, frozen=True, kw_only=True):
    """An actor stopped: normally, by shutdown, or by giving up after too many restarts."""

    actor: str
    reason: str
    """``"stopped"``, ``"shutdown"`` or ``"too many restarts"``."""


EVENT_LOG_STREAM = "runtime/event-log"
"""Where the runtime records what happened to its own event log."""


class EventLogRecovered(Event, frozen=True, kw_only=True):
    """The event log accepts appends again after failing (disk full, locked...)."""

    at: float
    """Wall-clock seconds since the epoch."""
    failing_since: float
    """When the first commit failed."""
    last_error: str
    """The last failure, e.g. ``StorageFull: ...``."""
    unrecorded_requests: int
    """Requests answered (``on_log_failure: serve``) whose events could not be recorded
    while it failed, counted since the runtime started."""
    refused_requests: int
    """Requests refused (``on_log_failure: refuse``) since the runtime started."""


for _cls in (ActorFailed, ActorRestarted, ActorStopped, EventLogRecovered):
    default_registry.register(_cls)
