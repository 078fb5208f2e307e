"""A request's state in the machine, and what every request of a runtime shares (pure)."""

from __future__ import annotations

import msgspec

from actors.quota import QuotaExceeded
from actors.router._select import Skip
from actors.router._steps import Target
from actors.router._types import AttemptRecord, Reply, RetryPolicy, RouteRequest

__all__ = ["BUDGET_STOP", "MachineSettings", "Pending", "RequestState"]

BUDGET_STOP = "the retry budget is exhausted (the backends keep failing)"
"""The stop reason of a request whose retries the budget refused."""


class MachineSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What every request of a runtime shares: the retry policy and the quota rules."""

    policy: RetryPolicy = msgspec.field(default_factory=RetryPolicy)
    quota: bool = False
    """Whether each attempt reserves quota first."""
    quota_fallback: bool = False
    """Whether a refused model makes the request fall back (else it fails)."""
    default_completion: int = 1024
    """Completion tokens estimated without any ``max_tokens``."""
    max_tokens: dict[str, int | None] = msgspec.field(default_factory=dict)
    """Model -> its configured ``max_tokens`` (the estimate's default)."""
    rate_wait: float = 0.0
    """Seconds a request may wait in all for rate-limited deployments to refill when
    every deployment of its model is over its per-minute rate (``quota.wait_seconds``)."""


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """The candidate being prepared: taken off the queue, not yet admitted."""

    deployment: str
    backoff_s: float = 0.0
    reserved: bool = False
    reservation: str | None = None


class RequestState(msgspec.Struct, frozen=True, kw_only=True):
    """One request in progress (the rules are in ``actors.router._machine``)."""

    request_id: str
    request: RouteRequest
    settings: MachineSettings
    stream: bool
    started: float
    """Monotonic seconds when the request was accepted."""
    chain: tuple[str, ...]
    prompt_chars: int
    # the walk
    model: str | None = None
    group: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    pass_start: int = 0
    repeat: bool = False
    replanned: bool = False
    """A fallback was looked for since the last pass began (and nothing was found)."""
    refused: QuotaExceeded | None = None
    """The current model's quota refusal, if that is why it is being left."""
    stop_reason: str = "every candidate failed"
    # per deployment
    tries: dict[str, int] = msgspec.field(default_factory=dict)
    dead: frozenset[str] = frozenset()
    retry_after: dict[str, float] = msgspec.field(default_factory=dict)
    # what happened
    attempts: int = 0
    records: tuple[AttemptRecord, ...] = ()
    skipped: tuple[Skip, ...] = ()
    quota_refusals: tuple[QuotaExceeded, ...] = ()
    windows: dict[str, int] = msgspec.field(default_factory=dict)
    """Deployment id -> its context window for this request, where known (``_windows``)."""
    overflowed: dict[str, int | None] = msgspec.field(default_factory=dict)
    """Deployment id -> its window (None: unknown) when its backend said the request
    overflows it: no deployment with a window that is not larger is tried after it."""
    reservations: int = 0
    budget_refusals: int = 0
    rate_free: dict[str, float] = msgspec.field(default_factory=dict)
    """Deployment rate-limited in this pass -> monotonic seconds when it frees."""
    rate_waited: float = 0.0
    """Seconds waited so far for rate limits to refill."""
    pending: Pending | None = None
    target: Target | None = None
    delivered: bool = False
    # the end
    reply: Reply | None = None
    error: Exception | None = None
    finished: bool = False
    """The terminal event was returned."""

    @property
    def deadline(self) -> float:
        """Monotonic seconds when the request must be over."""
        return self.started + self.settings.policy.request_deadline
