"""One request as the request fold (``_requests_model``) sees it: a mutable row of slots.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIELDS", "RequestRow"]

FIELDS = (
    "request_id",
    "position",
    "started",
    "ended",
    "role",
    "model",
    "primary",
    "served_model",
    "deployment",
    "tried",
    "skipped",
    "outcome",
    "failure",
    "error",
    "latency_s",
    "ttft_s",
    "attempts",
    "failed_attempts",
    "fallbacks",
    "stream",
    "operation",
    "prompt_tokens",
    "completion_tokens",
)


class RequestRow:
    """One request as its events tell it so far (mutable inside the fold; read-only outside)."""

    __slots__ = (*FIELDS, "_last_attempt")

    request_id: str
    position: int
    """Position of the first of its events the fold saw."""
    started: float
    """``RequestStarted.at``, else its first event's ``at``."""
    ended: float | None
    """``at`` of its terminal event; None while running."""
    role: str | None
    model: str | None
    """The model asked for (``RequestStarted.model``; None when a role was asked for)."""
    primary: str | None
    """The first model of its chain (a role's primary model), else the model asked for."""
    served_model: str | None
    """The model that answered (``RequestSucceeded.model``)."""
    deployment: str | None
    """The deployment that answered, else the last one tried."""
    tried: tuple[str, ...]
    """Deployments attempted, in order (a retry on the same one repeats it)."""
    skipped: tuple[str, ...]
    """Deployments left out of the plan (``CandidateSkipped``), in order."""
    outcome: str
    """One of ``OUTCOMES``."""
    failure: str | None
    """``RequestFailed.failure``, else the failure class of its last failed attempt."""
    error: str
    """``RequestFailed.error``, else the last failed attempt's message, else ``""``."""
    latency_s: float | None
    """The terminal event's ``latency_s``; None while running."""
    ttft_s: float | None
    """Time to first token of the attempt that answered (streams), if measured."""
    attempts: int
    failed_attempts: int
    """``AttemptFailed`` plus ``StreamInterrupted``."""
    fallbacks: int
    """``FallbackSwitched`` count."""
    stream: bool
    operation: str
    """``chat`` or ``embed``."""
    prompt_tokens: int | None
    completion_tokens: int | None
    """Token counts the answering attempt reported."""
    _last_attempt: int
    """The fold's bookkeeping: the attempt number last counted (not part of the row)."""

    def __init__(self, request_id: str, position: int, started: float) -> None:
        self.request_id = request_id
        self.position = position
        self.started = started
        self.ended = None
        self.role = None
        self.model = None
        self.primary = None
        self.served_model = None
        self.deployment = None
        self.tried = ()
        self.skipped = ()
        self.outcome = "running"
        self.failure = None
        self.error = ""
        self.latency_s = None
        self.ttft_s = None
        self.attempts = 0
        self.failed_attempts = 0
        self.fallbacks = 0
        self.stream = False
        self.operation = "chat"
        self.prompt_tokens = None
        self.completion_tokens = None
        self._last_attempt = -1

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (tuples as lists)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in FIELDS}
        out["tried"] = list(self.tried)
        out["skipped"] = list(self.skipped)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestRow):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return (
            f"RequestRow({self.request_id!r}, outcome={self.outcome!r}, "
            f"deployment={self.deployment!r}, latency_s={self.latency_s!r})"
        )
