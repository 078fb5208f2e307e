"""``EndpointActor``: one per endpoint; owns its concurrency slots and counters.

A call is a conversation with the actor around I/O that runs outside its turns:

1. ``Call`` (inline when the actor is idle) admits the call — takes a slot if one is
   free, else queues it — and answers with a ``CallHandle``;
2. the caller runs the HTTP exchange through the handle, in its own task (a queued
   call first waits for its slot there, within the call's total deadline);
3. the call's end comes back as ``EndCall`` (its failure class and bytes read), so the
   counters keep one writer; the freed slot goes straight to the oldest waiter.

Restart. The endpoint's counters are not in the event log, so a new instance starts
from a fresh ``EndpointState``. Calls admitted by the failed instance end against
that instance (their ``EndCall`` carries its incarnation and is ignored); calls that
were waiting are told to ask again. Until those orphans end, the new instance can
admit more calls than the limit; the connection pool (sized to a configured limit)
still caps the sockets.

``SetConcurrency`` changes the slot count (the runtime sends the count discovered from
the backend at start-up, ``discover_concurrency``, and makes later incarnations with it).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Literal

from actors._actor import Actor
from actors._ask import Ask
from actors._ref import ActorRef
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._handle import AbandonCall, CallHandle, EndCall
from actors.endpoint._metrics import CallResult, EmbedCallResult, EndpointStatistics
from actors.endpoint._slots import EndpointState, abandon, admit, end, resize, statistics
from actors.endpoint._transport import EndpointTransport
from actors.endpoint._types import ChatRequest, EmbedRequest

__all__ = [
    "AbandonCall",
    "Call",
    "EndCall",
    "EndpointActor",
    "EndpointMessage",
    "GetEndpointStatistics",
    "SetConcurrency",
    "call_chat",
    "call_embed",
    "call_list_models",
]

_incarnations = itertools.count(1)
_call_ids = itertools.count(1)


class Call(Ask[CallHandle], frozen=True):
    """Admit one call (``chat``, ``stream``, ``embed`` or ``list_models``); answers its
    handle."""

    op: Literal["chat", "stream", "embed", "list_models"]


class GetEndpointStatistics(Ask[EndpointStatistics], frozen=True):
    """The counters."""


class SetConcurrency(Ask[None], frozen=True):
    """Set the slot count (>= 1); waiters get the slots a higher count adds at once."""

    limit: int


EndpointMessage = Call | EndCall | AbandonCall | GetEndpointStatistics | SetConcurrency


class EndpointActor(Actor[EndpointMessage]):
    """One endpoint's slots and counters; see the module docstring."""

    def __init__(self, transport: EndpointTransport, *, max_concurrency: int) -> None:
        """Create the actor over ``transport`` (shared by every incarnation).

        Raises:
            ValueError: ``max_concurrency`` below 1.
        """
        self._transport = transport
        self._state = EndpointState(limit=max_concurrency)
        self._incarnation = next(_incarnations)
        self._waiters: dict[int, asyncio.Future[bool]] = {}

    async def on_failure(self, exc: Exception) -> None:
        # Waiting calls ask the next incarnation again instead of waiting forever.
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_result(False)
        self._waiters.clear()

    async def on_stop(self) -> None:
        await self.on_failure(RuntimeError("stopped"))

    def receive(self, message: EndpointMessage) -> object:
        match message:
            case Call():
                return self._admit(message)
            case EndCall():
                if message.incarnation == self._incarnation:
                    self._end(message.failure, message.bytes_received)
                return None
            case AbandonCall():
                if message.incarnation == self._incarnation:
                    self._waiters.pop(message.call_id, None)
                    self._state = abandon(self._state, message.call_id)
                return None
            case SetConcurrency():
                self._state, granted = resize(self._state, message.limit)
                for call_id in granted:
                    self._grant(call_id)
                return None
            case GetEndpointStatistics():
                transport = self._transport
                return statistics(self._state, name=transport.name, url=transport.url)

    def _admit(self, message: Call) -> CallHandle:
        call_id = next(_call_ids)
        self._state, granted = admit(self._state, call_id)
        if granted:
            return CallHandle(self.ref, self._transport, self._incarnation, call_id)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters[call_id] = waiter
        return CallHandle(
            self.ref, self._transport, self._incarnation, call_id, waiter, request=message
        )

    def _end(self, failure: str | None, bytes_received: int) -> None:
        self._state, granted = end(self._state, failure, bytes_received)
        if granted is not None:
            self._grant(granted)

    def _grant(self, call_id: int) -> None:
        """Hand a slot to the waiting call ``call_id`` (to the next one if it gave up)."""
        granted: int | None = call_id
        while granted is not None:
            waiter = self._waiters.pop(granted, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
                return
            self._state, granted = end(self._state, None, 0)  # gave up: next in line


async def call_chat(
    endpoint: ActorRef[EndpointMessage], req: ChatRequest, deadlines: Deadlines | None = None
) -> CallResult:
    """Admit and run one chat call on ``endpoint``; raises ``BackendError``."""
    handle = await endpoint.ask(Call("chat"), timeout=None)
    return await handle.chat(req, deadlines)


async def call_embed(
    endpoint: ActorRef[EndpointMessage], req: EmbedRequest, deadlines: Deadlines | None = None
) -> EmbedCallResult:
    """Admit and run one embeddings call on ``endpoint``; raises ``BackendError``."""
    handle = await endpoint.ask(Call("embed"), timeout=None)
    return await handle.embed(req, deadlines)


async def call_list_models(endpoint: ActorRef[EndpointMessage]) -> tuple[str, ...]:
    """Admit and run one model-list call on ``endpoint``; raises ``BackendError``."""
    handle = await endpoint.ask(Call("list_models"), timeout=None)
    return await handle.list_models()
