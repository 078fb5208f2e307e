"""``ActorSystem``: spawns, finds, stops and shuts down actors."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any

from actors._actor import Actor, M
from actors._cell import ActorCell
from actors._clock import Clock, RealClock
from actors._errors import ActorNotFound, DuplicateActorName, SystemShutDown
from actors._ref import ActorRef
from actors._stats import ActorState, ActorStatistics
from actors._supervision import SupervisionPolicy
from events import EventLog, get_logger

__all__ = ["ActorSystem"]

log = get_logger(__name__)

Jitter = random.Random | Callable[[], float]
"""A source of uniform draws in ``[0, 1]`` for backoff jitter."""


class ActorSystem:
    """A set of named actors sharing a clock, an event log and a jitter source.

    Use it as an async context manager (``async with ActorSystem() as system``) so
    ``shutdown`` runs on exit. Stopped actors stay visible in ``statistics()`` and
    ``get()`` until their name is spawned again.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        log: EventLog | None = None,
        *,
        rng: Jitter | None = None,
        default_supervision: SupervisionPolicy | None = None,
        on_actor_stopped: Callable[[ActorStatistics], object] | None = None,
    ) -> None:
        """Create an empty system.

        Args:
            clock: Time for ask timeouts, backoff and timers; ``RealClock()`` if omitted.
            log: Where supervision events (``ActorFailed``...) are appended, if anywhere.
            rng: Jitter source: a ``random.Random`` (seeded in tests) or a callable
                returning a draw in ``[0, 1]``; a fresh ``random.Random()`` if omitted.
            default_supervision: Policy for actors spawned without one.
            on_actor_stopped: Called with the final statistics of every actor that
                stops (including ``stop_reason="too many restarts"``); must not block.
        """
        self._clock: Clock = clock if clock is not None else RealClock()
        self._event_log = log
        source = rng if rng is not None else random.Random()
        self._jitter: Callable[[], float] = (
            source.random if isinstance(source, random.Random) else source
        )
        self._default_policy = default_supervision or SupervisionPolicy()
        self._on_actor_stopped = on_actor_stopped
        self._cells: dict[str, ActorCell[Any]] = {}
        self._shut_down = False

    @property
    def clock(self) -> Clock:
        """The system's clock."""
        return self._clock

    def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str,
        mailbox_size: int = 1000,
        supervision: SupervisionPolicy | None = None,
    ) -> ActorRef[M]:
        """Start an actor and return its reference (needs a running event loop).

        Args:
            factory: Makes a fresh instance; called again on every restart.
            name: Unique among live actors; a stopped actor's name may be reused.
            mailbox_size: Capacity of the bounded mailbox.
            supervision: Restart policy; the system's default if omitted.

        Raises:
            DuplicateActorName: A live actor already has ``name``.
            SystemShutDown: ``shutdown`` was called.
        """
        if not name:
            raise ValueError("an actor needs a non-empty name")
        if self._shut_down:
            raise SystemShutDown(name)
        existing = self._cells.get(name)
        if existing is not None and existing.state is not ActorState.STOPPED:
            raise DuplicateActorName(name)
        cell: ActorCell[M] = ActorCell(
            name=name,
            factory=factory,
            mailbox_size=mailbox_size,
            policy=supervision or self._default_policy,
            clock=self._clock,
            event_log=self._event_log,
            jitter=self._jitter,
            on_stopped=self._on_actor_stopped,
        )
        cell.start()
        self._cells[name] = cell
        log.debug("actor.spawned", actor=name, mailbox_size=mailbox_size)
        return cell.ref

    def get(self, name: str) -> ActorRef[Any]:
        """The reference of actor ``name`` (possibly stopped).

        Raises:
            ActorNotFound: No actor was spawned with that name.
        """
        cell = self._cells.get(name)
        if cell is None:
            raise ActorNotFound(name, list(self._cells))
        return cell.ref

    async def stop(self, ref: ActorRef[Any], *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop one actor: drain its mailbox for up to ``timeout`` seconds, then stop.

        New messages are refused at once (``ActorDeadError``). Asks still queued after
        the timeout fail with ``ActorDeadError``; then ``on_stop`` runs. Stopping a
        stopped actor does nothing.

        Raises:
            ActorNotFound: ``ref`` does not belong to this system.
        """
        _check_timeout(timeout)
        cell = self._cells.get(ref.name)
        if cell is None or cell.ref is not ref:
            raise ActorNotFound(ref.name, list(self._cells))
        await cell.stop(timeout=timeout, reason="stopped")

    async def shutdown(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop every actor concurrently; no new actors can be spawned afterwards.

        Each mailbox is drained for up to ``timeout`` seconds of real time (it bounds
        how long the process waits, even under a virtual clock); remaining asks then
        fail with ``ActorDeadError``, ``on_stop`` runs (bounded by ``timeout`` too) and
        the actor tasks are cancelled and awaited. Idempotent.
        """
        _check_timeout(timeout)
        self._shut_down = True
        cells = list(self._cells.values())
        await asyncio.gather(*(cell.stop(timeout=timeout, reason="shutdown") for cell in cells))
        log.debug("actor_system.shut_down", actors=len(cells))

    def statistics(self) -> tuple[ActorStatistics, ...]:
        """Statistics of every actor, sorted by name."""
        return tuple(self._cells[name].statistics() for name in sorted(self._cells))

    async def __aenter__(self) -> ActorSystem:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()


def _check_timeout(timeout: float) -> None:
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout}")
