"""``explain`` shows the health changes of the deployments a request reached (attempted
or skipped) only, and counts those of candidates it never reached."""

from __future__ import annotations

from events import (
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentDegraded,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    RequestSucceeded,
)
from runtime.inspect._explain_model import explain
from runtime.inspect._explain_render import render_explanation
from runtime.inspect._when import clock_time
from tests.runtime.inspect._requests import PLAIN, stored
from tests.runtime.inspect.test_explain_model import RID, T, attempt, started


def flapping_b(start: float, count: int) -> list[Event]:
    """llama3@b degraded and recovered ``count`` times, from ``start``."""
    events: list[Event] = []
    for n in range(count):
        at = start + 0.01 * n
        events.append(DeploymentDegraded(deployment="llama3@b", at=at, reason="1 failure"))
        events.append(DeploymentRecovered(deployment="llama3@b", at=at + 0.005, previous="x"))
    return events


def answered_by_a() -> list[Event]:
    return [
        started(),
        attempt(1, "llama3@a", T + 0.001),
        AttemptSucceeded(
            request_id=RID, at=T + 0.9, attempt=1, deployment="llama3@a", latency_s=0.9
        ),
        RequestSucceeded(
            request_id=RID, at=T + 0.9, model="llama3", endpoint="a", attempts=1, latency_s=0.9
        ),
    ]


def test_health_changes_of_candidates_the_request_never_reached_are_left_out() -> None:
    """The issue: explain mixed in the flapping of a deployment the request never tried."""
    a_degraded = DeploymentDegraded(deployment="llama3@a", at=T + 0.9, reason="slow")
    health = stored([*flapping_b(T + 0.1, 30), a_degraded], start=100)
    expl = explain(stored(answered_by_a()), health)
    assert [s.deployment for s in expl.steps if s.kind == "health"] == ["llama3@a"]
    assert expl.unreached_changes == 60  # b's changes inside the request's span
    assert "never reached left out" in render_explanation(expl, PLAIN)
    assert "never reached" not in render_explanation(explain(stored(answered_by_a())), PLAIN)


def test_a_skipped_candidate_is_reached_and_keeps_its_health_changes() -> None:
    events = answered_by_a()
    skip = CandidateSkipped(
        request_id=RID, at=T + 0.0005, deployment="llama3@b", reason="quarantined"
    )
    quarantine = DeploymentQuarantined(
        deployment="llama3@b", at=T - 5, until=T + 25, quarantine_count=1
    )
    recovered = DeploymentRecovered(deployment="llama3@b", at=T + 0.5, previous="probing")
    expl = explain(
        stored([events[0], skip, *events[1:]]), stored([quarantine, recovered], start=50)
    )
    assert expl.unreached_changes == 0
    assert [(s.kind, s.deployment) for s in expl.steps] == [
        ("skipped", "llama3@b"),
        ("attempt", "llama3@a"),
        ("health", "llama3@b"),
        ("finished", "llama3@a"),
    ]
    assert f"(until {clock_time(T + 25)})" in expl.steps[0].text  # the deadline is still known
