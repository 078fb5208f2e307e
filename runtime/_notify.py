"""Notifications: subscribers receive events by type, as an async iterator or a callback.

Publishing is on the hot path (every event passes through ``publish``), so it is a dict
lookup by the event's class when nobody listens. Subscribers never slow requests down:
an iterator has a bounded queue that drops its *oldest* event when full (counted in
``dropped``), and callbacks run in a later loop iteration (``call_soon``; coroutine
callbacks as tasks), with their exceptions logged, never raised into a request.

A type matches by ``isinstance``: subscribing to ``events.HealthEvent`` receives every
health event, ``events.Event`` everything.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from events import Event, get_logger

__all__ = ["Callback", "Notifier", "Subscription"]

log = get_logger(__name__)

Callback = Callable[[Any], object]
"""Called with each matching event; may return an awaitable (run as a task)."""


class Subscription:
    """An async iterator over matching events, from the moment it was created.

    Use ``async for event in rt.subscribe(types=[...])``; leaving the loop early does
    not unsubscribe until ``aclose()`` (or ``async with``) — the iterator ends by
    itself when the runtime closes.
    """

    def __init__(self, notifier: Notifier, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._notifier = notifier
        self.types = types
        self._items: deque[Event] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Events lost because the subscriber fell more than ``maxsize`` behind."""

    def _push(self, event: Event) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(event)
        self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def close(self) -> None:
        """Unsubscribe; the iterator ends once the queued events are taken."""
        if not self._closed:
            self._closed = True
            self._notifier._remove(self)
            self._ready.set()

    async def aclose(self) -> None:
        """Unsubscribe (async spelling, for ``contextlib.aclosing``)."""
        self.close()


class Notifier:
    """Routes published events to subscriptions and callbacks; see the module docstring."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[tuple[type[Event], Callback]] = []
        self._by_type: dict[type[Event], tuple[list[Subscription], list[Callback]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.callback_errors = 0

    def subscribe(self, types: Iterable[type[Event]], *, maxsize: int = 1_000) -> Subscription:
        """A new subscription to events of ``types`` (and their subclasses)."""
        wanted = tuple(types) or (Event,)
        subscription = Subscription(self, wanted, maxsize)
        self._subscriptions.append(subscription)
        self._by_type.clear()
        return subscription

    def on(self, event_type: type[Event], callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``event_type``; returns an undo."""
        entry = (event_type, callback)
        self._callbacks.append(entry)
        self._by_type.clear()

        def remove() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._by_type.clear()

        return remove

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber (never blocks or raises)."""
        targets = self._by_type.get(type(event))
        if targets is None:
            targets = self._targets(type(event))
        subscriptions, callbacks = targets
        for subscription in subscriptions:
            subscription._push(event)
        if callbacks:
            loop = asyncio.get_running_loop()
            for callback in callbacks:
                loop.call_soon(self._call, callback, event)

    def close(self) -> None:
        """End every subscription (their iterators stop) and forget the callbacks."""
        for subscription in list(self._subscriptions):
            subscription.close()
        self._callbacks.clear()
        self._by_type.clear()

    async def aclose(self) -> None:
        """``close``, then wait for coroutine callbacks still running."""
        self.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _targets(self, cls: type[Event]) -> tuple[list[Subscription], list[Callback]]:
        subscriptions = [s for s in self._subscriptions if issubclass(cls, s.types)]
        callbacks = [cb for t, cb in self._callbacks if issubclass(cls, t)]
        self._by_type[cls] = (subscriptions, callbacks)
        return subscriptions, callbacks

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._by_type.clear()

    def _call(self, callback: Callback, event: Event) -> None:
        try:
            result = callback(event)
        except Exception as exc:
            self._failed(callback, exc)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failed(task, task.exception())

    def _failed(self, callback: object, exc: BaseException | None) -> None:
        self.callback_errors += 1
        log.error("runtime.notify.callback_failed", callback=repr(callback), exc_info=exc)
