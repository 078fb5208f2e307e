"""Reconstructing a request from hand-written events: steps, outcome, summary."""

from __future__ import annotations

import json

import pytest

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)
from runtime.inspect._explain_model import explain, request_id_of
from runtime.inspect._render import dumps_json
from runtime.inspect._when import clock_time
from tests.runtime.inspect._requests import WALL, stored

RID = "0190aa"
T = WALL


def started(**changes: object) -> RequestStarted:
    fields: dict[str, object] = {
        "request_id": RID,
        "at": T,
        "role": "gen",
        "model": None,
        "kind": "gen",
        "stream": False,
        "chain": ("llama3", "qwen"),
        "candidates": ("llama3@a", "llama3@b", "qwen@a"),
        "prompt_chars": 11,
        "prompt_hash": "abc",
        "messages": 1,
    }
    fields.update(changes)
    return RequestStarted(**fields)  # type: ignore[arg-type]


def attempt(n: int, did: str, at: float, **changes: object) -> AttemptStarted:
    model, _, endpoint = did.rpartition("@")
    return AttemptStarted(
        request_id=RID,
        at=at,
        attempt=n,
        deployment=did,
        model=model,
        endpoint=endpoint,
        **changes,  # type: ignore[arg-type]
    )


def failed(n: int, did: str, at: float, failure: str, **changes: object) -> AttemptFailed:
    return AttemptFailed(
        request_id=RID,
        at=at,
        attempt=n,
        deployment=did,
        failure=failure,
        retryable=True,
        **changes,  # type: ignore[arg-type]
    )


def fallback_request() -> list[Event]:
    """llama3@a answers 500, llama3@b refuses the connection, qwen@a answers."""
    return [
        started(),
        attempt(1, "llama3@a", T + 0.001),
        failed(
            1,
            "llama3@a",
            T + 0.011,
            "server_error",
            status=500,
            message="a: HTTP 500",
            latency_s=0.01,
        ),
        attempt(2, "llama3@b", T + 0.012),
        failed(2, "llama3@b", T + 0.020, "connection", message="b: refused", latency_s=0.008),
        FallbackSwitched(
            request_id=RID,
            at=T + 0.021,
            from_model="llama3",
            to_model="qwen",
            reason="failure",
            detail="2 attempt(s) failed (last: connection)",
            candidates=("qwen@a",),
        ),
        attempt(3, "qwen@a", T + 0.021),
        AttemptSucceeded(
            request_id=RID,
            at=T + 0.221,
            attempt=3,
            deployment="qwen@a",
            latency_s=0.2,
            prompt_tokens=3,
            completion_tokens=17,
            completion_chars=90,
        ),
        RequestSucceeded(
            request_id=RID, at=T + 0.222, model="qwen", endpoint="a", attempts=3, latency_s=0.222
        ),
    ]


QUARANTINED_B = DeploymentQuarantined(
    deployment="llama3@b",
    at=T + 0.0205,
    until=T + 30.0205,
    quarantine_count=1,
    reason="3 consecutive failures (last: connection)",
    failure="connection",
)


def test_a_fallback_is_told_step_by_step_with_the_quarantine_it_caused() -> None:
    expl = explain(stored(fallback_request()), stored([QUARANTINED_B]))
    assert [s.kind for s in expl.steps] == [
        "attempt",
        "attempt",
        "health",
        "fallback",
        "attempt",
        "finished",
    ]
    first, second, health, switch, third, end = expl.steps
    assert first.text == (
        "attempt 1 on llama3@a: failed after 0.010s: server_error (retryable), HTTP 500"
    )
    assert first.details == ("a: HTTP 500",) and first.tone == "bad"
    assert second.offset_s == pytest.approx(0.012, abs=1e-6)
    assert health.text.startswith("health: llama3@b quarantined for 30s (until ")
    assert switch.text == "fell back from llama3 to qwen because its attempts failed"
    assert switch.details == ("2 attempt(s) failed (last: connection)", "next candidates: qwen@a")
    assert third.text.startswith("attempt 3 on qwen@a: succeeded in 0.200s, 17 completion tokens")
    assert end.text == "answered by qwen@a after 3 attempts, 0.222s in all"
    assert (expl.attempts, expl.fallbacks) == (3, 1)
    outcome = expl.outcome
    assert (outcome.status, outcome.deployment, outcome.attempts) == ("succeeded", "qwen@a", 3)
    assert outcome.failure == "connection"
    assert expl.summary == (
        "Answered by qwen@a after 3 attempts in 0.222s. It fell back once: from llama3 to "
        "qwen, because llama3@a failed (server_error) and llama3@b failed (connection). "
        "2 attempts failed on the way (llama3@a: server_error, llama3@b: connection)."
    )


