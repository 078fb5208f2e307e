"""Every failure class through ``rt.chat``: what is retried where, and what health does.

Deployment ``llama3@a`` misbehaves, ``llama3@b`` is fine; round-robin starts on ``a``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import ManualClock
from events import AttemptFailed, DeploymentFailed, HealthOutcomeRecorded
from runtime import RequestRejected, Runtime
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, SHORT, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]

# fault on a -> (failure class, llama3@a's health after one such failure)
RETRIED_ELSEWHERE = [
    (Fault(kind="http_error", status=500), "server_error", "degraded"),
    (Fault(kind="http_error", status=503), "server_error", "degraded"),
    (Fault(kind="out_of_memory"), "out_of_memory", "degraded"),
    (Fault(kind="reset"), "connection", "degraded"),
    (Fault(kind="malformed"), "bad_response", "degraded"),
    (Fault(kind="html_200"), "bad_response", "degraded"),
    (Fault(kind="truncate"), "bad_response", "degraded"),
    (Fault(kind="error_in_stream"), "server_error", "degraded"),
    (Fault(kind="hang"), "timeout_first_byte", "degraded"),
    (Fault(kind="slow_first_byte", delay=60.0), "timeout_first_byte", "degraded"),
    # weight 0: a rate limit is a healthy backend doing its job; no health event
    (Fault(kind="rate_limit", retry_after="1"), "rate_limited", "unknown"),
    # weight 0: the model is missing there; the catalog refreshes, health is untouched
    (Fault(kind="model_not_found"), "model_not_found", "unknown"),
    # permanent: the deployment is marked failed until reset or re-listed
    (Fault(kind="http_error", status=401), "auth", "failed"),
]


@pytest.mark.parametrize(
    ("fault", "failure", "status"),
    RETRIED_ELSEWHERE,
    ids=[f[1] + ":" + f[0].kind for f in RETRIED_ELSEWHERE],
)
async def test_backend_failures_go_to_the_next_deployment(
    tmp_path: Path, servers: Servers, fault: Fault, failure: str, status: str
) -> None:
    a, b = servers
    a.set_fault(fault, model="llama3")
    # a short deadline only where the timeout is the fault under test, and only on a
    timeouts = {"a": SHORT} if failure.startswith("timeout") else None
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, timeouts=timeouts)
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
        health = rt.health().deployment("llama3@a")
    assert reply.endpoint == "b"
    assert [(r.deployment, r.failure) for r in reply.attempts] == [
        ("llama3@a", failure),
        ("llama3@b", None),
    ]
    assert reply.attempts[0].message.startswith(f"a ({a.url})")  # names the endpoint
    assert health.status == status
    [failed] = await read_events(tmp_path / "events.sqlite3", AttemptFailed)
    assert isinstance(failed.event, AttemptFailed) and failed.event.failure == failure


async def test_auth_failure_marks_the_deployment_failed_and_traffic_avoids_it(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=401), model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(4)]
    assert [r.endpoint for r in replies] == ["b"] * 4
    assert a.requests_for(model="llama3", route="/api/chat") == 1
    [failed] = await read_events(tmp_path / "events.sqlite3", DeploymentFailed)
    assert isinstance(failed.event, DeploymentFailed)
    assert failed.event.failure == "auth" and "api key" in failed.event.reason


async def test_model_not_found_from_a_backend_refreshes_its_model_list(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="llama3")
        await clock.advance(2.0)  # the list is older than the 1 s re-fetch guard now
        before = a.requests_for(route="/api/tags")
        a.set_fault(Fault(kind="model_not_found", count=1), model="llama3")
        reply = await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: a.requests_for(route="/api/tags") > before)
        health = rt.health().deployment("llama3@a")
    assert reply.endpoint == "b"
    assert health.status == "healthy" and health.consecutive_failures == 0  # no penalty
    outcomes = await read_events(tmp_path / "events.sqlite3", HealthOutcomeRecorded)
    assert all(isinstance(e.event, HealthOutcomeRecorded) and e.event.ok for e in outcomes)


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (Fault(kind="context_overflow"), "context_overflow"),
        (Fault(kind="http_error", status=400), "generation_error"),
    ],
    ids=["context_overflow", "generation_error"],
)
async def test_request_caused_errors_are_raised_at_once_without_penalty(
    tmp_path: Path, servers: Servers, fault: Fault, failure: str
) -> None:
    a, b = servers
    a.set_fault(fault, model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(RequestRejected) as caught:
            await rt.chat(MESSAGES, model="llama3")
        health = rt.health().deployment("llama3@a")
    assert caught.value.failure == failure
    assert [r.deployment for r in caught.value.attempts] == ["llama3@a"]
    assert "caused by the request itself" in str(caught.value)
    assert b.requests_for(route="/api/chat") == 0  # not retried elsewhere
    assert health.status == "unknown"  # the backend is not at fault
