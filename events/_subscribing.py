"""``subscribe()`` for the logs that read storage (SQLite, PostgreSQL).

A subscriber reads what storage holds after its last event, then sleeps until the log
wakes it (``_wake_subscribers``: this log's commits, other writers' commits the tail
delivered, a notification, closing) or ``_subscriber_poll()`` seconds pass, and reads
again. Reading storage, not a cache, is what makes other writers' events count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection

from events._base import StoredEvent
from events._errors import EventLogClosed

__all__ = ["Subscribable"]


class Subscribable:
    """The subscriptions of a log whose ``read`` reads storage."""

    read: Callable[..., AsyncGenerator[StoredEvent, None]]
    """The log's filtered read (``EventLog.read``)."""

    def __init__(self) -> None:
        self._closed = False
        self._signal = asyncio.Event()

    def _subscriber_poll(self) -> float:
        """Seconds a subscriber sleeps, unless woken, before reading again."""
        raise NotImplementedError

    def _watching(self, change: int) -> None:
        """A subscriber came (+1) or went (-1): a writer may tail for it (overridden)."""

    def _wake_subscribers(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    async def subscribe(
        self,
        from_position: int = 1,
        *,
        stream: str | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Matching events from ``from_position``, then new ones as anyone commits them.

        Woken by every delivery to the commit hooks (this log's commits and other
        writers' found by the tail) and by notifications; polls every
        ``_subscriber_poll()`` seconds otherwise. Ends when the log closes.
        """
        after = max(from_position, 1) - 1
        self._watching(1)
        try:
            while not self._closed:
                signal = self._signal
                try:
                    async with contextlib.aclosing(
                        self.read(after + 1, stream=stream, types=types)
                    ) as events:
                        async for event in events:
                            yield event
                            after = event.position
                except EventLogClosed:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), self._subscriber_poll())
        finally:
            self._watching(-1)
