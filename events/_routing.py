"""Events the router records about one request: the facts ``explain`` rebuilds it from.

A request's events go to stream ``request/<request_id>``, in this order::

    RequestStarted            the chain, the planned candidates (admissible, in order)
    CandidateSkipped*         every deployment left out of the plan, with the reason
    ( AttemptStarted          one per HTTP call, numbered from 1 across the request
      AttemptSucceeded | AttemptFailed | StreamInterrupted
      FallbackSwitched? )*    before the first attempt on the next model
    RequestSucceeded | RequestFailed | RequestCancelled

Every event carries ``request_id`` and ``at`` (wall-clock seconds since the Unix epoch,
like the health events, because a monotonic reading means nothing after a restart);
durations (``latency_s``, ``ttft_s``) are measured on the monotonic clock and stored as
differences, which do survive a restart. Prompt and completion bodies are never stored:
only their lengths and a hash (see DESIGN.md, "Messages and events").

String-valued enumerations (``CandidateSkipped.reason``, ``FallbackSwitched.reason``,
``failure``) are plain ``str`` rather than ``Literal``: a newer release may add a value,
and an older reader must still decode the event instead of turning it into an
``UnknownEvent``. The known values are listed in ``SKIP_REASONS`` and
``FALLBACK_REASONS``.

The router's round-robin and weighted cursors are folded from ``RequestStarted`` and
``FallbackSwitched`` (see ``actors.router._select``), which is why those two carry the
candidate order and the weights in force: no extra cursor event is needed.
"""

from __future__ import annotations

import msgspec

from events._base import Event
from events._codec import default_registry

__all__ = [
    "AttemptFailed",
    "BodyMessage",
    "AttemptStarted",
    "AttemptSucceeded",
    "CandidateSkipped",
    "FALLBACK_REASONS",
    "FallbackSwitched",
    "REQUEST_STREAM_PREFIX",
    "ROUTING_TYPES",
    "RequestCancelled",
    "RequestFailed",
    "RequestStarted",
    "RequestSucceeded",
    "RoutingEvent",
    "SKIP_REASONS",
    "StreamInterrupted",
    "deployment_id",
    "split_deployment",
]

REQUEST_STREAM_PREFIX = "request/"
"""The events of request ``r`` go to stream ``request/<r>``."""

SKIP_REASONS = (
    "unknown_model",  # the endpoint's cached model list lacks the model
    "failed",  # health: permanently failed (auth, ...) until an operator resets it
    "quarantined",  # health: quarantined and the quarantine is not over
    "probing_full",  # health: half-open and every probe slot is taken
    "cool_down",  # health: cooling down after a 429 (Retry-After) until its deadline
    "quota",  # the ledger refuses: the model's quota is used up
    "rate_limited",  # the ledger refuses: the deployment's requests/tokens per minute
    "unavailable",  # any other reason the caller's admission check gives
    "context_window",  # the request (prompt/4 + max_tokens) does not fit the model's window
)
"""Known values of ``CandidateSkipped.reason``."""

FALLBACK_REASONS = ("failure", "quota", "unavailable")
"""Known values of ``FallbackSwitched.reason``: the previous model's attempts failed, its
quota ran out, or it had no admissible deployment left."""


def deployment_id(model: str, endpoint: str) -> str:
    """The id of ``model`` served by ``endpoint``: ``f"{model}@{endpoint}"``.

    Example: ``deployment_id("llama3", "local") == "llama3@local"``.
    """
    return f"{model}@{endpoint}"


def split_deployment(did: str) -> tuple[str, str]:
    """Split a deployment id into ``(model, endpoint)``.

    The split is at the *last* ``@``: endpoint names are config keys without ``@``,
    while a model name may contain one (an Ollama digest, ``name@sha256:...``).

    Raises:
        ValueError: ``did`` has no ``@``.
    """
    model, sep, endpoint = did.rpartition("@")
    if not sep:
        raise ValueError(f"deployment id {did!r} is not of the form 'model@endpoint'")
    return model, endpoint


class BodyMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One stored message of a request (``RequestStarted.prompt``; opt-in)."""

    role: str
    """``system``, ``user``, ``assistant`` or ``tool``."""
    content: str
    """The message text, secrets masked."""


class RoutingEvent(Event, frozen=True, kw_only=True):
    """Base of every routing event: which request, and when (not registered itself)."""

    request_id: str
    """The request's id (also the stream ``request/<request_id>``)."""
    at: float
    """When it happened: wall-clock seconds since the Unix epoch."""


