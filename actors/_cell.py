"""``ActorCell``: one actor's task, mailbox, supervision and counters.

Supervision choices, in one place:

- An exception from ``receive`` is a failure whether the message was a ``tell`` or an
  ``ask``. For an ``ask`` the original exception object is also delivered to the asker.
  The failed instance gets ``on_failure(exc)`` (not ``on_stop``) and is discarded; after
  the backoff a fresh instance from the factory is started. The mailbox is kept, so
  messages queued behind the failing one are handled by the new instance.
- An exception from ``on_start`` (or the factory) is a failure of that incarnation too.
- Past ``max_restarts`` failures in the window the actor stops for good: pending asks
  fail with ``ActorDeadError``, ``ActorStopped(reason="too many restarts")`` is
  recorded, and the system's ``on_actor_stopped`` observer is called.
- Recording an event can fail (the log is down): that is logged and supervision goes on.

Inline turns. An instance whose ``receive`` is a plain ``def`` exposes it as
``inline`` once started; ``ActorRef.ask`` calls ``run_inline`` when the actor is idle
(no turn in progress) and its mailbox is empty. ``busy`` is true during every turn,
inline or not, so no second turn can start inside one. A failure in an inline turn is
the same supervised failure as one in the actor's task: ``inline`` is withdrawn at
once (later messages queue), and a marker put at the *front* of the mailbox wakes the
task, which restarts the actor before it takes the next message.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Generic

from actors._actor import Actor, M
from actors._background import BackgroundTasks
from actors._clock import Clock
from actors._errors import ActorDeadError
from actors._mailbox import Envelope, Mailbox
from actors._ref import ActorRef
from actors._stats import TRANSITIONS, ActorState, ActorStatistics
from actors._supervision import SupervisionPolicy, decide_restart
from events import ActorFailed, ActorRestarted, ActorStopped, Event, EventLog, get_logger

__all__ = ["ActorCell"]

log = get_logger(__name__)

_MESSAGE_LIMIT = 2_000
"""``ActorFailed.message`` is truncated to this many characters."""


class _InlineFailure:
    """Mailbox marker: the instance failed in an inline turn (handled before anything)."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


