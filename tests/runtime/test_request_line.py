"""The canonical per-request line folded from routing events (pure, no runtime)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)
from runtime._request_line import RequestLine, RequestLines

AT = 1_700_000_000.0


def started(rid: str, *, role: str | None = "coder", stream: bool = False) -> RequestStarted:
    return RequestStarted(
        request_id=rid,
        at=AT,
        role=role,
        model=None if role else "llama3",
        kind="code",
        stream=stream,
        chain=("llama3", "qwen"),
        candidates=("llama3@a", "llama3@b"),
        prompt_chars=5,
        prompt_hash="ab",
    )


def failed(rid: str, attempt: int, deployment: str, failure: str) -> AttemptFailed:
    return AttemptFailed(
        request_id=rid,
        at=AT,
        attempt=attempt,
        deployment=deployment,
        failure=failure,
        retryable=True,
    )


def test_a_request_with_a_fallback_becomes_one_line() -> None:
    lines = RequestLines()
    events = [
        started("r1"),
        CandidateSkipped(request_id="r1", at=AT, deployment="llama3@b", reason="quarantined"),
        AttemptStarted(
            request_id="r1", at=AT, attempt=1, deployment="llama3@a", model="llama3", endpoint="a"
        ),
        failed("r1", 1, "llama3@a", "timeout_idle"),
        FallbackSwitched(
            request_id="r1", at=AT, from_model="llama3", to_model="qwen", reason="failure"
        ),
        AttemptSucceeded(
            request_id="r1",
            at=AT,
            attempt=2,
            deployment="qwen@a",
            latency_s=0.5,
            ttft_s=0.1,
            prompt_tokens=7,
            completion_tokens=30,
        ),
    ]
    assert all(lines.feed(e) is None for e in events)
    line = lines.feed(
        RequestSucceeded(
            request_id="r1", at=AT, model="qwen", endpoint="a", attempts=2, latency_s=0.7
        )
    )
    assert line == RequestLine(
        request_id="r1",
        outcome="succeeded",
        role="coder",
        model=None,
        primary="llama3",
        kind="code",
        stream=False,
        answered_model="qwen",
        answered_endpoint="a",
        attempts=2,
        fallbacks=1,
        fallback_chain=("llama3", "qwen"),
        failures=("timeout_idle",),
        latency_s=0.7,
        ttft_s=0.1,
        prompt_tokens=7,
        completion_tokens=30,
    )
    assert len(lines) == 0  # evicted when terminal
    fields = line.fields()
    assert fields["fallback_chain"] == "llama3->qwen" and fields["failures"] == ["timeout_idle"]
    assert "model" not in fields and "error" not in fields  # unset values are left out


def test_an_interrupted_stream_and_a_failure_and_a_cancel() -> None:
    lines = RequestLines()
    lines.feed(started("s", stream=True))
    lines.feed(
        StreamInterrupted(
            request_id="s",
            at=AT,
            attempt=1,
            deployment="llama3@a",
            partial_chars=12,
            failure="connection",
        )
    )
    interrupted = lines.feed(
        RequestFailed(
            request_id="s",
            at=AT,
            attempts=1,
            error="stream broke",
            error_type="StreamInterrupted",
            failure="connection",
        )
    )
    lines.feed(started("f", role=None))
    lines.feed(failed("f", 1, "llama3@a", "server_error"))
    lines.feed(failed("f", 2, "llama3@b", "auth"))
    failure = lines.feed(
        RequestFailed(
            request_id="f",
            at=AT,
            attempts=2,
            error="all failed",
            error_type="AllCandidatesFailed",
            latency_s=1.5,
        )
    )
    lines.feed(started("c", stream=True))
    cancelled = lines.feed(RequestCancelled(request_id="c", at=AT, attempts=1, latency_s=0.2))
    assert interrupted is not None and interrupted.outcome == "interrupted"
    assert interrupted.stream is True and interrupted.failures == ("connection",)
    assert failure is not None and failure.outcome == "failed" and failure.model == "llama3"
    assert failure.failures == ("server_error", "auth") and failure.attempts == 2
    assert (failure.error_type, failure.error) == ("AllCandidatesFailed", "all failed")
    assert cancelled is not None and cancelled.outcome == "cancelled"
    assert cancelled.answered_model is None and cancelled.latency_s == 0.2


def test_a_terminal_event_without_a_start_still_yields_a_line() -> None:
    line = RequestLines().feed(
        RequestSucceeded(
            request_id="late", at=AT, model="llama3", endpoint="b", attempts=1, latency_s=0.3
        )
    )
    assert line is not None and line.outcome == "succeeded" and line.role is None
    assert line.answered_endpoint == "b" and line.stream is None


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=200))
def test_in_flight_state_stays_bounded(ids: list[int]) -> None:
    lines = RequestLines(max_in_flight=8)
    for i in ids:
        lines.feed(started(f"r{i}"))
        assert len(lines) <= 8
    assert len(lines) == min(len(set(ids)), 8)
    assert (lines.evicted > 0) == (len(set(ids)) > 8)


def test_eviction_drops_the_oldest_request() -> None:
    lines = RequestLines(max_in_flight=2)
    for rid in ("a", "b", "c"):
        lines.feed(started(rid))
    assert lines.evicted == 1 and len(lines) == 2
    old = lines.feed(RequestCancelled(request_id="a", at=AT, attempts=0))
    kept = lines.feed(RequestCancelled(request_id="c", at=AT, attempts=0))
    assert old is not None and old.role is None  # its start was forgotten
    assert kept is not None and kept.role == "coder"
    with pytest.raises(ValueError, match="max_in_flight"):
        RequestLines(max_in_flight=0)
