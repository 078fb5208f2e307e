"""Per-deployment rate limits: requests and tokens per minute as token buckets (pure).

A limited deployment (``model@endpoint``) has up to two buckets, one of requests
(capacity ``rpm``) and one of tokens (capacity ``tpm``). Each refills continuously at
its capacity per minute and never holds more than its capacity. A reservation takes 1
request and its token estimate; settling corrects the token bucket by the difference
between the estimate and the tokens charged (a refund, or a further charge that may
leave it below zero); a release refunds the token estimate but not the request (the
backend may have counted the call).

No event is written per refill: the bucket levels are a fold of the reservation
events the ledger writes anyway. ``QuotaReserved`` carries the ``rpm``/``tpm`` in force
for its deployment, so replay rebuilds the buckets without the policy, from the events'
wall-clock ``at`` alone (time never runs backwards for a bucket: an earlier ``at`` than
the bucket's refills nothing). A limit added or changed later applies from the next
reservation on.

Admission: a request needs 1 request and ``min(estimate, tpm)`` tokens available (a
request larger than a whole minute's tokens is admitted on a full bucket).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

import msgspec

from actors.quota._errors import RateLimited
from events._base import Event
from events._quota import QuotaExceededRecorded

__all__ = ["Bucket", "RateLimit", "RateUnit", "rate_limit_name", "rate_limited", "rate_refusal"]

RateUnit = Literal["rpm", "tpm"]
_MINUTE = 60.0


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment's rates; ``None`` means unlimited."""

    rpm: int | None = None
    """Requests per minute (>= 1)."""
    tpm: int | None = None
    """Prompt plus completion tokens per minute (>= 1)."""

    def over(self, default: RateLimit | None) -> RateLimit:
        """This limit with each unset field taken from ``default``."""
        if default is None:
            return self
        return RateLimit(
            rpm=default.rpm if self.rpm is None else self.rpm,
            tpm=default.tpm if self.tpm is None else self.tpm,
        )

    @property
    def empty(self) -> bool:
        """Neither rate is limited."""
        return self.rpm is None and self.tpm is None


class Bucket(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment's buckets as of ``at`` (wall-clock epoch seconds)."""

    at: float = 0.0
    requests: float = 0.0
    """Requests available (at most ``rpm``)."""
    tokens: float = 0.0
    """Tokens available (at most ``tpm``; below zero after an underestimate)."""
    rpm: int | None = None
    """The rate in force (from the last reservation)."""
    tpm: int | None = None

    @classmethod
    def full(cls, at: float, rate: RateLimit) -> Bucket:
        """A bucket nobody has taken from yet."""
        return cls(
            at=at, requests=float(rate.rpm or 0), tokens=float(rate.tpm or 0), rpm=rate.rpm,
            tpm=rate.tpm,
        )  # fmt: skip

    def refilled(self, now: float, rate: RateLimit | None = None) -> Bucket:
        """The bucket at ``now`` under ``rate`` (default: its own); never goes back."""
        rate = rate or RateLimit(rpm=self.rpm, tpm=self.tpm)
        elapsed = max(now - self.at, 0.0) if math.isfinite(now) else 0.0
        return Bucket(
            at=max(self.at, now) if math.isfinite(now) else self.at,
            requests=_fill(self.requests, rate.rpm, elapsed),
            tokens=_fill(self.tokens, rate.tpm, elapsed),
            rpm=rate.rpm,
            tpm=rate.tpm,
        )

    def taken(self, requests: float, tokens: float) -> Bucket:
        """``requests`` and ``tokens`` taken (negative: given back, capped at capacity)."""
        return msgspec.structs.replace(
            self,
            requests=_cap(self.requests - requests, self.rpm),
            tokens=_cap(self.tokens - tokens, self.tpm),
        )

    def frees_in(self, unit: RateUnit, need: float) -> float:
        """Seconds until ``need`` of ``unit`` are available (0 if they are)."""
        level, limit = (self.requests, self.rpm) if unit == "rpm" else (self.tokens, self.tpm)
        if limit is None or level >= need:
            return 0.0
        return (need - level) * _MINUTE / limit


def _fill(level: float, limit: int | None, elapsed: float) -> float:
    if limit is None:
        return 0.0
    return min(float(limit), level + elapsed * limit / _MINUTE)


def _cap(level: float, limit: int | None) -> float:
    return level if limit is None else min(float(limit), level)


def rate_limit_name(deployment: str, unit: RateUnit) -> str:
    """``deployment:<model@endpoint>.<rpm|tpm>``, e.g. ``deployment:llama3@a.rpm``."""
    return f"deployment:{deployment}.{unit}"


def rate_refusal(
    bucket: Bucket | None, rate: RateLimit, tokens: int, now: float
) -> tuple[RateUnit, int, int, float] | None:
    """Why a deployment's buckets refuse a request now, or None if they admit it.

    Args:
        bucket: The deployment's bucket (None: never used, so full).
        rate: The rates in force.
        tokens: The request's token estimate.
        now: Wall-clock epoch seconds.

    Returns:
        ``(unit, limit, available, frees_in)``: the limit that refuses, what is available
        of it (rounded down), and seconds until the request would fit.
    """
    current = Bucket.full(now, rate) if bucket is None else bucket.refilled(now, rate)
    needs: tuple[tuple[RateUnit, int | None, float, float], ...] = (
        ("rpm", rate.rpm, 1.0, current.requests),
        ("tpm", rate.tpm, float(min(tokens, rate.tpm or 0)), current.tokens),
    )
    for unit, limit, need, level in needs:
        if limit is not None and level < need - 1e-9:
            return unit, limit, math.floor(level), current.frees_in(unit, need)
    return None


def rate_limited(
    deployment: str,
    refusal: tuple[RateUnit, int, int, float],
    *,
    request_id: str,
    model: str,
    role: str | None,
    tokens: int,
    period: str,
    now: float,
    started: tuple[Event, ...],
) -> RateLimited:
    """The error (and the ``QuotaExceededRecorded`` it carries) of a rate refusal."""
    unit, limit, available, frees_in = refusal
    name = rate_limit_name(deployment, unit)
    requested = 1 if unit == "rpm" else tokens
    used = max(limit - available, 0)
    frees_at = now + frees_in
    record = QuotaExceededRecorded(
        at=now, limit=name, used=used, limit_value=limit, requested=requested,
        request_id=request_id, model=model, role=role, period=period, resets_at=frees_at,
    )  # fmt: skip
    what = "requests" if unit == "rpm" else "tokens"
    text = (
        f"rate limit {name} reached: {limit:,} {what} per minute, {available:,} available"
        + (f", this request needs up to {requested:,}" if unit == "tpm" else "")
        + f"; frees in {frees_in:.1f} s (at {_utc(frees_at)})"
    )
    return RateLimited(
        text, deployment=deployment, retry_after=frees_in, limit=name, used=used,
        limit_value=limit, requested=requested, resets_at=frees_at, events=(*started, record),
    )  # fmt: skip


def _utc(epoch: float) -> str:
    if not math.isfinite(epoch):
        return "?"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S UTC")
