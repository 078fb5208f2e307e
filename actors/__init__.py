"""The asyncio actor model: actors, references, mailboxes, supervision, timers and clocks.

Messages and replies are msgspec Structs; a message that is answered subclasses
``Ask[Reply]`` so ``ask`` is typed. A synchronous handler of an idle actor runs inline
in the asker's task (no queue, no task switch); see ``Actor``. Every wait that matters
(ask timeouts, restart backoff, timers) runs on the system's injectable ``Clock``, so
tests drive them with a ``ManualClock``.

The domain actors live in the subpackages — ``endpoint``, ``catalog``, ``health``,
``quota``, ``performance``, ``router`` — each pure logic plus the one actor that owns
its state (``_actor.py``); ``escalation`` is a workflow over ``chat``, not an actor.
"""

from __future__ import annotations

import actors._provenance  # noqa: F401  (first: refuses a foreign events package)

# isort: split

from actors._actor import Actor
from actors._ask import Ask
from actors._backoff import backoff_ceiling, backoff_delay
from actors._clock import Clock, ManualClock, RealClock, TimerCallback, TimerHandle
from actors._errors import (
    ActorDeadError,
    ActorError,
    ActorNotFound,
    AskTimeout,
    DuplicateActorName,
    MailboxFull,
    SystemShutDown,
    WouldBlock,
)
from actors._fold import Fold
from actors._ref import DEFAULT_ASK_TIMEOUT, ActorRef
from actors._stats import ActorState, ActorStatistics
from actors._supervision import RestartDecision, SupervisionPolicy, decide_restart
from actors._system import ActorSystem

_DISTRIBUTION = "llm-reliability-runtime"
"""Marks this package as ours: ``actors`` and ``runtime`` check it on import, so another
distribution's ``actors`` package installed over ours fails with a clear error."""

__all__ = [
    "Actor",
    "ActorDeadError",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "Ask",
    "ActorSystem",
    "AskTimeout",
    "Clock",
    "DEFAULT_ASK_TIMEOUT",
    "DuplicateActorName",
    "Fold",
    "MailboxFull",
    "ManualClock",
    "RealClock",
    "RestartDecision",
    "SupervisionPolicy",
    "SystemShutDown",
    "TimerCallback",
    "TimerHandle",
    "WouldBlock",
    "backoff_ceiling",
    "backoff_delay",
    "decide_restart",
]
