"""Request event batches (as the driver records them) for the quota counting tests."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    Event,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)


@dataclass(frozen=True)
class Req:
    """One request: where it went, how big it was, how it ended."""

    model: str = "llama3"
    endpoint: str = "a"
    role: str | None = "generator"
    prompt_chars: int = 400
    failures: int = 0
    """Failed attempts (released: nothing charged) before the end."""
    end: str = "ok"
    """``ok``, ``broken`` (a stream broke after text), ``failed`` or ``cancelled``."""
    prompt_tokens: int | None = 100
    completion_tokens: int | None = 20
    completion_chars: int = 80
    partial_chars: int = 30


def batch(rid: str, req: Req, at: float) -> tuple[Event, ...]:
    """The request's events, in the order the driver records them."""
    did = f"{req.model}@{req.endpoint}"
    events: list[Event] = [
        RequestStarted(
            request_id=rid, at=at, role=req.role, model=None if req.role else req.model,
            kind=None, stream=req.end == "broken", candidates=(did,),
            prompt_chars=req.prompt_chars, prompt_hash="00",
        )
    ]  # fmt: skip
    attempt = 0
    for _ in range(req.failures):
        attempt += 1
        events += [
            AttemptStarted(
                request_id=rid, at=at, attempt=attempt, deployment=did, model=req.model,
                endpoint=req.endpoint,
            ),
            AttemptFailed(
                request_id=rid, at=at, attempt=attempt, deployment=did,
                failure="server_error", retryable=True,
            ),
        ]  # fmt: skip
    if req.end in ("ok", "broken"):
        attempt += 1
        events.append(
            AttemptStarted(
                request_id=rid, at=at, attempt=attempt, deployment=did, model=req.model,
                endpoint=req.endpoint,
            )
        )  # fmt: skip
    if req.end == "ok":
        events += [
            AttemptSucceeded(
                request_id=rid, at=at, attempt=attempt, deployment=did, latency_s=0.1,
                prompt_tokens=req.prompt_tokens, completion_tokens=req.completion_tokens,
                completion_chars=req.completion_chars,
            ),
            RequestSucceeded(
                request_id=rid, at=at, model=req.model, endpoint=req.endpoint,
                attempts=attempt, latency_s=0.1,
            ),
        ]  # fmt: skip
    elif req.end == "broken":
        events += [
            StreamInterrupted(
                request_id=rid, at=at, attempt=attempt, deployment=did,
                partial_chars=req.partial_chars, failure="timeout_idle",
            ),
            RequestFailed(request_id=rid, at=at, attempts=attempt, error="stream broken"),
        ]  # fmt: skip
    elif req.end == "failed":
        events.append(RequestFailed(request_id=rid, at=at, attempts=attempt, error="failed"))
    else:
        events.append(RequestCancelled(request_id=rid, at=at, attempts=attempt))
    return tuple(events)


tokens = st.one_of(st.none(), st.integers(-5, 20_000_000))
requests = st.builds(
    Req,
    model=st.sampled_from(["llama3", "qwen"]),
    endpoint=st.sampled_from(["a", "b"]),
    role=st.sampled_from([None, "generator", "escalation"]),
    prompt_chars=st.integers(0, 5_000),
    failures=st.integers(0, 2),
    end=st.sampled_from(["ok", "ok", "broken", "failed", "cancelled"]),
    prompt_tokens=tokens,
    completion_tokens=tokens,
    completion_chars=st.integers(0, 3_000),
    partial_chars=st.integers(0, 3_000),
)
gaps = st.sampled_from([0.0, 1.0, 600.0, 30_000.0, 90_000.0])
"""Seconds between two requests: some cross the daily reset, some skip a day."""
