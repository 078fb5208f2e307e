"""One request as its driver sees it, and how the driver asks the actors (a shell).

``RunningRequest`` holds the machine's state and the events it produced; ``ask``
retries once on a supervised failure (the restarted actor rebuilt its state from the
log).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors._actor import M
from actors._ask import Ask, R
from actors._ref import ActorRef
from actors.catalog import CatalogMessage
from actors.endpoint import CallTimings, Chunk, EndpointMessage
from actors.health import HealthMessage
from actors.performance import PerformanceMessage
from actors.quota import QuotaMessage
from actors.router._bodies import Mask, with_bodies
from actors.router._errors import RequestRejected, StreamBroken
from actors.router._machine import MachineSettings, RequestState, on_outcome
from actors.router._messages import RequestOutcome, RetryView, RouterMessage
from actors.router._steps import Attempt, Outcome, Succeeded
from actors.router._types import RouteRequest, StreamChunk
from events import Event

__all__ = [
    "UNSTARTED",
    "OpenStream",
    "Refs",
    "RunningRequest",
    "ask",
    "new_id",
    "outcome_of",
]

Publish = Callable[[Event], None]


@dataclass(frozen=True, kw_only=True)
class Refs:
    """The actors a request talks to."""

    router: ActorRef[RouterMessage]
    health: ActorRef[HealthMessage]
    catalog: ActorRef[CatalogMessage]
    performance: ActorRef[PerformanceMessage]
    endpoints: Mapping[str, ActorRef[EndpointMessage]]
    quota: ActorRef[QuotaMessage] | None = None


@dataclass(frozen=True, kw_only=True)
class OpenStream:
    """A stream whose first chunk is about to reach the caller (no fallback from here)."""

    step: Attempt
    chunks: AsyncGenerator[Chunk, None]
    first: Chunk
    started: float
    """Monotonic seconds when the call was admitted."""
    ttft: float
    """Seconds to the first chunk."""
    timings: CallTimings | None = None
    """Slot wait, connect and first-byte time of the call (known once it is open)."""


class RunningRequest:
    """The driver's side of one request: the machine's state and what it produced."""

    __slots__ = (
        "chars", "events", "final_chunk", "id", "mask", "observed_start", "opened", "publish",
        "recorded", "request", "router_told", "state", "vectors", "view", "windows",
    )  # fmt: skip

    def __init__(
        self, request: RouteRequest, request_id: str, publish: Publish, mask: Mask | None = None
    ) -> None:
        self.request = request
        self.mask = mask
        """Masks secrets in the bodies stored on the events; None: bodies not stored."""
        self.id = request_id
        self.publish = publish
        self.events: list[Event] = []
        self.state: RequestState = UNSTARTED
        self.view = RetryView()
        self.chars = 0
        """Characters of text delivered to the caller (streams)."""
        self.final_chunk: StreamChunk | None = None
        self.vectors: tuple[tuple[float, ...], ...] = ()
        """An embeddings request's vectors, once an attempt succeeded."""
        self.opened: OpenStream | None = None
        """A stream's open call once its first chunk is due (``Delivered``)."""
        self.recorded = False
        self.observed_start = False
        """The windows folded ``RequestStarted`` at planning (performance chains)."""
        self.router_told = False
        """The router heard the request's end with its last attempt's."""
        self.windows: dict[str, int] = {}
        """Deployment id -> its context window for this request, where known (``_fit``)."""

    def add(self, events: Sequence[Event], reply: str | None = None) -> None:
        if self.mask is not None:  # event_log.store_bodies: bodies go on, masked
            events = with_bodies(events, self.request, reply, self.mask)
        self.events.extend(events)
        for event in events:
            self.publish(event)

    def apply(self, outcome: Outcome) -> None:
        self.state, events = on_outcome(self.state, outcome)
        if events:
            if isinstance(outcome, Succeeded) and not self.state.stream:
                self.add(events, outcome.content)
            else:
                self.add(events)


UNSTARTED = RequestState(
    request_id="",
    request=RouteRequest(chain=()),
    settings=MachineSettings(),
    stream=False,
    started=0.0,
    chain=(),
    prompt_chars=0,
    finished=True,  # nothing to record for a request that never planned
)


def outcome_of(state: RequestState) -> RequestOutcome:
    error = state.error
    if state.reply is not None:
        return "succeeded"
    if error is None:
        return "cancelled"
    if isinstance(error, StreamBroken):
        return "interrupted"
    return "rejected" if isinstance(error, RequestRejected) else "failed"


def ask(ref: ActorRef[M], message: Ask[R]) -> Coroutine[Any, Any, R]:
    """Ask; if the handler failed, ask the restarted actor once more (see module doc).

    ``ref.ask``'s own coroutine (``again=True``), not a wrapper: one frame less."""
    return ref.ask(message, timeout=None, again=True)


_ID_PREFIX = uuid.uuid4().hex[:12]
_ids = itertools.count(1)


def new_id() -> str:
    """A request id unique across processes: a random per-process prefix, a counter."""
    return f"{_ID_PREFIX}{next(_ids):08x}"
