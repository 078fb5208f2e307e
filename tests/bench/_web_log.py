"""A large, realistic event log for the web view benchmark, written through the log's API.

``write_log(path, events)`` appends about ``events`` events to a new SQLite log with
``SqliteEventLog.append_nowait`` (the runtime's own path: group commits of up to 1,000
appends), a chunk of requests at a time, the log's clock set to the chunk's end so that
every row's timestamp is at most about a minute after its event's ``at``.

The traffic, over six virtual hours from ``START`` (deterministic: ``random.Random(7)``):

- six deployments: ``llama3@{a,b,c}``, ``qwen@{a,b}``, ``mistral@c``; requests for role
  ``generator`` (llama3, falling back to qwen), role ``summarizer`` (mistral) and for
  ``llama3`` directly, one request every ~0.1 s;
- each request: ``RequestStarted``, ``AttemptStarted``, ``AttemptSucceeded`` or
  ``AttemptFailed``, the terminal ``RequestSucceeded``/``RequestFailed``, and one
  ``HealthOutcomeRecorded`` on the deployment's health stream (~5 events); a generator
  request whose llama3 attempt fails falls back to qwen (``FallbackSwitched`` and a second
  attempt);
- ``llama3@b`` is quarantined for 5 minutes every hour (its requests fail from a minute
  before), probed and recovered; ``qwen@b`` flaps degraded <-> recovered every ~40 s;
- latencies: log-normal around 0.6 s, one request in 500 slow (5-12 s);
- one quota period (``QuotaPeriodStarted``) with a request limit: warnings at 50 % and
  80 % (``QuotaWarningIssued``) and refusals once it is used up (``QuotaExceededRecorded``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    DeploymentDegraded,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    HealthOutcomeRecorded,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaWarningIssued,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    SqliteEventLog,
)

__all__ = ["DEPLOYMENTS", "START", "Written", "write_log"]

START = 1_772_409_600.0
"""The virtual start of the traffic: 2026-03-02T00:00:00Z."""
HOURS = 6.0
DEPLOYMENTS = ("llama3@a", "llama3@b", "llama3@c", "qwen@a", "qwen@b", "mistral@c")
_CHUNK_S = 60.0
"""Virtual seconds of requests appended between two flushes (one timestamp per chunk)."""
_OUTAGE_EVERY_S = 3600.0
_OUTAGE_S = 300.0
_FLAP_EVERY_S = 40.0
_LLAMA = ("llama3@a", "llama3@b", "llama3@c")
_QWEN = ("qwen@a", "qwen@b")


@dataclass
class Written:
    """What ``write_log`` wrote."""

    events: int
    requests: int
    failed: int
    seconds: float


@dataclass
class _Traffic:
    rng: random.Random
    requests: int
    quota_limit: int
    schedule: list[tuple[float, str, Event]]
    """Health status changes still to write, latest first (popped from the end)."""
    at: float = START
    counter: int = 0
    failed: int = 0

    def request_id(self) -> str:
        self.counter += 1
        return f"bench{self.counter:09d}"


def _latency(rng: random.Random) -> float:
    if rng.random() < 0.002:
        return rng.uniform(5.0, 12.0)
    return min(30.0, math.exp(rng.gauss(math.log(0.6), 0.5)))


def _into_hour(at: float) -> float:
    return (at - START) % _OUTAGE_EVERY_S


def _b_failing(at: float) -> bool:
    """Whether llama3@b fails its requests: the minute before each hourly quarantine."""
    return at - START >= _OUTAGE_EVERY_S - 60.0 and _into_hour(at) >= _OUTAGE_EVERY_S - 60.0


def _b_quarantined(at: float) -> bool:
    return at - START >= _OUTAGE_EVERY_S and _into_hour(at) < _OUTAGE_S + 1.0


def _schedule(rng: random.Random) -> list[tuple[float, str, Event]]:
    """Every status change of the run: b's hourly outage, qwen@b's flapping."""
    changes: list[tuple[float, str, Event]] = []
    b = "llama3@b"
    for hour in range(1, int(HOURS) + 1):
        begin = START + hour * _OUTAGE_EVERY_S
        changes += [
            (begin - 55.0, b, DeploymentDegraded(
                deployment=b, at=begin - 55.0, reason="3 failures",
            )),
            (begin, b, DeploymentQuarantined(
                deployment=b, at=begin, until=begin + _OUTAGE_S, quarantine_count=1,
                reason="5 consecutive failures (last: server_error)", failure="server_error",
            )),
            (begin + _OUTAGE_S, b, DeploymentProbingStarted(
                deployment=b, at=begin + _OUTAGE_S, probe_round=hour,
            )),
            (begin + _OUTAGE_S + 1.0, b, DeploymentRecovered(
                deployment=b, at=begin + _OUTAGE_S + 1.0, previous="probing",
            )),
        ]  # fmt: skip
    q, when, down = "qwen@b", START + _FLAP_EVERY_S, False
    while when < START + HOURS * 3600.0:
        change: Event = (
            DeploymentRecovered(deployment=q, at=when, previous="degraded")
            if down
            else DeploymentDegraded(deployment=q, at=when, reason="1 failure in 20")
        )
        changes.append((when, q, change))
        down = not down
        when += rng.uniform(0.5, 1.5) * _FLAP_EVERY_S
    changes.sort(key=lambda item: item[0], reverse=True)
    return changes


def _health_changes(traffic: _Traffic) -> Iterator[tuple[str, Event]]:
    """The status changes due by ``traffic.at``, in time order."""
    while traffic.schedule and traffic.schedule[-1][0] <= traffic.at:
        _, deployment, change = traffic.schedule.pop()
        yield deployment, change


def _pick(traffic: _Traffic) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Role, model asked, and the chain's candidates for the next request."""
    draw = traffic.rng.random()
    if draw < 0.55:
        return "generator", None, _LLAMA + _QWEN
    if draw < 0.75:
        return "summarizer", None, ("mistral@c",)
    return None, "llama3", _LLAMA


