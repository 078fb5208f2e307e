"""Requests written to a real log for the ``slow``/``failed`` tests, one batch each.

The runtime appends a request's events together when it ends; ``write_request`` does
the same, stamped with the request's end time, so the log looks as the runtime leaves it.
"""

from __future__ import annotations

from pathlib import Path

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    Event,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
)
from tests.runtime.inspect._logs import append_events

__all__ = ["request_events", "write_request"]


def request_events(
    rid: str,
    at: float,
    latency: float,
    *,
    role: str | None = "gen",
    model: str | None = None,
    tries: tuple[str, ...] = ("llama3@a",),
    outcome: str = "succeeded",
    failure: str = "server_error",
    fallback_to: str | None = None,
    error: str | None = None,
) -> list[Event]:
    """One request's events: attempts on ``tries`` (all but the last fail, or all when it
    fails), ending ``latency`` seconds after ``at`` as ``outcome``."""
    events: list[Event] = [
        RequestStarted(
            request_id=rid,
            at=at,
            role=role,
            model=model,
            kind=role,
            stream=False,
            chain=("llama3", fallback_to) if fallback_to else ("llama3",),
            candidates=tries,
            prompt_chars=5,
            prompt_hash="00",
        )
    ]
    end = at + latency
    for n, did in enumerate(tries, 1):
        name, _, endpoint = did.rpartition("@")
        step = at + latency * n / (len(tries) + 1)
        events.append(
            AttemptStarted(
                request_id=rid, at=step, attempt=n, deployment=did, model=name, endpoint=endpoint
            )
        )
        last = n == len(tries)
        if last and outcome == "succeeded":
            events.append(
                AttemptSucceeded(request_id=rid, at=end, attempt=n, deployment=did, latency_s=0.1)
            )
        elif not (last and outcome == "cancelled"):
            events.append(
                AttemptFailed(
                    request_id=rid,
                    at=step,
                    attempt=n,
                    deployment=did,
                    failure=failure,
                    retryable=True,
                    message=f"{did} answered HTTP 500",
                )
            )
        if fallback_to and n == len(tries) - 1:
            events.append(
                FallbackSwitched(
                    request_id=rid, at=step, from_model="llama3", to_model=fallback_to, reason="x"
                )
            )
    if outcome == "succeeded":
        name, _, endpoint = tries[-1].rpartition("@")
        events.append(
            RequestSucceeded(
                request_id=rid,
                at=end,
                model=name,
                endpoint=endpoint,
                attempts=len(tries),
                latency_s=latency,
            )
        )
    elif outcome == "failed":
        events.append(
            RequestFailed(
                request_id=rid,
                at=end,
                attempts=len(tries),
                error=error or f"no deployment answered ({failure})",
                failure=failure,
                latency_s=latency,
            )
        )
    else:
        events.append(
            RequestCancelled(request_id=rid, at=end, attempts=len(tries), latency_s=latency)
        )
    return events


async def write_request(path: Path, rid: str, at: float, latency: float, **how: object) -> None:
    """Append one request (see ``request_events``) as the runtime would, when it ends."""
    events = request_events(rid, at, latency, **how)  # type: ignore[arg-type]
    await append_events(path, f"request/{rid}", events, now=at + latency)