class RequestStarted(RoutingEvent, frozen=True, kw_only=True):
    """A request was accepted and planned.

    The first deployment of ``candidates`` advances its model's round-robin cursor
    (and weighted state, with ``weights``) when folded into ``RouterState``.
    """

    role: str | None
    """The role asked for, or None when a model was asked for directly."""
    model: str | None
    """The model asked for directly, or None when a role was asked for."""
    kind: str | None
    """Task kind for performance tracking (the role's ``kind`` or the role name), as
    folded before recording: a client-chosen kind beyond the bound is ``other``
    (``actors.performance.KindFold``)."""
    stream: bool
    """Whether the caller asked for a stream."""
    chain: tuple[str, ...] = ()
    """The model chain considered: the primary first, then fallbacks, in order."""
    candidates: tuple[str, ...]
    """Admissible deployment ids in the order they will be tried, grouped by model."""
    weights: tuple[float, ...] = ()
    """Weight of each candidate whose model uses ``weighted`` (0.0 for the others),
    parallel to ``candidates``; empty when no model of the plan is weighted."""
    prompt_chars: int
    """Characters over all message contents."""
    prompt_hash: str
    """A hash of the messages (hex), to spot repeats without storing the prompt."""
    messages: int = 0
    """How many messages the request had."""
    prompt: tuple[BodyMessage, ...] | None = None
    """The request's messages, secrets masked, only with ``event_log.store_bodies``;
    None by default (then only ``prompt_chars`` and ``prompt_hash`` are kept)."""
    operation: str = "chat"
    """``chat``, or ``embed`` for an embeddings request (``messages`` then counts the
    inputs)."""


class CandidateSkipped(RoutingEvent, frozen=True, kw_only=True):
    """A deployment of the chain was left out of the plan."""

    deployment: str
    """The deployment id, e.g. ``llama3@local``."""
    reason: str
    """Why: one of ``SKIP_REASONS`` (``quarantined``, ``unknown_model``, ...)."""
    detail: str = ""
    """Human-readable context, e.g. ``quarantined until 12:03:10 (3 timeouts)``."""


class AttemptStarted(RoutingEvent, frozen=True, kw_only=True):
    """One call to one deployment began."""

    attempt: int
    """1 for the request's first attempt; counts across models."""
    deployment: str
    """The deployment id."""
    model: str
    """The model name (as configured)."""
    endpoint: str
    """The endpoint name."""
    backoff_s: float = 0.0
    """Seconds waited (backoff, Retry-After) before this attempt."""
    probe: bool = False
    """Whether this attempt is a half-open probe of a recovering deployment."""


class AttemptSucceeded(RoutingEvent, frozen=True, kw_only=True):
    """An attempt returned a complete, valid response."""

    attempt: int
    deployment: str
    latency_s: float
    """Monotonic seconds from sending to the last byte."""
    ttft_s: float | None = None
    """Seconds to the first token (streams), or None when not measured."""
    prompt_tokens: int | None = None
    """Prompt tokens the backend reported (None when missing or unreadable), counted as
    at most what the call could use (see ``reported_prompt_tokens``)."""
    completion_tokens: int | None = None
    """Completion tokens the backend reported (None when missing or unreadable), counted
    as at most what the call could use (see ``reported_completion_tokens``)."""
    tokens_per_s: float | None = None
    """Completion tokens per second of generation, when known."""
    completion_chars: int = 0
    """Characters of the completion (the body itself is not stored)."""
    queue_s: float | None = None
    """Seconds waiting for a concurrency slot on the endpoint (None when unknown)."""
    connect_s: float | None = None
    """Seconds from the slot to sending the request: a pooled connection taken (about 0)
    or a new one opened (None when unknown)."""
    first_byte_s: float | None = None
    """Seconds from sending the request to the response headers (None when unknown)."""
    reported_prompt_tokens: int | None = None
    """The backend's prompt figure when it was implausible (above what the call could
    use: ``actors.quota._plausible``); ``prompt_tokens`` then holds the bound it is
    counted as. None when the figure was plausible (and in logs written before)."""
    reported_completion_tokens: int | None = None
    """The backend's completion figure when it was implausible (above the call's
    ``max_tokens``, the context window or the ceiling); ``completion_tokens`` then holds
    the bound it is counted as. None when plausible."""

    @property
    def usage_clamped(self) -> bool:
        """Whether a reported figure was implausible and counted as its bound."""
        return self.reported_prompt_tokens is not None or (
            self.reported_completion_tokens is not None
        )


