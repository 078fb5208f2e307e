"""The ``Actor`` base class users subclass."""

from __future__ import annotations

import contextlib
import functools
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from actors._errors import ActorDeadError, ActorError, MailboxFull

if TYPE_CHECKING:
    import asyncio

    from actors._clock import Clock, TimerHandle
    from actors._ref import ActorRef

__all__ = ["Actor", "M"]

M = TypeVar("M")
"""The type of messages an actor receives (a msgspec Struct or a union of them)."""


class Actor(ABC, Generic[M]):
    """Base of every actor: handles one message at a time.

    The actor system builds instances with the factory given to ``spawn`` (a fresh
    instance on every restart), then calls ``on_start``, then ``receive`` for each
    message. On an exception from ``receive`` or ``on_start`` it calls ``on_failure``
    on that instance and restarts per the supervision policy; ``on_stop`` is called
    only on a started instance stopped by ``stop``/``shutdown``.

    ``receive`` is either a plain ``def`` or an ``async def``:

    - A plain ``def`` handler does no I/O. When the actor is idle and its mailbox is
      empty, ``ref.ask`` runs it *inline*, in the asker's task: no queue, no task
      switch, and still one message at a time (asyncio cannot interleave synchronous
      code). Otherwise (a turn in progress, messages queued, a restart under way) the
      message goes through the mailbox, as every ``tell`` does.
    - An ``async def`` handler always runs in the actor's own task, from the mailbox.

    Work that must wait (I/O) never runs inside a synchronous turn: the handler starts
    it with ``run_in_background`` and the result comes back as a message.
    """

    _ref: ActorRef[M] | None = None
    _clock: Clock | None = None

    @property
    def ref(self) -> ActorRef[M]:
        """This actor's reference (to tell itself, or hand to others)."""
        if self._ref is None:
            raise ActorError(
                f"{type(self).__qualname__}.ref is only available once the actor is "
                "spawned; use it in on_start or receive, not in __init__"
            )
        return self._ref

    @property
    def clock(self) -> Clock:
        """The actor system's clock: use it for timers and time, never ``time`` directly."""
        if self._clock is None:
            raise ActorError(
                f"{type(self).__qualname__}.clock is only available once the actor is "
                "spawned; use it in on_start or receive, not in __init__"
            )
        return self._clock

    def _bind(self, ref: ActorRef[M], clock: Clock) -> None:
        self._ref = ref
        self._clock = clock

    def run_in_background(
        self, work: Coroutine[Any, Any, object], *, name: str
    ) -> asyncio.Task[object]:
        """Run ``work`` in a task of its own, outside any turn of this actor.

        The task belongs to the actor, not to this instance: it keeps running across a
        restart (its result, told back to ``self.ref``, reaches the new instance) and
        is cancelled when the actor stops. Its exceptions are logged, never raised.
        """
        return self.ref._cell.background.start(work, name=name)

    def tell_every(self, interval: float, message: M, *, now: bool = False) -> TimerHandle:
        """Tell this actor ``message`` every ``interval`` seconds on its clock.

        This is how periodic work becomes a timer message of the actor itself. A tick
        that finds the actor stopped or its mailbox full is skipped. The timer holds
        the actor's ref, not this instance; cancel the handle in ``on_stop`` and
        ``on_failure`` (a restarted instance schedules its own).

        Args:
            interval: Seconds between ticks (on the actor system's clock).
            message: What each tick tells.
            now: Also tell it once right away.
        """
        tick = functools.partial(_tell_quietly, self.ref, message)
        handle = self.clock.schedule_every(interval, tick)
        if now:
            tick()
        return handle

    async def on_start(self) -> None:
        """Called before the first message of each instance; raising counts as a failure."""

    async def on_stop(self) -> None:
        """Called once when a started instance is stopped by ``stop`` or ``shutdown``."""

    async def on_failure(self, exc: Exception) -> None:
        """Called on the failed instance with the exception, before any restart."""

    @abstractmethod
    def receive(self, message: M) -> Any:
        """Handle one message; the return value is the reply to an ``ask``.

        Define it as ``def`` (runs inline when possible) or ``async def`` (always from
        the mailbox). For a ``tell`` the return value is ignored. An exception is sent
        back to the asker (for an ``ask``) and counts as a failure for supervision
        either way.
        """


def _tell_quietly(ref: ActorRef[Any], message: object) -> None:
    with contextlib.suppress(MailboxFull, ActorDeadError):  # a backlog or a stop
        ref.tell_nowait(message)
