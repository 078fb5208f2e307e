"""``CallHandle``: one admitted call to an endpoint, run in the caller's task (I/O).

The ``EndpointActor`` answers ``Call`` with a handle; the handle waits for its slot if
it was queued (within the call's total deadline), runs the HTTP exchange through the
transport, and reports the end to the actor (``EndCall``: failure class, bytes read).
The report is a ``notify``: inline when the actor is idle, queued otherwise, and never
raised or waited for, so a cancelled task never waits inside its cleanup and a call
that worked is never failed by its bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from actors._ask import Ask
from actors.endpoint._classify import BackendError
from actors.endpoint._clocks import CallClock
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._metrics import CallResult, CallTimings, EmbedCallResult
from actors.endpoint._transport import EndpointTransport
from actors.endpoint._types import ChatRequest, Chunk, EmbedRequest

if TYPE_CHECKING:
    from actors._ref import ActorRef

__all__ = ["AbandonCall", "CallHandle", "EndCall"]


class EndCall(Ask[None], frozen=True):
    """A call that held a slot ended (from its handle)."""

    incarnation: int
    call_id: int
    failure: str | None = None
    """The failure class value if it failed; None on success or cancellation."""
    bytes_received: int = 0


class AbandonCall(Ask[None], frozen=True):
    """A queued call gave up waiting for its slot (from its handle)."""

    incarnation: int
    call_id: int


class CallHandle:
    """One call admitted by an endpoint actor; use it once (see the module docstring)."""

    __slots__ = (
        "_admission",
        "_call",
        "_call_id",
        "_incarnation",
        "_ref",
        "_request",
        "_transport",
    )

    def __init__(
        self,
        ref: ActorRef[Any],
        transport: EndpointTransport,
        incarnation: int,
        call_id: int,
        admission: asyncio.Future[bool] | None = None,
        request: Ask[CallHandle] | None = None,
    ) -> None:
        self._ref = ref
        self._transport = transport
        self._incarnation = incarnation
        self._call_id = call_id
        self._admission = admission
        self._request = request
        self._call: CallClock | None = None

    @property
    def timings(self) -> CallTimings:
        """Where the call's time went so far: slot wait, connect, first byte (all None
        before the call ran)."""
        return CallTimings() if self._call is None else self._call.timings()

    @property
    def queued(self) -> bool:
        """Whether the call still waits for a slot."""
        return self._admission is not None

    async def chat(self, req: ChatRequest, deadlines: Deadlines | None = None) -> CallResult:
        """One complete reply (see ``EndpointTransport.chat``); raises ``BackendError``."""
        call = self._call = self._transport.new_call(deadlines)
        if self._admission is not None:  # a queued call (no coroutine for an admitted one)
            await self._admitted(call)
        try:
            result = await self._transport.chat(req, call)
        except BaseException as exc:
            self._told_end(call, exc)
            raise
        self._ref.notify(EndCall(self._incarnation, self._call_id, None, call.bytes_received))
        return result

    async def stream(
        self, req: ChatRequest, deadlines: Deadlines | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Content chunks, then one ``done`` chunk (see ``EndpointTransport.stream``)."""
        call = self._call = self._transport.new_call(deadlines)
        if self._admission is not None:  # a queued call (no coroutine for an admitted one)
            await self._admitted(call)
        try:
            async with contextlib.aclosing(self._transport.stream(req, call)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except BaseException as exc:
            self._told_end(call, exc)
            raise
        self._ref.notify(EndCall(self._incarnation, self._call_id, None, call.bytes_received))

    async def embed(self, req: EmbedRequest, deadlines: Deadlines | None = None) -> EmbedCallResult:
        """One embeddings call (see ``EndpointTransport.embed``); raises ``BackendError``."""
        call = self._call = self._transport.new_call(deadlines)
        if self._admission is not None:  # a queued call (no coroutine for an admitted one)
            await self._admitted(call)
        try:
            result = await self._transport.embed(req, call)
        except BaseException as exc:
            self._told_end(call, exc)
            raise
        self._ref.notify(EndCall(self._incarnation, self._call_id, None, call.bytes_received))
        return result

    async def list_models(self, deadlines: Deadlines | None = None) -> tuple[str, ...]:
        """The model names the endpoint serves; raises ``BackendError``."""
        call = self._call = self._transport.new_call(deadlines)
        if self._admission is not None:  # a queued call (no coroutine for an admitted one)
            await self._admitted(call)
        try:
            models = await self._transport.list_models(call)
        except BaseException as exc:
            self._told_end(call, exc)
            raise
        self._ref.notify(EndCall(self._incarnation, self._call_id, None, call.bytes_received))
        return models

    async def _admitted(self, call: CallClock) -> None:
        """Wait for the slot of a queued call; ask again if the actor restarted."""
        self._call = call
        while (admission := self._admission) is not None:
            try:
                granted = await self._transport.wait_for_slot(admission, call)
            except BaseException:
                if admission.done() and not admission.cancelled() and admission.result():
                    self._admission = None  # granted just as we gave up: free the slot
                    self._told_end(call, None)
                else:
                    self._tell(AbandonCall(self._incarnation, self._call_id))
                raise
            if granted:
                self._admission = None
                return
            # The endpoint actor restarted: the new incarnation admits us afresh.
            assert self._request is not None
            fresh = await self._ref.ask(self._request, timeout=None)
            self._incarnation, self._call_id = fresh._incarnation, fresh._call_id
            self._admission = fresh._admission

    def _told_end(self, call: CallClock, exc: BaseException | None) -> None:
        failure = exc.failure.value if isinstance(exc, BackendError) else None
        self._tell(EndCall(self._incarnation, self._call_id, failure, call.bytes_received))

    def _tell(self, message: EndCall | AbandonCall) -> None:
        self._ref.notify(message)