class AttemptFailed(RoutingEvent, frozen=True, kw_only=True):
    """An attempt failed and was classified."""

    attempt: int
    deployment: str
    failure: str
    """The failure class value, e.g. ``timeout_first_byte``, ``rate_limited``."""
    retryable: bool
    """Whether the class allows another attempt."""
    status: int | None = None
    """The HTTP status, if a response arrived."""
    message: str = ""
    """The classified error's message (secrets redacted)."""
    latency_s: float = 0.0
    """Monotonic seconds from sending to the failure."""
    retry_after_s: float | None = None
    """The honoured (capped) Retry-After, seconds, when the backend sent one."""
    queue_s: float | None = None
    """Seconds waiting for a concurrency slot on the endpoint (None when unknown)."""
    connect_s: float | None = None
    """Seconds from the slot to sending the request (None when not reached)."""
    first_byte_s: float | None = None
    """Seconds from sending the request to the response headers (None when not reached)."""


class StreamInterrupted(RoutingEvent, frozen=True, kw_only=True):
    """A stream failed after chunks reached the caller: no fallback is allowed any more.

    The caller receives an explicit error (``actors.router.StreamBroken``) with the
    partial output, never a stream that looks complete; this event is recorded instead
    of ``AttemptFailed``. (The event keeps its name: stored logs carry its tag.)
    """

    attempt: int = 0
    deployment: str
    partial_chars: int
    """Characters already delivered to the caller."""
    failure: str
    """The failure class value."""
    message: str = ""
    latency_s: float = 0.0


class FallbackSwitched(RoutingEvent, frozen=True, kw_only=True):
    """The request moved on from one model of its chain to the next.

    ``candidates`` is the new model's order as re-planned at the switch; its first entry
    advances that model's round-robin cursor when folded into ``RouterState``. An empty
    ``candidates`` advances nothing.
    """

    from_model: str
    to_model: str
    reason: str
    """One of ``FALLBACK_REASONS``."""
    detail: str = ""
    """E.g. ``3 attempts failed (last: timeout_idle)``."""
    candidates: tuple[str, ...] = ()
    """Deployment ids of ``to_model`` in the order they will be tried."""
    weights: tuple[float, ...] = ()
    """Weights parallel to ``candidates`` when ``to_model`` is weighted, else empty."""


class RequestSucceeded(RoutingEvent, frozen=True, kw_only=True):
    """The request got its answer."""

    model: str
    """The model that answered."""
    endpoint: str
    """The endpoint that answered."""
    attempts: int
    """Attempts made, the successful one included."""
    latency_s: float
    """Monotonic seconds from acceptance to the answer, retries and backoff included."""
    content: str | None = None
    """The reply text, secrets masked, only with ``event_log.store_bodies`` (and not for
    streams, whose text went to the caller chunk by chunk); None by default."""

    @property
    def deployment(self) -> str:
        """The deployment id that answered."""
        return deployment_id(self.model, self.endpoint)


class RequestFailed(RoutingEvent, frozen=True, kw_only=True):
    """The request ended with an error (every attempt failed, or none was possible)."""

    attempts: int
    """Attempts made (0 when no deployment was admissible)."""
    error: str
    """The error message the caller received."""
    error_type: str = ""
    """The error's class name, e.g. ``NoDeploymentAvailable``."""
    failure: str | None = None
    """The last attempt's failure class, if any attempt was made."""
    latency_s: float = 0.0


class RequestCancelled(RoutingEvent, frozen=True, kw_only=True):
    """The caller cancelled the request; the upstream call was cancelled too."""

    attempts: int
    """Attempts started before the cancellation."""
    latency_s: float = 0.0
    partial_chars: int = 0
    """Characters already delivered to a streaming caller."""


ROUTING_TYPES: tuple[type[RoutingEvent], ...] = (
    RequestStarted,
    CandidateSkipped,
    AttemptStarted,
    AttemptSucceeded,
    AttemptFailed,
    StreamInterrupted,
    FallbackSwitched,
    RequestSucceeded,
    RequestFailed,
    RequestCancelled,
)
"""Every routing event type: what one request's stream holds."""

for _cls in ROUTING_TYPES:
    default_registry.register(_cls)
