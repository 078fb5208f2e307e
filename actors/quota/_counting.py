"""Usage counted from a request's own events, for requests that reserved no quota.

With no limit configured nothing can be refused, so a request neither reserves nor
settles: the ledger counts its usage from the events the request records anyway
(stream ``request/<id>``). ``evolve`` (``_state``) folds them with these rules:

- ``RequestStarted`` opens the request (its role and prompt size, for the scopes and
  the estimates below);
- ``AttemptSucceeded`` charges 1 request and the reported tokens to the attempt's
  model, role and endpoint; a missing count is estimated from the characters the
  event records, 4 per token (prompt: ``RequestStarted.prompt_chars``; completion:
  ``completion_chars``);
- ``StreamInterrupted`` (text reached the caller, then the stream broke) charges 1
  request and the estimate of the prompt plus the text delivered;
- a failed or cancelled attempt charges nothing (as a released reservation);
- the request's end (``RequestSucceeded``/``RequestFailed``/``RequestCancelled``)
  closes it.

A request that reserved (a limit was configured when it ran, or a log written before
this rule: every request reserved then) is counted by its quota events instead: its
``QuotaReserved``/``QuotaSettled``/``QuotaReleased`` mark it *held*, which makes the
fold pass over its request events, so a request is counted once whichever events a
log holds. A request's events are appended as one batch when it ends, after its quota
events; the marks last until then (``HELD_FOR`` bounds what a lost batch leaves).

Pure: no clocks, no I/O.
"""

from __future__ import annotations

import math

import msgspec

from events._base import Event
from events._quota import (
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
)
from events._routing import (
    AttemptSucceeded,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)

__all__ = [
    "COUNTED_TYPES",
    "ENDS",
    "HELD_FOR",
    "LEDGER_TYPES",
    "MAX_REPORTED_TOKENS",
    "OpenRequest",
    "attempt_tokens",
    "clamp_tokens",
    "recent",
]

MAX_REPORTED_TOKENS = 10_000_000
"""Reported token counts are clamped to ``[0, MAX_REPORTED_TOKENS]`` per field: a backend
reporting absurd usage must not exhaust a day's quota with one response (no model has a
context window of this size)."""

HELD_FOR = 900.0
"""Seconds a mark (held or open request) is kept at a period start after the request's
last event: its batch follows its quota events within moments, so an older mark is
one whose batch was lost (a crash); dropping it keeps the ledger small."""

ENDS = (RequestSucceeded, RequestFailed, RequestCancelled)
"""The events that end a request."""


def _tags(*classes: type[Event]) -> frozenset[str]:
    return frozenset(str(cls.__struct_config__.tag) for cls in classes)


COUNTED_TYPES = _tags(RequestStarted, AttemptSucceeded, StreamInterrupted, *ENDS)
"""The request events the ledger folds (besides its own stream's)."""
LEDGER_TYPES = COUNTED_TYPES | _tags(
    QuotaPeriodStarted,
    QuotaReserved,
    QuotaSettled,
    QuotaReleased,
    QuotaWarningIssued,
    QuotaExceededRecorded,
)
"""Every event type the ledger folds: its own (stream ``quota/ledger``) and the request
events it counts usage from (a projection's ``types``)."""


class OpenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request counted from its own events, between its start and its end."""

    role: str | None = None
    """The role it was made for (a scope it counts in), if any."""
    prompt_chars: int = 0
    """Characters of its messages or inputs (the estimate of an unreported prompt)."""
    at: float = 0.0
    """When it started, wall-clock epoch seconds."""


def clamp_tokens(value: int) -> int:
    """``value`` within ``[0, MAX_REPORTED_TOKENS]``."""
    if 0 <= value <= MAX_REPORTED_TOKENS and type(value) is int:
        return value
    return min(max(int(value), 0), MAX_REPORTED_TOKENS)


def attempt_tokens(event: AttemptSucceeded | StreamInterrupted, prompt_chars: int) -> int:
    """The tokens an attempt is charged: reported counts (clamped), missing ones
    estimated from characters (4 a token, rounded up)."""
    if isinstance(event, StreamInterrupted):
        return _estimate(prompt_chars) + _estimate(event.partial_chars)
    reported = event.prompt_tokens
    prompt = _estimate(prompt_chars) if reported is None else clamp_tokens(reported)
    if event.completion_tokens is not None:
        return prompt + clamp_tokens(event.completion_tokens)
    return prompt + _estimate(event.completion_chars)


def recent(marks: dict[str, float], since: float) -> dict[str, float]:
    """``marks`` without those older than ``since``."""
    if all(at >= since for at in marks.values()):
        return marks
    return {rid: at for rid, at in marks.items() if at >= since}


def _estimate(chars: int) -> int:
    return clamp_tokens(math.ceil(max(chars, 0) / 4))