def _one_request(traffic: _Traffic) -> tuple[str, list[Event], list[tuple[str, Event]]]:
    """A request's events (its stream's) and the health outcomes it causes."""
    rng, at, rid = traffic.rng, traffic.at, traffic.request_id()
    role, model, candidates = _pick(traffic)
    if _b_quarantined(at):  # left out of the plan while quarantined
        candidates = tuple(c for c in candidates if c != "llama3@b")
    primary = [c for c in candidates if c.split("@")[0] == candidates[0].split("@")[0]]
    first = primary[traffic.counter % len(primary)]  # round-robin over the first model
    events: list[Event] = [
        RequestStarted(
            request_id=rid, at=at, role=role, model=model, kind=role or "chat", stream=False,
            chain=("llama3", "qwen") if role == "generator" else (first.split("@")[0],),
            candidates=candidates, prompt_chars=rng.randint(20, 4000), prompt_hash="0" * 16,
            messages=2,
        )
    ]  # fmt: skip
    health: list[tuple[str, Event]] = []
    fails = (first == "llama3@b" and _b_failing(at)) or rng.random() < 0.01
    tried = [(first, fails)]
    if fails and role == "generator":
        tried.append((_QWEN[traffic.counter % 2], False))
    elapsed = 0.0
    for number, (deployment, failing) in enumerate(tried, 1):
        name, endpoint = deployment.split("@")
        if number == 2:
            events.append(FallbackSwitched(
                request_id=rid, at=at + elapsed, from_model="llama3", to_model="qwen",
                reason="failure", detail="1 attempt failed (last: server_error)",
                candidates=_QWEN,
            ))  # fmt: skip
        events.append(AttemptStarted(
            request_id=rid, at=at + elapsed, attempt=number, deployment=deployment,
            model=name, endpoint=endpoint,
        ))  # fmt: skip
        latency = _latency(rng)
        if failing:
            latency = min(latency, 0.2)
            events.append(AttemptFailed(
                request_id=rid, at=at + elapsed + latency, attempt=number,
                deployment=deployment, failure="server_error", retryable=True, status=500,
                message="HTTP 500 from the backend", latency_s=latency, queue_s=0.0,
                connect_s=0.001, first_byte_s=latency,
            ))  # fmt: skip
            health.append((deployment, HealthOutcomeRecorded(
                deployment=deployment, at=at + elapsed + latency, ok=False,
                failure="server_error", weight=1.0,
            )))  # fmt: skip
        else:
            prompt, completion = rng.randint(10, 1000), rng.randint(10, 500)
            events.append(AttemptSucceeded(
                request_id=rid, at=at + elapsed + latency, attempt=number,
                deployment=deployment, latency_s=latency, prompt_tokens=prompt,
                completion_tokens=completion, tokens_per_s=completion / latency,
                completion_chars=completion * 4, queue_s=0.0, connect_s=0.001,
                first_byte_s=latency * 0.2,
            ))  # fmt: skip
            health.append((deployment, HealthOutcomeRecorded(
                deployment=deployment, at=at + elapsed + latency, ok=True,
            )))  # fmt: skip
        elapsed += latency
    last, failing = tried[-1]
    if failing:
        traffic.failed += 1
        events.append(RequestFailed(
            request_id=rid, at=at + elapsed, attempts=len(tried), error="every attempt failed",
            error_type="AllAttemptsFailed", failure="server_error", latency_s=elapsed,
        ))  # fmt: skip
    else:
        name, endpoint = last.split("@")
        events.append(RequestSucceeded(
            request_id=rid, at=at + elapsed, model=name, endpoint=endpoint,
            attempts=len(tried), latency_s=elapsed,
        ))  # fmt: skip
    return rid, events, health


