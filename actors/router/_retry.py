"""Retry arithmetic: the retry budget and Retry-After capping.

The backoff delay itself is ``actors._backoff`` (shared with supervision). Pure: time
comes in as arguments, which keeps all of this deterministic in tests.
"""

from __future__ import annotations

import math

import msgspec

__all__ = [
    "RetryBudget",
    "can_retry",
    "effective_retry_after",
    "on_failure",
    "on_success",
]


def effective_retry_after(retry_after: float | None, cap: float) -> float | None:
    """How long to honour a server's Retry-After hint, in seconds.

    Servers send garbage: a negative value means "now" (0); anything longer than ``cap``
    — including ``+inf`` — is capped, so a backend cannot park the caller for a day;
    ``NaN`` carries no information and becomes ``None``, so the caller falls back to its
    own backoff rather than guessing (``-inf`` is negative, hence 0).

    Args:
        retry_after: The parsed hint in seconds, or ``None`` if there was none.
        cap: The longest wait to honour (finite, >= 0).

    Returns:
        Seconds in ``[0, cap]``, or ``None`` when there is no usable hint.

    Raises:
        ValueError: ``cap`` negative or not finite.
    """
    if not (math.isfinite(cap) and cap >= 0.0):
        raise ValueError(f"retry-after cap must be a finite number of seconds >= 0, got {cap!r}")
    if retry_after is None or math.isnan(retry_after):
        return None
    return min(cap, max(0.0, retry_after))


class RetryBudget(msgspec.Struct, frozen=True, kw_only=True):
    """gRPC's retry throttling (proposal A6) as a value: tokens that failures drain.

    Tokens start at ``max_tokens``; each failure costs 1, each success refunds
    ``token_ratio``; retries are allowed only while ``tokens > max_tokens / 2``. With
    the defaults (10, 0.1) a backend failing everything is retried only about 5 times
    before retries stop, and it takes 10 successes to earn back one failure, which bounds
    retry amplification during an outage. ``RetryBudget()`` is a full default budget;
    ``RetryBudget.full(m, r)`` a full one of another size.

    Raises:
        ValueError: On construction, with ``max_tokens <= 0``, ``token_ratio <= 0`` or
            tokens outside ``[0, max_tokens]``.
    """

    max_tokens: float = 10.0
    """Capacity (gRPC caps it at 1000)."""
    token_ratio: float = 0.1
    """Refund per success."""
    tokens: float = 10.0
    """Tokens left; equal to ``max_tokens`` when full."""

    @classmethod
    def full(cls, max_tokens: float = 10.0, token_ratio: float = 0.1) -> RetryBudget:
        """A budget with every token available, as at start-up."""
        return cls(max_tokens=max_tokens, token_ratio=token_ratio, tokens=max_tokens)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_tokens) and self.max_tokens > 0.0):
            raise ValueError(f"retry budget max_tokens must be > 0, got {self.max_tokens!r}")
        if not (math.isfinite(self.token_ratio) and self.token_ratio > 0.0):
            raise ValueError(f"retry budget token_ratio must be > 0, got {self.token_ratio!r}")
        if not 0.0 <= self.tokens <= self.max_tokens:
            raise ValueError(
                f"retry budget tokens must be in [0, max_tokens={self.max_tokens:g}], "
                f"got {self.tokens!r}"
            )


# gRPC counts in thousandths of a token; rounding to 3 places keeps repeated 0.1 refunds
# from drifting (ten refunds give exactly 1.0, not 0.9999999999999999).
def _tokens(value: float) -> float:
    return round(value, 3)


def on_success(budget: RetryBudget) -> RetryBudget:
    """The budget after a successful attempt: ``token_ratio`` refunded, up to the max."""
    tokens = min(budget.max_tokens, _tokens(budget.tokens + budget.token_ratio))
    return msgspec.structs.replace(budget, tokens=tokens)


def on_failure(budget: RetryBudget) -> RetryBudget:
    """The budget after a failed attempt: one token spent, never below zero."""
    return msgspec.structs.replace(budget, tokens=max(0.0, _tokens(budget.tokens - 1.0)))


def can_retry(budget: RetryBudget) -> bool:
    """Whether a retry is allowed now: only while ``tokens > max_tokens / 2``."""
    return budget.tokens > budget.max_tokens / 2
