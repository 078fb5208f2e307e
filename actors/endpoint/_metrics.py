"""What one endpoint call measured, and the endpoint's counters (pure)."""

from __future__ import annotations

import msgspec

from actors.endpoint._types import ChatResult, EmbedResult, Timings, Usage

__all__ = [
    "CallResult",
    "CallTimings",
    "Counters",
    "EmbedCallResult",
    "EndpointStatistics",
    "tokens_per_second",
]


class CallTimings(msgspec.Struct, frozen=True, kw_only=True):
    """Where one call's time went before the response arrived (seconds, None = unknown).

    ``queue_s`` + ``connect_s`` + ``first_byte_s`` is the time to the response headers.
    """

    queue_s: float | None = None
    """Waiting for one of the endpoint's concurrency slots (``max_concurrency``)."""
    connect_s: float | None = None
    """From the slot to sending the request: a pooled connection taken (about 0) or a
    new one opened (TCP/TLS)."""
    first_byte_s: float | None = None
    """From sending the request to the response headers: the backend queueing it,
    loading the model, reading the prompt (a non-streamed reply: generating it all)."""


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    """A complete reply plus how fast it came."""

    result: ChatResult
    """The parsed reply."""
    latency_s: float
    """Seconds from sending the request (a concurrency slot held) to the parsed body."""
    ttft_s: float | None
    """Seconds to the first content: for a non-stream call, to the response headers."""
    tokens_per_s: float | None
    """Generation speed when usage is known (backend timings preferred), else None."""


class EmbedCallResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vectors of an embeddings call plus how long it took."""

    result: EmbedResult
    """The parsed vectors, in input order."""
    latency_s: float
    """Seconds from sending the request (a concurrency slot held) to the parsed body."""


class EndpointStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one endpoint client's counters (read by inspect and /metrics)."""

    name: str
    """The endpoint's configured name."""
    url: str
    """Its base URL."""
    inflight: int
    """Calls holding a concurrency slot right now."""
    max_concurrency: int
    """The slot count."""
    waiting: int
    """Calls waiting for a slot right now."""
    requests: int
    """Calls started (chat, stream, embed and list_models), whatever their outcome."""
    failures: int
    """Calls that ended in a BackendError (cancellations are not failures)."""
    failures_by_class: dict[str, int]
    """Failures per FailureClass value, e.g. ``{"timeout_idle": 2}``."""
    bytes_received: int
    """Response body bytes read from the backend."""


def tokens_per_second(
    usage: Usage | None,
    timings: Timings | None,
    *,
    generation_s: float | None,
) -> float | None:
    """Completion tokens per second of generation, or None when it cannot be known.

    The backend's own eval timing (Ollama ``eval_duration``, llama.cpp ``predicted_ms``)
    wins: it excludes queueing, prompt processing and network time, which the client
    cannot separate out.

    Args:
        usage: Token counts of the reply, if reported.
        timings: Server timings of the reply, if reported.
        generation_s: The client-side estimate of the generation time, if any.

    Returns:
        Tokens per second, or None without usage, without completion tokens or
        without a positive duration.
    """
    if usage is None or usage.completion_tokens <= 0:
        return None
    eval_ns = timings.eval_duration_ns if timings is not None else None
    if eval_ns is not None and eval_ns > 0:
        return usage.completion_tokens / (eval_ns / 1e9)
    if generation_s is None or generation_s <= 0:
        return None
    return usage.completion_tokens / generation_s


class Counters:
    """The mutable counters behind :class:`EndpointStatistics` (one per client)."""

    def __init__(self) -> None:
        self.inflight = 0
        self.waiting = 0
        self.requests = 0
        self.bytes_received = 0
        self.failures: dict[str, int] = {}

    def failed(self, failure: str) -> None:
        """Count one failure of class ``failure`` (a FailureClass value)."""
        self.failures[failure] = self.failures.get(failure, 0) + 1

    def snapshot(self, *, name: str, url: str, max_concurrency: int) -> EndpointStatistics:
        """A frozen copy for readers."""
        return EndpointStatistics(
            name=name,
            url=url,
            inflight=self.inflight,
            max_concurrency=max_concurrency,
            waiting=self.waiting,
            requests=self.requests,
            failures=sum(self.failures.values()),
            failures_by_class=dict(self.failures),
            bytes_received=self.bytes_received,
        )