def _quota(traffic: _Traffic) -> list[Event]:
    """The quota ledger's warnings and refusals due at this request."""
    used = traffic.counter
    out: list[Event] = []
    for ratio in (0.5, 0.8):
        if used == int(traffic.quota_limit * ratio):
            out.append(QuotaWarningIssued(
                at=traffic.at, limit="global.requests", used=used,
                limit_value=traffic.quota_limit, ratio=ratio, period="2026-03-02",
            ))  # fmt: skip
    if used > traffic.quota_limit and used % 50 == 0:
        out.append(QuotaExceededRecorded(
            at=traffic.at, limit="global.requests", used=used, limit_value=traffic.quota_limit,
            requested=1, period="2026-03-02", resets_at=START + 86_400.0,
        ))  # fmt: skip
    return out


def _check_written(log: SqliteEventLog) -> None:
    """Stop at the first failed append: a log with holes would measure the wrong thing."""
    statistics = log.pipeline_statistics()
    if statistics.failed_appends:
        raise RuntimeError(
            f"{statistics.failed_appends:,} appends to the benchmark log failed: "
            f"{statistics.last_error}"
        )


async def write_log(path: Path, events: int) -> Written:
    """Write about ``events`` events (at least one request) to a new log at ``path``."""
    started = time.perf_counter()
    requests = max(1, events // 5)
    rng = random.Random(7)
    limit = max(2, int(requests * 0.9))
    traffic = _Traffic(rng=rng, requests=requests, quota_limit=limit, schedule=_schedule(rng))
    step = HOURS * 3600.0 / requests
    chunk = max(1, min(1_000, int(_CHUNK_S / step)))
    clock = [START]
    async with await SqliteEventLog.open(path, now=lambda: clock[0]) as log:
        log.append_nowait("quota/ledger", [QuotaPeriodStarted(
            at=START, period="2026-03-02", resets_at=START + 86_400.0,
        )])  # fmt: skip
        while traffic.counter < requests:
            for _ in range(min(chunk, requests - traffic.counter)):
                for deployment, change in _health_changes(traffic):
                    log.append_nowait(f"health/{deployment}", [change])
                rid, request, health = _one_request(traffic)
                log.append_nowait(f"request/{rid}", request)
                for deployment, outcome in health:
                    log.append_nowait(f"health/{deployment}", [outcome])
                refusals = _quota(traffic)
                if refusals:
                    log.append_nowait("quota/ledger", refusals)
                traffic.at += step * traffic.rng.uniform(0.5, 1.5)
            clock[0] = traffic.at
            await log.flush()
            _check_written(log)
        total = await log.last_position()
    return Written(
        events=total,
        requests=requests,
        failed=traffic.failed,
        seconds=time.perf_counter() - started,
    )
