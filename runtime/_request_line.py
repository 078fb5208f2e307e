"""The canonical per-request line, folded from a request's routing events (pure).

``RequestLines.feed`` takes the events the Runtime publishes, in order, and returns a
``RequestLine`` when one ends (``RequestSucceeded``, ``RequestFailed``,
``RequestCancelled``); ``runtime._logging.log_requests`` logs it as ``runtime.request``.

Memory is bounded: a request's state is dropped when it ends, and at most
``max_in_flight`` requests are tracked — past that the oldest is evicted (counted), so
a terminal event that never arrives cannot leak memory. A terminal event for a request
whose start was missed (evicted, or subscribed mid-request) still yields a line with
what that event says.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from events import (
    AttemptFailed,
    AttemptSucceeded,
    Event,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "RequestLine", "RequestLines"]

DEFAULT_MAX_IN_FLIGHT = 10_000


class RequestLine(msgspec.Struct, frozen=True, kw_only=True):
    """Everything worth knowing about one finished request, in one record."""

    request_id: str
    outcome: str
    """``succeeded``, ``failed``, ``cancelled`` or ``interrupted`` (a stream that broke
    after text reached the caller)."""
    role: str | None = None
    model: str | None = None
    """The model asked for directly (None when a role was asked for)."""
    primary: str | None = None
    """The first model of the chain considered (the asked model, or the role's first)."""
    kind: str | None = None
    stream: bool | None = None
    """Whether the caller streamed (None when the start was not seen)."""
    answered_model: str | None = None
    answered_endpoint: str | None = None
    attempts: int = 0
    fallbacks: int = 0
    fallback_chain: tuple[str, ...] = ()
    """Models in the order the request moved through them, e.g. ``("a", "b")``."""
    failures: tuple[str, ...] = ()
    """Failure class of each failed (or interrupted) attempt, in order."""
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_type: str | None = None
    error: str | None = None

    def fields(self) -> dict[str, object]:
        """The line as log fields: unset values left out, the chain as ``a->b``."""
        out: dict[str, object] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None or (name in ("fallback_chain", "failures") and not value):
                continue
            out[name] = "->".join(value) if name == "fallback_chain" else value
        if self.failures:
            out["failures"] = list(self.failures)
        return out


class _Open:
    """The mutable state of one request in flight."""

    __slots__ = (
        "attempts",
        "chain",
        "completion_tokens",
        "failures",
        "interrupted",
        "kind",
        "model",
        "primary",
        "prompt_tokens",
        "role",
        "stream",
        "ttft_s",
    )

    def __init__(self) -> None:
        self.role: str | None = None
        self.model: str | None = None
        self.primary: str | None = None
        self.kind: str | None = None
        self.stream: bool | None = None
        self.attempts = 0
        self.chain: list[str] = []
        self.failures: list[str] = []
        self.interrupted = False
        self.ttft_s: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None


class RequestLines:
    """Folds routing events into one ``RequestLine`` per finished request."""

    def __init__(self, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._max = max_in_flight
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self.evicted = 0
        """Requests forgotten because more than ``max_in_flight`` were open."""

    def __len__(self) -> int:
        return len(self._open)

    def feed(self, event: Event) -> RequestLine | None:
        """Fold ``event``; the finished request's line if it was a terminal event."""
        match event:
            case RequestStarted():
                self._started(event)
            case AttemptSucceeded():
                state = self._state(event.request_id)
                state.attempts = max(state.attempts, event.attempt)
                state.ttft_s = event.ttft_s
                state.prompt_tokens = event.prompt_tokens
                state.completion_tokens = event.completion_tokens
            case AttemptFailed():
                state = self._state(event.request_id)
                state.attempts = max(state.attempts, event.attempt)
                state.failures.append(event.failure)
            case StreamInterrupted():
                state = self._state(event.request_id)
                state.attempts = max(state.attempts, event.attempt)
                state.failures.append(event.failure)
                state.interrupted = True
            case FallbackSwitched():
                state = self._state(event.request_id)
                if not state.chain:
                    state.chain.append(event.from_model)
                state.chain.append(event.to_model)
            case RequestSucceeded() | RequestFailed() | RequestCancelled():
                return self._finish(event)
            case _:
                pass
        return None

    def _started(self, event: RequestStarted) -> None:
        state = self._state(event.request_id)
        state.role, state.model, state.kind = event.role, event.model, event.kind
        state.stream = event.stream
        state.primary = event.chain[0] if event.chain else event.model

    def _state(self, request_id: str) -> _Open:
        state = self._open.get(request_id)
        if state is None:
            state = self._open[request_id] = _Open()
            while len(self._open) > self._max:
                self._open.popitem(last=False)
                self.evicted += 1
        return state

    def _finish(self, event: RequestSucceeded | RequestFailed | RequestCancelled) -> RequestLine:
        state = self._open.pop(event.request_id, None) or _Open()
        line = RequestLine(
            request_id=event.request_id,
            outcome="cancelled",
            role=state.role,
            model=state.model,
            primary=state.primary or (state.chain[0] if state.chain else None),
            kind=state.kind,
            stream=state.stream,
            attempts=max(state.attempts, event.attempts),
            fallbacks=max(len(state.chain) - 1, 0),
            fallback_chain=tuple(state.chain),
            failures=tuple(state.failures),
            latency_s=event.latency_s,
        )
        match event:
            case RequestSucceeded():
                return msgspec.structs.replace(
                    line,
                    outcome="succeeded",
                    answered_model=event.model,
                    answered_endpoint=event.endpoint,
                    ttft_s=state.ttft_s,
                    prompt_tokens=state.prompt_tokens,
                    completion_tokens=state.completion_tokens,
                )
            case RequestFailed():
                return msgspec.structs.replace(
                    line,
                    outcome="interrupted" if state.interrupted else "failed",
                    error_type=event.error_type or None,
                    error=event.error,
                )
            case _:
                return line
