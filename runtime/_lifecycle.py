"""The ``Runtime``'s lifecycle: a state machine with checked transitions, and the calls
in flight that ``aclose()`` drains, then cancels.

States (like httpx's ``ClientState``)::

    unopened ──start()──▶ starting ──▶ open ──aclose()──▶ closing ──▶ closed
        │                    │                                          ▲
        │                    └── start() failed: back to unopened       │
        └──────────────────────── aclose() before any start() ──────────┘

``start()`` and ``aclose()`` take one lock, so two concurrent ``start()`` calls open
the log once, and an ``aclose()`` during ``start()`` waits for it, then closes
everything it started. Calls are accepted only while ``open``; from ``closing`` on
they raise ``RuntimeNotRunning``.

Calls in flight. ``aclose()`` first lets them finish for ``shutdown.drain_seconds``,
then cancels the rest: a call cancelled that way raises ``RuntimeNotRunning`` in its
caller (not ``CancelledError``: the caller did not cancel it). A stream whose consumer
is between two chunks is not interrupted from outside: its upstream response is closed
and its next step raises ``RuntimeNotRunning``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from runtime._errors import RuntimeNotRunning

__all__ = ["Call", "Calls", "Lifecycle", "RuntimeState"]

T = TypeVar("T")


class RuntimeState(enum.Enum):
    """Where a ``Runtime`` is in its life."""

    UNOPENED = "unopened"
    STARTING = "starting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_ALLOWED: dict[RuntimeState, frozenset[RuntimeState]] = {
    RuntimeState.UNOPENED: frozenset({RuntimeState.STARTING, RuntimeState.CLOSED}),
    RuntimeState.STARTING: frozenset({RuntimeState.OPEN, RuntimeState.UNOPENED}),
    RuntimeState.OPEN: frozenset({RuntimeState.CLOSING}),
    RuntimeState.CLOSING: frozenset({RuntimeState.CLOSED}),
    RuntimeState.CLOSED: frozenset(),
}

_CLOSED_MESSAGE = "the Runtime closed while this call was in flight (shutdown.drain_seconds)"
_GRACE = 10.0
"""Seconds ``drain`` waits for cancelled calls to unwind before it gives up on them."""


class Lifecycle:
    """The current state, its lock, and the only way to change it."""

    def __init__(self) -> None:
        self.state = RuntimeState.UNOPENED
        self.lock = asyncio.Lock()

    def move(self, to: RuntimeState) -> None:
        """Change state; an illegal transition is a bug in the runtime, so it raises."""
        if to not in _ALLOWED[self.state]:
            raise AssertionError(f"illegal lifecycle transition {self.state.value} -> {to.value}")
        self.state = to

    def refuse(self) -> RuntimeNotRunning:
        """The error for a call made while not ``open``."""
        what = {
            RuntimeState.UNOPENED: "not started",
            RuntimeState.STARTING: "still starting",
            RuntimeState.CLOSING: "closing",
            RuntimeState.CLOSED: "closed",
        }.get(self.state, self.state.value)
        hint = (
            "create a new Runtime"
            if self.state in (RuntimeState.CLOSING, RuntimeState.CLOSED)
            else "use `async with Runtime.from_config(...) as rt:` or `await rt.start()` first"
        )
        return RuntimeNotRunning(f"the Runtime is {what}; {hint}")


class Call:
    """One call in flight: its task, and whether ``aclose()`` cancelled it.

    A context manager (a class, not ``@contextmanager``: no generator per call): entering
    registers it with its ``Calls``, leaving removes it and turns ``aclose()``'s cancel
    into ``RuntimeNotRunning``."""

    __slots__ = ("cancelled", "inner", "inside", "owner", "task")

    def __init__(self, task: asyncio.Task[Any] | None, owner: Calls | None = None) -> None:
        self.owner = owner
        self.task = task
        self.inside = True
        """The call's task is running our code now (a stream: inside ``__anext__``)."""
        self.cancelled = False
        """``aclose()`` ended it: its next step raises ``RuntimeNotRunning``."""
        self.inner: AsyncGenerator[Any, None] | None = None
        """A stream's upstream chunks, closed by ``aclose()`` between two chunks."""

    def __enter__(self) -> Call:
        owner = self.owner
        assert owner is not None  # made by Calls.track
        owner.calls.add(self)
        owner.idle.clear()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        owner = self.owner
        assert owner is not None
        owner.calls.discard(self)
        if not owner.calls:
            owner.idle.set()
        if kind is not None and issubclass(kind, asyncio.CancelledError) and self.cancelled:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            raise RuntimeNotRunning(_CLOSED_MESSAGE) from None


class Calls:
    """The calls in flight, so that ``aclose()`` can drain and then cancel them."""

    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def __len__(self) -> int:
        return len(self.calls)

    def track(self) -> Call:
        """The current task's call, to enter (``with``): registered while inside;
        ``aclose()``'s cancel leaves it as ``RuntimeNotRunning``."""
        return Call(asyncio.current_task(), self)

    @staticmethod
    async def relay(call: Call, chunks: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
        """A stream's chunks, noting when its consumer is inside (``aclose`` may cancel
        it then) or between chunks (``aclose`` closes ``chunks``; the next step raises)."""
        call.inner = chunks
        while True:
            call.task, call.inside = asyncio.current_task(), True
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            finally:
                call.inside = False
            yield chunk
            if call.cancelled:
                raise RuntimeNotRunning(_CLOSED_MESSAGE)

    async def drain(self, seconds: float) -> int:
        """Let calls finish for up to ``seconds``, cancel the rest, wait for them to end.

        Returns:
            How many calls were cancelled.
        """
        if seconds > 0 and self.calls:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.idle.wait()
        cancelled = 0
        for call in tuple(self.calls):
            call.cancelled = True
            cancelled += 1
            if call.inside and call.task is not None:
                call.task.cancel(_CLOSED_MESSAGE)
            elif call.inner is not None:
                with contextlib.suppress(Exception):
                    await call.inner.aclose()
                self.calls.discard(call)
        if not self.calls:
            self.idle.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_GRACE):
                await self.idle.wait()
        return cancelled
