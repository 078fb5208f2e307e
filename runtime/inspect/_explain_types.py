"""The records ``explain`` produces: a request's plan, its steps and its outcome.

Plain frozen data: ``_explain_render`` turns an ``Explanation`` into text, ``--json``
prints it as is.
"""

from __future__ import annotations

from typing import Any

import msgspec

from events import BodyMessage

__all__ = ["Candidate", "Explanation", "Outcome", "Step"]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One deployment the request planned to try, in order."""

    deployment: str
    model: str
    endpoint: str
    weight: float | None = None
    """Its weight when its model routes ``weighted``, else None."""


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened to the request (or to a deployment it involved)."""

    kind: str
    """``skipped``, ``attempt``, ``fallback``, ``health`` or ``finished``."""
    at: float
    """Wall-clock epoch seconds (the event's own ``at``)."""
    offset_s: float
    """Seconds since the request started."""
    ended_at: float | None = None
    """When an attempt's result came (wall-clock epoch seconds); None for other steps."""
    text: str
    """One line saying what happened, for a person."""
    details: tuple[str, ...] = ()
    """Further lines: the error message, the skip's detail, token counts..."""
    tone: str = ""
    """``good``, ``bad``, ``warn`` or ``""``: how the text renders in colour."""
    deployment: str | None = None
    events: tuple[str, ...] = ()
    """Type names of the events this step was built from."""
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    """The fields of those events (``request_id`` and ``at`` left out), for ``--json``."""


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """How the request ended."""

    status: str
    """``succeeded``, ``failed``, ``interrupted`` (a stream broke after text was
    delivered), ``cancelled`` or ``unfinished`` (no end recorded)."""
    attempts: int
    deployment: str | None = None
    """The deployment that answered (``succeeded``) or was streaming (``interrupted``)."""
    latency_s: float | None = None
    """Seconds from acceptance to the end, retries and backoff included."""
    error: str = ""
    error_type: str = ""
    failure: str | None = None
    """The last failure class, if any attempt failed."""
    partial_chars: int = 0
    """Characters a streaming caller had received before the end."""


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """One request, reconstructed from the log alone."""

    request_id: str
    role: str | None
    model: str | None
    kind: str | None
    stream: bool
    operation: str = "chat"
    """``chat`` or ``embed`` (an embeddings request: ``messages`` counts inputs)."""
    started_at: float
    prompt_chars: int
    messages: int
    chain: tuple[str, ...]
    """The models considered: the primary, then its fallbacks."""
    candidates: tuple[Candidate, ...]
    """Deployments planned at the start, in the order they were to be tried."""
    steps: tuple[Step, ...]
    outcome: Outcome
    attempts: int
    fallbacks: int
    summary: str
    """A plain-English paragraph: who answered, after what, and why."""
    prompt: tuple[BodyMessage, ...] | None = None
    """The request's messages (masked), when the log stores bodies; else None."""
    reply: str | None = None
    """The reply text (masked), when the log stores bodies; else None."""
    unreached_changes: int = 0
    """Health changes, during the request, of candidates it never reached (neither
    attempted nor skipped): left out of ``steps``."""