def test_the_plan_keeps_the_chain_and_the_weights() -> None:
    events = [started(candidates=("llama3@a", "llama3@b", "qwen@a"), weights=(3.0, 1.0, 0.0))]
    expl = explain(stored(events))
    assert expl.chain == ("llama3", "qwen")
    assert [(c.deployment, c.endpoint, c.weight) for c in expl.candidates] == [
        ("llama3@a", "a", 3.0),
        ("llama3@b", "b", 1.0),
        ("qwen@a", "a", None),
    ]
    assert (expl.role, expl.kind, expl.stream, expl.messages) == ("gen", "gen", False, 1)


def test_a_skipped_quarantined_candidate_shows_its_deadline() -> None:
    earlier = DeploymentQuarantined(
        deployment="llama3@b", at=T - 5.0, until=T + 25.0, quarantine_count=1
    )
    events = [
        started(candidates=("llama3@a",)),
        CandidateSkipped(
            request_id=RID,
            at=T,
            deployment="llama3@b",
            reason="quarantined",
            detail="quarantined for another 25 s (3 consecutive failures)",
        ),
        attempt(1, "llama3@a", T + 0.001),
        AttemptSucceeded(
            request_id=RID, at=T + 0.01, attempt=1, deployment="llama3@a", latency_s=0.009
        ),
        RequestSucceeded(
            request_id=RID, at=T + 0.01, model="llama3", endpoint="a", attempts=1, latency_s=0.01
        ),
    ]
    expl = explain(stored(events), stored([earlier]))
    skipped = expl.steps[0]
    assert skipped.kind == "skipped" and skipped.deployment == "llama3@b"
    assert skipped.text == f"skipped llama3@b: quarantined (until {clock_time(T + 25.0)})"
    assert skipped.details == ("quarantined for another 25 s (3 consecutive failures)",)
    assert "health" not in [s.kind for s in expl.steps]  # the quarantine came before
    assert expl.summary.endswith("Skipped without a call: llama3@b (quarantined).")


def test_a_broken_stream_is_an_interrupted_outcome() -> None:
    events = [
        started(stream=True, candidates=("llama3@a",)),
        attempt(1, "llama3@a", T),
        StreamInterrupted(
            request_id=RID,
            at=T + 0.5,
            attempt=1,
            deployment="llama3@a",
            partial_chars=42,
            failure="bad_response",
            message="the stream ended without a final chunk",
        ),
        RequestFailed(
            request_id=RID,
            at=T + 0.5,
            attempts=1,
            error="stream interrupted",
            error_type="StreamInterrupted",
            failure="bad_response",
            latency_s=0.5,
        ),
    ]
    expl = explain(stored(events))
    assert expl.stream
    outcome = expl.outcome
    assert (outcome.status, outcome.partial_chars, outcome.deployment) == (
        "interrupted",
        42,
        "llama3@a",
    )
    assert expl.steps[0].text.endswith(
        "the stream broke after 42 characters had reached the caller: bad_response"
    )
    assert expl.summary.startswith("The stream from llama3@a broke after 42 characters")


def test_a_request_refused_by_quota_made_no_attempt() -> None:
    events = [
        started(candidates=("llama3@a",), chain=("llama3",)),
        CandidateSkipped(
            request_id=RID,
            at=T,
            deployment="llama3@a",
            reason="quota",
            detail="daily request quota for model 'llama3' exhausted",
        ),
        RequestFailed(
            request_id=RID,
            at=T + 0.001,
            attempts=0,
            error_type="QuotaExceeded",
            error="daily request quota for model 'llama3' exhausted (1 of 1 used)",
        ),
    ]
    expl = explain(stored(events))
    assert expl.outcome.status == "failed" and expl.outcome.error_type == "QuotaExceeded"
    assert expl.steps[0].text == "skipped llama3@a: the quota is used up"
    assert expl.summary.startswith("No attempt was made in 0.000s: daily request quota")
    assert expl.steps[-1].details == (
        "QuotaExceeded: daily request quota for model 'llama3' exhausted (1 of 1 used)",
    )


def test_a_request_without_an_end_is_unfinished() -> None:
    events = [started(), attempt(1, "llama3@a", T), attempt(2, "llama3@b", T + 1)]
    expl = explain(stored(events))
    assert [s.text for s in expl.steps] == [
        "attempt 1 on llama3@a: no result recorded (the process stopped during the call?)",
        "attempt 2 on llama3@b: no result recorded (the process stopped during the call?)",
    ]
    assert expl.outcome.status == "unfinished" and expl.outcome.attempts == 2
    assert "holds no end" in expl.summary


