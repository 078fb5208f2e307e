"""What routing takes and gives: its policy, a request, a reply, attempt records.

Plain frozen Structs, no behaviour beyond validation: the runtime builds them from its
config and hands them to the ``Driver``; users receive ``Reply``/``StreamChunk`` and see
``AttemptRecord`` in errors.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from actors.endpoint import Deadlines, Message, Parameters, ToolCall, Usage
from actors.router._select import ModelRoute

__all__ = [
    "AttemptRecord",
    "Embeddings",
    "ModelSettings",
    "Reply",
    "RetryPolicy",
    "RouteRequest",
    "StreamChunk",
]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How hard the router tries: attempts, backoff, retry budget, Retry-After, deadline.

    Raises:
        ValueError: On construction with a value out of range (the field is named).
    """

    max_attempts: int = 3
    """Attempts per request across every deployment and fallback, the first included."""
    backoff_base: float = 0.5
    """Retry n of the same deployment waits ``U(0, min(cap, base * 2**n))`` seconds."""
    backoff_cap: float = 10.0
    """Upper bound of one backoff."""
    budget_max_tokens: float = 10.0
    """Size of each deployment's retry budget (gRPC A6)."""
    budget_ratio: float = 0.1
    """Tokens a success refunds to the deployment's budget."""
    retry_after_cap: float = 30.0
    """Longest ``Retry-After`` honoured, seconds."""
    request_deadline: float = 600.0
    """Seconds a whole request may take, retries, backoff and fallbacks included."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"retry policy: max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("backoff_base", "backoff_cap", "retry_after_cap"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"retry policy: {name} must be a finite number >= 0")
        for name in ("budget_max_tokens", "budget_ratio", "request_deadline"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"retry policy: {name} must be a finite number > 0")


class ModelSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One model as the router sees it: its route, defaults and per-deployment deadlines."""

    route: ModelRoute
    """Deployments (endpoint names) and the strategy among them."""
    max_tokens: int | None = None
    """Default cap on generated tokens when the call sets none (the quota estimate's)."""
    context_length: int | None = None
    """The configured context window in tokens (every deployment); None: what the
    catalog discovered per deployment, else unknown (``_windows``)."""
    defaults: Parameters = Parameters()
    """The model's configured parameters (``max_tokens``, ``temperature``, ``options``),
    under whatever a call sets."""
    deadlines: dict[str, Deadlines] = msgspec.field(default_factory=dict)
    """Endpoint name -> deadlines of this model there; missing: the client's defaults."""


class RouteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One request to route."""

    chain: tuple[str, ...]
    """Configured model names: the primary first, then the fallbacks."""
    messages: tuple[Message, ...] = ()
    """The conversation, oldest first (empty for embeddings)."""
    inputs: tuple[str, ...] = ()
    """The texts to embed: an embeddings request when not empty."""
    role: str | None = None
    """The role asked for (None when a model was asked for)."""
    model: str | None = None
    """The model asked for directly (None when a role was asked for)."""
    kind: str | None = None
    """Task kind for performance tracking."""
    params: Parameters = Parameters()
    """How to generate; what is not set comes from the model's defaults."""
    dimensions: int | None = None
    """Embeddings only: truncate the vectors to this many dimensions."""
    request_id: str | None = None
    """The request's id; the router makes one when None."""
    rank_models: bool = False
    """Order the chain's models by measured performance for the request's kind (a role
    with ``strategy: performance``), decided by the router at planning."""


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One call to one deployment, as the caller gets to see it."""

    attempt: int
    """1 for the first attempt of the request."""
    deployment: str
    """``model@endpoint``."""
    model: str
    endpoint: str
    ok: bool
    """Whether this attempt produced the answer."""
    failure: str | None = None
    """The failure class value (``server_error``, ``timeout_first_byte``...) if not ok."""
    message: str = ""
    """The classified error's message (what failed, what to do)."""
    status: int | None = None
    """HTTP status, when a response arrived."""
    latency_s: float = 0.0
    """Seconds the attempt took."""
    backoff_s: float = 0.0
    """Seconds waited before it."""

    def __str__(self) -> str:
        if self.ok:
            return f"#{self.attempt} {self.deployment}: ok in {self.latency_s:.3f} s"
        return f"#{self.attempt} {self.deployment}: {self.failure}: {self.message}"


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``chat``."""

    content: str
    """The reply text."""
    model: str
    """The configured model that answered."""
    endpoint: str
    """The endpoint that answered."""
    usage: Usage | None
    """Token counts the backend reported (None when missing or not sane)."""
    request_id: str
    """The request's id (its events are in stream ``request/<id>``)."""
    attempts: tuple[AttemptRecord, ...]
    """Every attempt made, the successful last one included."""
    latency_s: float
    """Seconds from acceptance to the answer, retries and backoff included."""
    finish_reason: str | None = None
    """``stop``, ``length``, ``tool_calls``... when the backend says."""
    role: str | None = None
    """The role asked for, if any."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model asks to call (answer each with a ``tool`` message)."""
    logprobs: Any = None
    """Log probabilities as the backend sent them, when the call asked for them."""

    @property
    def deployment(self) -> str:
        """``model@endpoint`` of the answer."""
        return f"{self.model}@{self.endpoint}"

    def message(self) -> dict[str, Any]:
        """The reply as an assistant message to append to the conversation (OpenAI
        shape: ``content`` and, when the model called tools, ``tool_calls``)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": call.type,
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


class StreamChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One piece of a streamed answer; the last one has ``done=True``."""

    content: str
    """Text to append to the reply (may be empty on the final chunk)."""
    model: str
    """The configured model answering."""
    endpoint: str
    """The endpoint answering."""
    request_id: str
    done: bool = False
    """True only on the final chunk, which is sent once the stream ended cleanly."""
    finish_reason: str | None = None
    usage: Usage | None = None
    """Token counts, on the final chunk when reported."""
    tool_calls: tuple[ToolCall, ...] = ()
    """On the final chunk: the tool calls of the whole stream, assembled."""
    logprobs: Any = None
    """This chunk's log probabilities as the backend sent them, when asked for."""


class Embeddings(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``embed``: one vector per input, in order."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    """The configured model that answered."""
    endpoint: str
    usage: Usage | None
    """Prompt tokens the backend reported (None when missing or not sane)."""
    request_id: str
    attempts: tuple[AttemptRecord, ...]
    latency_s: float
    role: str | None = None

    @property
    def deployment(self) -> str:
        """``model@endpoint`` of the answer."""
        return f"{self.model}@{self.endpoint}"
