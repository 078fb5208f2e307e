"""Errors the router raises to its caller; each carries the request's attempts.

The tree::

    RoutingError
     ├── AllCandidatesFailed   every admissible deployment was tried (or the attempt
     │    │                    limit, retry budget or deadline stopped the request)
     │    └── NoCandidates     no deployment of the chain was admissible at all
     ├── RequestRejected       the backend refused the request itself (context overflow,
     │                         invalid parameters): the caller's to fix, not retried
     └── StreamBroken          a stream failed after text reached the caller; carries the
                               partial text (no fallback is possible any more)

``RoutingError`` derives from ``LLMRuntimeError`` (``events``); the runtime raises these
very classes and re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.router._select import Skip
from actors.router._types import AttemptRecord
from events import LLMRuntimeError

__all__ = [
    "AllCandidatesFailed",
    "NoCandidates",
    "RequestRejected",
    "RoutingError",
    "StreamBroken",
]

_SHOWN = 20
"""Most attempts or skips spelled out in a message (all are on the exception)."""


class RoutingError(LLMRuntimeError):
    """Root of the router's errors.

    Attributes:
        request_id: The request's id (stream ``request/<id>`` holds its events).
        attempts: Every attempt made, in order.
    """

    request_id: str
    attempts: tuple[AttemptRecord, ...]


class AllCandidatesFailed(RoutingError):
    """No deployment of the chain produced an answer.

    Attributes:
        skipped: Deployments that were not tried, with the reason.
        reason: Why the router stopped (``every candidate failed``, ``retry budget
            exhausted``, ``request deadline of 600 s passed``...).
    """

    def __init__(
        self,
        request_id: str,
        attempts: Iterable[AttemptRecord],
        skipped: Iterable[Skip] = (),
        *,
        reason: str = "every candidate failed",
    ) -> None:
        self.request_id = request_id
        self.attempts = tuple(attempts)
        self.skipped = tuple(skipped)
        self.reason = reason
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"request {self.request_id}: no deployment answered ({self.reason})"
        lines = [head]
        lines.extend(f"  attempt {record}" for record in self.attempts[:_SHOWN])
        lines.extend(
            f"  skipped {s.deployment}: {s.reason}" + (f" ({s.detail})" if s.detail else "")
            for s in self.skipped[:_SHOWN]
        )
        hidden = max(0, len(self.attempts) - _SHOWN) + max(0, len(self.skipped) - _SHOWN)
        if hidden:
            lines.append(f"  ... and {hidden} more (see .attempts and .skipped)")
        lines.append("  check rt.health(), the backends' logs, or add fallback models to the role")
        return "\n".join(lines)


class NoCandidates(AllCandidatesFailed):
    """Nothing was admissible (all quarantined, failed, or lacking the model): no attempt."""

    def __init__(self, request_id: str, skipped: Iterable[Skip]) -> None:
        super().__init__(request_id, (), skipped, reason="no deployment is available")


class RequestRejected(RoutingError):
    """A backend refused the request itself (a request-caused 4xx): not retried; or,
    for ``context_overflow``, no model of the chain has a window the request fits in
    (larger models are tried first, see ``actors.router._windows``).

    Attributes:
        failure: The failure class value (``context_overflow``, ``generation_error``).
        status: The HTTP status, if any.
    """

    def __init__(
        self,
        request_id: str,
        attempts: Iterable[AttemptRecord],
        failure: str,
        message: str,
        status: int | None = None,
        *,
        by_backend: bool = True,
    ) -> None:
        self.request_id = request_id
        self.attempts = tuple(attempts)
        self.failure = failure
        self.status = status
        self.detail = message
        if not by_backend:  # the router's own verdict: nothing of the chain can take it
            super().__init__(
                f"request {request_id} cannot be served ({failure}): {message}; this is "
                "caused by the request itself"
            )
            return
        super().__init__(
            f"request {request_id} was rejected by the backend ({failure}): {message}; "
            "this is caused by the request itself, so it was not retried elsewhere"
        )


class StreamBroken(RoutingError):
    """A stream broke after text had reached the caller.

    The event recorded for it keeps its stored name, ``events.StreamInterrupted``.

    Attributes:
        partial: The text delivered before the failure.
        failure: The failure class value.
        deployment: ``model@endpoint`` that was streaming.
    """

    def __init__(
        self,
        request_id: str,
        attempts: Iterable[AttemptRecord],
        *,
        partial: str,
        failure: str,
        deployment: str,
        message: str,
    ) -> None:
        self.request_id = request_id
        self.attempts = tuple(attempts)
        self.partial = partial
        self.failure = failure
        self.deployment = deployment
        self.detail = message
        super().__init__(
            f"request {request_id}: the stream from {deployment} broke off after "
            f"{len(partial)} characters ({failure}: {message}); the partial text is in "
            ".partial; retry the request to get a complete answer"
        )