def test_cancelled_backoff_and_probe_are_spelt_out() -> None:
    events = [
        started(candidates=("llama3@a",)),
        attempt(1, "llama3@a", T, backoff_s=0.25, probe=True),
        RequestCancelled(request_id=RID, at=T + 1, attempts=1, latency_s=1.0),
    ]
    expl = explain(stored(events))
    assert expl.steps[0].text.startswith(
        "attempt 1 on llama3@a (after waiting 0.250s, a probe of a recovering deployment)"
    )
    assert expl.outcome.status == "cancelled"
    assert expl.summary == "The caller cancelled the request after 1 attempt in 1.0s."


def test_health_outside_the_request_is_left_out() -> None:
    later = DeploymentRecovered(deployment="llama3@a", at=T + 99, previous="probing")
    expl = explain(stored(fallback_request()), stored([QUARANTINED_B, later]))
    assert [s.kind for s in expl.steps].count("health") == 1


def test_json_carries_every_field_of_each_step() -> None:
    expl = explain(stored(fallback_request()), stored([QUARANTINED_B]))
    decoded = json.loads(dumps_json(expl))
    first = decoded["steps"][0]
    assert first["events"] == ["AttemptStarted", "AttemptFailed"]
    assert first["data"]["failure"] == "server_error" and first["data"]["status"] == 500
    assert "request_id" not in first["data"]
    assert decoded["outcome"]["status"] == "succeeded"
    assert decoded["request_id"] == RID


def test_a_stream_without_request_started_is_refused() -> None:
    with pytest.raises(ValueError, match="RequestStarted"):
        explain(stored([attempt(1, "llama3@a", T)]))
    assert request_id_of(stored([attempt(1, "llama3@a", T)])) == RID
    assert request_id_of([]) is None


def test_a_request_that_failed_everywhere_sums_up_its_attempts() -> None:
    error = (
        f"request {RID}: no deployment answered (the limit of 3 attempts was reached)\n"
        "  attempt #1 qwen@a: server_error: HTTP 500\n"
        "  check rt.health()"
    )
    events = [
        started(chain=("qwen",), candidates=("qwen@a", "llama3@b")),
        attempt(1, "qwen@a", T),
        failed(1, "qwen@a", T + 0.1, "server_error", status=500),
        attempt(2, "qwen@a", T + 0.2),
        failed(2, "qwen@a", T + 0.3, "server_error", status=500),
        attempt(3, "llama3@b", T + 0.4),
        failed(3, "llama3@b", T + 0.5, "timeout_first_byte"),
        RequestFailed(
            request_id=RID,
            at=T + 0.5,
            attempts=3,
            error=error,
            error_type="AllCandidatesFailed",
            failure="timeout_first_byte",
            latency_s=0.5,
        ),
    ]
    expl = explain(stored(events))
    assert expl.outcome.status == "failed" and expl.outcome.failure == "timeout_first_byte"
    assert expl.summary == (
        "The request failed after 3 attempts in 0.500s: no deployment answered (the limit of 3 "
        "attempts was reached). 3 attempts failed (qwen@a: server_error (2 times), "
        "llama3@b: timeout_first_byte)."
    )
    assert expl.steps[-1].details == (f"AllCandidatesFailed: {error}",)


def test_a_skip_that_led_to_the_fallback_is_named_once() -> None:
    events = [
        started(candidates=("llama3@a", "qwen@a")),
        CandidateSkipped(request_id=RID, at=T, deployment="llama3@b", reason="quarantined"),
        CandidateSkipped(request_id=RID, at=T, deployment="qwen@b", reason="unknown_model"),
        attempt(1, "llama3@a", T + 0.1),
        failed(1, "llama3@a", T + 0.2, "connection"),
        FallbackSwitched(
            request_id=RID, at=T + 0.2, from_model="llama3", to_model="qwen", reason="failure"
        ),
        attempt(2, "qwen@a", T + 0.3),
        AttemptSucceeded(request_id=RID, at=T + 0.4, attempt=2, deployment="qwen@a", latency_s=0.1),
        RequestSucceeded(
            request_id=RID, at=T + 0.4, model="qwen", endpoint="a", attempts=2, latency_s=0.4
        ),
    ]
    summary = explain(stored(events)).summary
    assert summary.count("llama3@b") == 1
    assert "because llama3@b was skipped (quarantined) and llama3@a failed (connection)" in summary
    assert summary.endswith(
        "Skipped without a call: qwen@b (its endpoint does not list this model)."
    )
