"""The bounded mailbox between senders and an actor's task."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from actors._errors import ActorDeadError, MailboxFull

__all__ = ["Envelope", "Mailbox"]


class Envelope:
    """A queued message and, for an ``ask``, the future its reply goes to."""

    __slots__ = ("message", "reply")

    def __init__(self, message: Any, reply: asyncio.Future[Any] | None = None) -> None:
        self.message = message
        self.reply = reply


class Mailbox:
    """A FIFO of envelopes with a capacity; closing it refuses new messages.

    Unlike ``asyncio.Queue`` it can be closed: senders waiting for room then get
    ``ActorDeadError`` instead of waiting forever, and ``get`` returns ``None`` once
    the queue is closed and empty, which is how the actor task knows it has drained.
    """

    def __init__(self, owner: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox_size of actor {owner!r} must be >= 1, got {capacity}")
        self._owner = owner
        self._capacity = capacity
        self._items: deque[Envelope] = deque()
        self._closed_reason: str | None = None
        self._not_empty = asyncio.Event()
        self._has_room = asyncio.Event()

    @property
    def items(self) -> deque[Envelope]:
        """The queue itself (read it, never change it: use the methods)."""
        return self._items

    @property
    def depth(self) -> int:
        """Messages queued and not yet taken by the actor."""
        return len(self._items)

    @property
    def capacity(self) -> int:
        """The most messages the mailbox holds."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """Whether the mailbox refuses new messages."""
        return self._closed_reason is not None

    def put_nowait(self, envelope: Envelope) -> None:
        """Queue ``envelope`` or raise ``MailboxFull`` / ``ActorDeadError``."""
        if self._closed_reason is not None:
            raise ActorDeadError(self._owner, self._closed_reason)
        if len(self._items) >= self._capacity:
            raise MailboxFull(self._owner, self._capacity)
        self._items.append(envelope)
        self._not_empty.set()

    def put_front(self, envelope: Envelope) -> None:
        """Queue ``envelope`` ahead of everything, ignoring capacity and closing.

        Only the actor's own cell uses it, to hand its task a failure that happened
        in an inline turn: that must be handled before any queued message.
        """
        self._items.appendleft(envelope)
        self._not_empty.set()

    def take_nowait(self) -> Envelope | None:
        """The next envelope without waiting; None when the queue is empty."""
        if not self._items:
            return None
        envelope = self._items.popleft()
        self._has_room.set()
        return envelope

    async def put(self, envelope: Envelope) -> None:
        """Queue ``envelope``, waiting for room; ``ActorDeadError`` if closed meanwhile."""
        while True:
            if self._closed_reason is not None:
                raise ActorDeadError(self._owner, self._closed_reason)
            if len(self._items) < self._capacity:
                self._items.append(envelope)
                self._not_empty.set()
                return
            self._has_room.clear()
            await self._has_room.wait()

    async def get(self) -> Envelope | None:
        """The next envelope; ``None`` once the mailbox is closed and empty."""
        while not self._items:
            if self._closed_reason is not None:
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        envelope = self._items.popleft()
        self._has_room.set()
        return envelope

    def close(self, reason: str) -> None:
        """Refuse new messages from now on; queued ones can still be taken."""
        if self._closed_reason is None:
            self._closed_reason = reason
        # Wake everyone: senders re-check and raise, a waiting getter returns None.
        self._not_empty.set()
        self._has_room.set()

    def take_all(self) -> list[Envelope]:
        """Remove and return every queued envelope."""
        items = list(self._items)
        self._items.clear()
        self._has_room.set()
        return items
