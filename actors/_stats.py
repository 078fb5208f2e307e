"""The lifecycle states of an actor and its statistics record."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["ActorState", "ActorStatistics"]


class ActorState(enum.Enum):
    """Where an actor is in its life; the allowed moves are in ``TRANSITIONS``."""

    RUNNING = "running"
    """An instance is started (or starting) and handles its mailbox."""
    RESTARTING = "restarting"
    """The last instance failed; waiting out the backoff before a fresh one starts."""
    STOPPED = "stopped"
    """Final: by stop(), shutdown(), too many restarts, or a crashed task."""


TRANSITIONS: dict[ActorState, frozenset[ActorState]] = {
    ActorState.RUNNING: frozenset({ActorState.RESTARTING, ActorState.STOPPED}),
    ActorState.RESTARTING: frozenset({ActorState.RUNNING, ActorState.STOPPED}),
    ActorState.STOPPED: frozenset(),
}
"""Allowed state changes; anything else is a bug in the actor system."""


class ActorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor's counters (read by ``runtime.inspect`` and ``/metrics``)."""

    name: str
    """The actor's name."""
    mailbox_depth: int
    """Messages queued and not yet taken."""
    mailbox_size: int
    """The mailbox's capacity."""
    processed: int
    """Messages handled without an exception (tells and asks, all instances)."""
    inline: int = 0
    """Of those, asks handled inline in the asker's task (no queue, no task switch)."""
    failures: int
    """Exceptions from ``receive`` or ``on_start`` (all instances)."""
    restarts: int
    """Fresh instances started after a failure."""
    state: ActorState
    """The lifecycle state."""
    stop_reason: str | None = None
    """Why it stopped (``"stopped"``, ``"shutdown"``, ``"too many restarts"``...)."""
