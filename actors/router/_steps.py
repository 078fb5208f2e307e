"""What a request's machine asks its driver to do (steps) and what happened (outcomes).

Pure data. Every outcome names the step it answers and carries the two clocks the
machine needs: ``at`` (wall-clock seconds, stamped on events) and ``now`` (monotonic
seconds, for the request deadline and latencies). See ``_machine`` for the rules.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.endpoint import BackendError, CallTimings, ToolCall, Usage
from actors.quota import QuotaExceeded
from actors.router._select import Plan
from actors.router._types import Reply
from events import Event

__all__ = [
    "Admit",
    "Admitted",
    "Attempt",
    "Cancelled",
    "Crashed",
    "Delivered",
    "Done",
    "Failed",
    "Finish",
    "NotAdmitted",
    "Outcome",
    "PassOver",
    "QuotaRefused",
    "QuotaUnavailable",
    "Repeat",
    "Replan",
    "Replanned",
    "Reserve",
    "Reserved",
    "Step",
    "Succeeded",
    "Target",
    "Wait",
]


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """The deployment an admitted attempt goes to."""

    deployment: str
    model: str
    endpoint: str
    attempt: int
    """1 for the request's first attempt."""
    backoff_s: float = 0.0
    probe_round: int | None = None
    """The probe permit to release after the attempt, if it is a half-open probe."""
    reservation: str | None = None
    """The attempt's quota reservation (settled on success, else released)."""


# --- steps ---------------------------------------------------------------------------


class PassOver(msgspec.Struct, frozen=True, kw_only=True):
    """Take ``deployment`` off this pass without trying it (no I/O)."""

    deployment: str
    reason: str | None = None
    """The skip reason to record; None for a deployment ruled out earlier (silent)."""
    detail: str = ""
    stop_reason: str | None = None
    """Why the request stops if nothing else is tried after this."""


class Repeat(msgspec.Struct, frozen=True):
    """Start another pass over the current model's deployments (no I/O, unless it first
    waits ``seconds`` for a rate-limited deployment's bucket to refill)."""

    seconds: float = 0.0


class Replan(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the router to fall back to the rest of the chain (``PlanFallback``)."""

    rest: tuple[str, ...]
    from_model: str
    reason: str
    detail: str


class Wait(msgspec.Struct, frozen=True, kw_only=True):
    """Back off before retrying ``deployment`` (sleep on the clock)."""

    deployment: str
    seconds: float


class Reserve(msgspec.Struct, frozen=True, kw_only=True):
    """Reserve the attempt's quota (and, with limits, wait for its commit)."""

    deployment: str
    model: str
    endpoint: str
    reservation_id: str
    estimated_tokens: int


class Admit(msgspec.Struct, frozen=True, kw_only=True):
    """Ask health whether ``deployment`` may be used now (``AcquireProbe``)."""

    deployment: str
    reservation: str | None = None
    """Held for this attempt: the driver releases it if health says no."""


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """Call the deployment."""

    target: Target
    remaining_s: float
    """Seconds left before the request deadline (the call's total deadline is cut to it)."""


class Finish(msgspec.Struct, frozen=True, kw_only=True):
    """The request is over: return ``reply`` or raise ``error`` (neither: it was
    cancelled, and the driver re-raises the cancellation)."""

    reply: Reply | None = None
    error: Exception | None = None


Step = PassOver | Repeat | Replan | Wait | Reserve | Admit | Attempt | Finish


# --- outcomes ------------------------------------------------------------------------


class Done(msgspec.Struct, frozen=True, kw_only=True):
    """A step without a result of its own was carried out (pass over, repeat, wait,
    finish)."""

    step: PassOver | Repeat | Wait | Finish
    at: float
    now: float


class Replanned(msgspec.Struct, frozen=True, kw_only=True):
    """The router's answer to ``Replan``: the fallback plan and its (folded) events."""

    step: Replan
    at: float
    now: float
    plan: Plan
    events: tuple[Event, ...] = ()


class Reserved(msgspec.Struct, frozen=True, kw_only=True):
    """The reservation is held (committed, when limits are configured)."""

    step: Reserve
    at: float
    now: float


class QuotaRefused(msgspec.Struct, frozen=True, kw_only=True):
    """A limit refused the reservation."""

    step: Reserve
    at: float
    now: float
    error: QuotaExceeded


class QuotaUnavailable(msgspec.Struct, frozen=True, kw_only=True):
    """The reservation could not be recorded: quotas fail closed."""

    step: Reserve
    at: float
    now: float
    error: Exception


class Admitted(msgspec.Struct, frozen=True, kw_only=True):
    """Health admitted the deployment (with a probe permit when half-open)."""

    step: Admit
    at: float
    now: float
    probe_round: int | None = None


class NotAdmitted(msgspec.Struct, frozen=True, kw_only=True):
    """Health refused the deployment since planning (quarantined, failed, probes full)."""

    step: Admit
    at: float
    now: float
    reason: str
    detail: str


class Delivered(msgspec.Struct, frozen=True, kw_only=True):
    """A stream's first chunk reached the caller: no fallback from here on."""

    step: Attempt
    at: float
    now: float


class Succeeded(msgspec.Struct, frozen=True, kw_only=True):
    """The call produced the whole answer."""

    step: Attempt
    at: float
    now: float
    latency_s: float
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    usage: Usage | None = None
    content: str = ""
    """The reply text (a stream's is not kept: only its length, ``chars``)."""
    chars: int = 0
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: Any = None
    timings: CallTimings | None = None
    """Where the call's time went before the response (slot wait, connect, first byte)."""


class Failed(msgspec.Struct, frozen=True, kw_only=True):
    """The call failed (before or, for a stream, after text reached the caller)."""

    step: Attempt
    at: float
    now: float
    error: BackendError
    latency_s: float
    partial: str = ""
    """The text delivered before the failure (streams)."""
    timings: CallTimings | None = None
    """Where the call's time went before it failed (None for a step not reached)."""


class Cancelled(msgspec.Struct, frozen=True, kw_only=True):
    """The caller gave up (cancelled the task or closed the stream)."""

    at: float
    now: float
    partial_chars: int = 0


class Crashed(msgspec.Struct, frozen=True, kw_only=True):
    """Something other than a backend failed (an actor stopped, a bug): the request ends."""

    at: float
    now: float
    error: Exception


Outcome = (
    Done
    | Replanned
    | Reserved
    | QuotaRefused
    | QuotaUnavailable
    | Admitted
    | NotAdmitted
    | Delivered
    | Succeeded
    | Failed
    | Cancelled
    | Crashed
)