class ActorCell(Generic[M]):
    """Runs one named actor: its task, mailbox, restarts and statistics."""

    def __init__(
        self,
        *,
        name: str,
        factory: Callable[[], Actor[M]],
        mailbox_size: int,
        policy: SupervisionPolicy,
        clock: Clock,
        event_log: EventLog | None,
        jitter: Callable[[], float],
        on_stopped: Callable[[ActorStatistics], object] | None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.mailbox = Mailbox(name, mailbox_size)
        self.queue = self.mailbox.items
        """The mailbox's queue itself, for the hot ``not cell.queue`` checks."""
        self.ref: ActorRef[M] = ActorRef(self)
        self._factory = factory
        self._policy = policy
        self._event_log = event_log
        self._jitter = jitter
        self._on_stopped = on_stopped
        self._log = log.bind(actor=name)
        self.state = ActorState.RUNNING
        self._processed = self._failures = self._restarts = self._inline_turns = 0
        self._history: tuple[float, ...] = ()
        self._instance: Actor[M] | None = None
        self._current: Envelope | None = None
        self._stop_reason: str | None = None
        self._stop_requested = False
        self._finished = False
        self._closing = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.background = BackgroundTasks(name, self._log)
        """Tasks the actor runs outside its turns (``Actor.run_in_background``)."""
        self.inline: Callable[[Any], Any] | None = None
        """The live instance's synchronous ``receive``; None while it cannot run inline."""
        self.busy = False
        """A turn is in progress (inline, or from the mailbox)."""
        self._counted = False

    def start(self) -> None:
        """Start the actor's task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"actor:{self.name}")
        self._task.add_done_callback(self._on_task_done)

    def statistics(self) -> ActorStatistics:
        """A frozen snapshot of the counters."""
        return ActorStatistics(
            name=self.name,
            mailbox_depth=self.mailbox.depth,
            mailbox_size=self.mailbox.capacity,
            processed=self._processed,
            inline=self._inline_turns,
            failures=self._failures,
            restarts=self._restarts,
            state=self.state,
            stop_reason=self._stop_reason,
        )

    async def stop(self, *, timeout: float, reason: str) -> None:  # noqa: ASYNC109
        """Refuse new messages, drain the queue for up to ``timeout``, then stop.

        Whatever is still queued (or in progress) after the timeout is abandoned: its
        asks fail with ``ActorDeadError``. ``on_stop`` runs on the live instance, bounded
        by ``timeout`` too. Idempotent; concurrent callers wait for the first.
        """
        if self._stop_requested or self._finished:
            await self._done.wait()
            return
        self._stop_requested = True
        self.inline = None
        self.mailbox.close(reason)
        self._closing.set()
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                self._log.warning("actor.drain.timeout", timeout=timeout, queued=self.mailbox.depth)
                task.cancel()
                await asyncio.wait({task})
        if not self._finished:
            await self._finish(reason, on_stop_timeout=timeout)

    def _set_state(self, new: ActorState) -> None:
        if new is self.state:
            return
        if new not in TRANSITIONS[self.state]:
            raise RuntimeError(f"actor {self.name!r}: bad transition {self.state} -> {new}")
        self.state = new

    async def _run(self) -> None:
        while True:
            instance, failure = await self._incarnate()
            if failure is None:
                failure = await self._process(instance)
                if failure is None:
                    return  # closed and drained
            if not await self._supervise(instance, failure):
                return

    async def _incarnate(self) -> tuple[Actor[M] | None, Exception | None]:
        instance: Actor[M] | None = None
        try:
            instance = self._factory()
            instance._bind(self.ref, self.clock)
            await instance.on_start()
        except Exception as exc:
            return instance, exc
        self._instance = instance
        receive = instance.receive
        if not inspect.iscoroutinefunction(receive) and not self._stop_requested:
            self.inline = receive
        return instance, None

    async def _process(self, instance: Actor[M] | None) -> Exception | None:
        assert instance is not None  # _incarnate returns an instance when it succeeds
        synchronous = self.inline is not None
        while True:
            envelope = await self.mailbox.get()
            if envelope is None:
                return None
            message = envelope.message
            if type(message) is _InlineFailure:
                self._counted = True  # run_inline counted it already
                return message.exc
            self._current = envelope
            self.busy = True
            try:
                if synchronous:
                    result = instance.receive(message)
                else:
                    result = await instance.receive(message)
            except Exception as exc:
                self._current = None
                self.inline = None
                if envelope.reply is not None and not envelope.reply.done():
                    envelope.reply.set_exception(exc)
                return exc
            finally:
                self.busy = False
            self._current = None
            self._processed += 1
            if envelope.reply is not None and not envelope.reply.done():
                envelope.reply.set_result(result)

    def run_inline(self, receive: Callable[[Any], Any], message: Any) -> Any:
        """One synchronous turn in the caller's task (the caller checked it is idle)."""
        self.busy = True
        try:
            result = receive(message)
        except Exception as exc:
            # Withdraw the instance now (later messages queue for the next one) and
            # show the failure at once; the actor's task does the rest.
            self.inline = None
            self._failures += 1
            self._set_state(ActorState.RESTARTING)
            self.mailbox.put_front(Envelope(_InlineFailure(exc)))
            raise
        finally:
            self.busy = False
        self._processed += 1
        self._inline_turns += 1
        return result

    def why_not_inline(self) -> str:
        """Why no message can be handled inline now (for ``WouldBlock``)."""
        if self.state is ActorState.STOPPED:
            return f"it is stopped ({self._stop_reason})"
        if self.state is ActorState.RESTARTING or self.mailbox.depth:
            return "it is restarting after a failure"
        if self._instance is None:
            return "it is still starting"
        return "its receive is async"

    def drain_inline(self) -> None:
        """Handle queued messages inline, in order (``ask_nowait``); stop at a failure."""
        while self.inline is not None:
            envelope = self.mailbox.take_nowait()
            if envelope is None:
                return
            try:
                result = self.run_inline(self.inline, envelope.message)
            except Exception as exc:
                if envelope.reply is not None and not envelope.reply.done():
                    envelope.reply.set_exception(exc)
                return
            if envelope.reply is not None and not envelope.reply.done():
                envelope.reply.set_result(result)

    async def _supervise(self, instance: Actor[M] | None, exc: Exception) -> bool:
        """Handle a failure; ``True`` when a fresh instance should start."""
        if not self._counted:
            self._failures += 1
        self._counted = False
        self._instance = None
        self.inline = None
        self._set_state(ActorState.RESTARTING)
        self._log.error("actor.failed", error_type=type(exc).__name__, exc_info=exc)
        if instance is not None:
            await self._notify_failure(instance, exc)
        now = self.clock.monotonic()
        decision = decide_restart(self._history, now, self._policy, self._jitter())
        self._history = decision.history
        await self._record(
            ActorFailed(
                actor=self.name,
                error_type=type(exc).__name__,
                message=str(exc)[:_MESSAGE_LIMIT],
                failures_in_window=decision.failures_in_window,
            )
        )
        if not decision.restart:
            self._log.error(
                "actor.gave_up",
                failures_in_window=decision.failures_in_window,
                window=self._policy.window,
            )
            await self._finish("too many restarts", on_stop_timeout=0.0)
            return False
        if not await self._backoff(decision.delay):
            return False  # stop() was called meanwhile: it finishes the actor
        self._restarts += 1
        self._set_state(ActorState.RUNNING)
        restart = decision.failures_in_window
        self._log.info("actor.restarted", restart=restart, delay=decision.delay)
        await self._record(ActorRestarted(actor=self.name, restart=restart, delay=decision.delay))
        return True

    async def _notify_failure(self, instance: Actor[M], exc: Exception) -> None:
        try:
            await instance.on_failure(exc)
        except Exception as hook_exc:
            self._log.error("actor.on_failure.failed", exc_info=hook_exc)

    async def _backoff(self, delay: float) -> bool:
        """Sleep ``delay`` on the clock; ``False`` if a stop cut it short."""
        if self._closing.is_set():
            return False
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        closer = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()
        return not self._closing.is_set()

    async def _finish(self, reason: str, *, on_stop_timeout: float) -> None:
        """Final transition: fail what is pending, run ``on_stop``, record, notify."""
        self._finished = True
        self._stop_reason = reason
        self.inline = None
        self.mailbox.close(reason)
        self._fail_pending(reason)
        self._set_state(ActorState.STOPPED)
        instance, self._instance = self._instance, None
        try:
            if instance is not None:
                await self._call_on_stop(instance, on_stop_timeout)
            await self.background.cancel_and_wait()
            self._log.info("actor.stopped", reason=reason)
            await self._record(ActorStopped(actor=self.name, reason=reason), bound=_STOP_RECORD)
            self._notify_stopped()
        finally:
            self._done.set()

    def _fail_pending(self, reason: str) -> None:
        pending = [e for e in self.mailbox.take_all() if type(e.message) is not _InlineFailure]
        if self._current is not None:
            pending.insert(0, self._current)
            self._current = None
        dropped_tells = 0
        for envelope in pending:
            if envelope.reply is None:
                dropped_tells += 1
            elif not envelope.reply.done():
                envelope.reply.set_exception(ActorDeadError(self.name, reason))
        if pending:
            self._log.warning(
                "actor.messages.abandoned",
                asks=len(pending) - dropped_tells,
                tells=dropped_tells,
                reason=reason,
            )

    async def _call_on_stop(self, instance: Actor[M], timeout: float) -> None:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(instance.on_stop(), timeout=max(timeout, 0.0))
        except TimeoutError:
            self._log.error("actor.on_stop.timeout", timeout=timeout)
        except Exception as exc:
            self._log.error("actor.on_stop.failed", exc_info=exc)

    async def _record(self, event: Event, *, bound: float | None = None) -> None:
        """Append a supervision event; with ``bound``, give up waiting after that long
        (a stuck log must not hold up a stop; the append may still commit)."""
        if self._event_log is None:
            return
        try:
            await asyncio.wait_for(self._event_log.append(f"actor/{self.name}", [event]), bound)
        except TimeoutError:
            self._log.warning("actor.event.append_slow", event_type=type(event).__name__)
        except Exception as exc:
            # Supervision must outlive a broken log; the structured log still has it.
            self._log.error(
                "actor.event.append_failed", event_type=type(event).__name__, exc_info=exc
            )

    def _notify_stopped(self) -> None:
        if self._on_stopped is None:
            return
        try:
            self._on_stopped(self.statistics())
        except Exception as exc:
            self._log.error("actor.observer.failed", exc_info=exc)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if self._finished or self._stop_requested:
            return
        # The task ended without stop() or giving up: a stray CancelledError or a
        # BaseException escaped a handler. Fail what waits rather than hang the askers.
        error = None if task.cancelled() else task.exception()
        self._log.error("actor.task.died", exc_info=error)
        self._finished = True
        self._stop_reason = "crashed"
        self.inline = None
        self.background.cancel()
        self.mailbox.close("crashed")
        self._fail_pending("crashed")
        self._set_state(ActorState.STOPPED)
        self._instance = None
        self._done.set()


_STOP_RECORD = 1.0
"""Seconds a stopping actor waits for its ``ActorStopped`` to commit."""
