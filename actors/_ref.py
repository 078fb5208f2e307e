"""``ActorRef``: the handle through which messages reach an actor."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Generic, overload

from actors._actor import M
from actors._ask import Ask, R
from actors._errors import ActorError, AskTimeout, MailboxFull, WouldBlock
from actors._mailbox import Envelope
from actors._stats import ActorStatistics
from events import get_logger

if TYPE_CHECKING:
    from actors._cell import ActorCell

__all__ = ["DEFAULT_ASK_TIMEOUT", "ActorRef"]

_log = get_logger(__name__)

DEFAULT_ASK_TIMEOUT = 5.0
"""Seconds an ``ask`` waits for its reply unless told otherwise."""


class ActorRef(Generic[M]):
    """A reference to a spawned actor; cheap to copy, safe to share between tasks."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell[M]) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """The actor's unique name in its system."""
        return self._cell.name

    @property
    def is_alive(self) -> bool:
        """Whether the actor still accepts messages."""
        return not self._cell.mailbox.closed

    def __repr__(self) -> str:
        return f"ActorRef({self.name!r}, state={self._cell.state.value})"

    async def tell(self, message: M) -> None:
        """Queue ``message``, waiting for room in the mailbox.

        Raises:
            ActorDeadError: The actor is stopped (or stopped while we waited).
        """
        await self._cell.mailbox.put(Envelope(message))

    def tell_nowait(self, message: M) -> None:
        """Queue ``message`` now.

        Raises:
            MailboxFull: The mailbox is at capacity.
            ActorDeadError: The actor is stopped.
        """
        self._cell.mailbox.put_nowait(Envelope(message))

    @overload
    async def ask(
        self,
        message: Ask[R],
        *,
        timeout: float | None = ...,  # noqa: ASYNC109
        again: bool = ...,
    ) -> R: ...

    @overload
    async def ask(
        self,
        message: M,
        *,
        timeout: float | None = ...,  # noqa: ASYNC109
        again: bool = ...,
    ) -> Any: ...

    async def ask(
        self,
        message: Any,
        *,
        timeout: float | None = DEFAULT_ASK_TIMEOUT,  # noqa: ASYNC109 - runs on our Clock
        again: bool = False,
    ) -> Any:
        """Send ``message`` and return the actor's reply (``receive``'s return value).

        An idle actor with a synchronous ``receive`` and an empty mailbox handles the
        message inline, in this task, before ``ask`` returns: no queue and no task
        switch (see ``Actor``). Otherwise the message is queued behind the others and
        the reply awaited.

        The timeout applies to a queued ask (an inline one cannot wait). It runs on the
        actor system's clock (a ``ManualClock`` drives it in tests) and covers waiting
        for mailbox room too. A timeout leaves the actor running; the message is still
        handled in turn and its late reply dropped.

        Args:
            message: The message; an ``Ask[R]`` message's reply is typed ``R``.
            timeout: Seconds to wait for the reply; ``None`` waits forever.
            again: If the handler raised (the actor is restarted from its factory), send
                the same message once more to the new incarnation and return its reply;
                a second failure raises. For idempotent messages (the request driver's).

        Raises:
            AskTimeout: No reply within ``timeout``.
            ActorDeadError: The actor is stopped, or stopped before handling it.
            Exception: Whatever ``receive`` raised, with its original type.
        """
        cell = self._cell
        receive = cell.inline
        if not again:
            if receive is not None and not cell.busy and not cell.queue:
                return cell.run_inline(receive, message)
            return await self._ask_queued(message, timeout)
        # One frame for both tries (no wrapper coroutine around ``ask``).
        try:
            if receive is not None and not cell.busy and not cell.queue:
                return cell.run_inline(receive, message)
            return await self._ask_queued(message, timeout)
        except ActorError:
            raise
        except Exception:
            return await self.ask(message, timeout=timeout)

    @overload
    def ask_nowait(self, message: Ask[R]) -> R: ...

    @overload
    def ask_nowait(self, message: M) -> Any: ...

    def ask_nowait(self, message: Any) -> Any:
        """Handle ``message`` now, inline, and return the reply; for synchronous callers.

        Messages already queued are handled first, inline and in order, so the answer
        is the same as an ``ask`` would give (one message at a time, mailbox order).

        Raises:
            WouldBlock: The actor cannot answer without waiting: its ``receive`` is
                ``async``, it is restarting or stopped, or this is called from inside
                one of its own turns.
            Exception: Whatever ``receive`` raised, with its original type.
        """
        cell = self._cell
        if cell.busy:
            raise WouldBlock(self.name, type(message).__name__, "a turn is in progress")
        if cell.queue:
            cell.drain_inline()
        receive = cell.inline
        if receive is None:
            raise WouldBlock(self.name, type(message).__name__, cell.why_not_inline())
        return cell.run_inline(receive, message)

    @overload
    def notify(self, message: Ask[R]) -> R | None: ...

    @overload
    def notify(self, message: M) -> Any: ...

    def notify(self, message: Any) -> Any:
        """Deliver a message that needs no answer, now, without ever waiting.

        Handled inline when the actor can take it now (as ``ask_nowait`` would), and
        then its reply is returned; otherwise queued like ``tell_nowait``, and None is
        returned. Nothing is raised: a handler failure is supervised as usual (and the
        message queued for the restarted actor), and a stopped actor or a full mailbox
        drops it with a log line. For reports whose sender must not fail or wait
        because of the receiver: a call's end, a permit given back, a request's outcome.
        """
        cell = self._cell
        if not cell.busy:
            if cell.queue:
                cell.drain_inline()
            receive = cell.inline
            if receive is not None:
                try:
                    return cell.run_inline(receive, message)
                except Exception:
                    pass  # supervised: the restarted actor takes the message once more
        try:
            cell.mailbox.put_nowait(Envelope(message))
        except ActorError as exc:
            _log.warning("actor.notify.dropped", actor=self.name, reason=str(exc))
        return None

    async def _ask_queued(self, message: Any, timeout: float | None) -> Any:  # noqa: ASYNC109
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        timer = None
        if timeout is not None:
            if not (math.isfinite(timeout) and timeout >= 0):
                raise ValueError(f"ask timeout must be a finite number >= 0, got {timeout}")
            error = AskTimeout(self.name, type(message).__name__, timeout)
            timer = self._cell.clock.schedule_once(timeout, lambda: _fail(reply, error))
        try:
            await self._enqueue(Envelope(message, reply), reply)
            return await reply
        finally:
            if timer is not None:
                timer.cancel()

    async def _enqueue(self, envelope: Envelope, reply: asyncio.Future[Any]) -> None:
        mailbox = self._cell.mailbox
        try:
            mailbox.put_nowait(envelope)
            return
        except MailboxFull:
            pass
        # Wait for room, but give up as soon as the reply future fails (timeout).
        putter = asyncio.ensure_future(mailbox.put(envelope))
        try:
            await asyncio.wait({putter, reply}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not putter.done():
                putter.cancel()
        if putter.done() and not putter.cancelled():
            putter.result()  # re-raises ActorDeadError if the actor stopped meanwhile

    def statistics(self) -> ActorStatistics:
        """A frozen snapshot of this actor's counters and state."""
        return self._cell.statistics()


def _fail(reply: asyncio.Future[Any], error: BaseException) -> None:
    if not reply.done():
        reply.set_exception(error)
