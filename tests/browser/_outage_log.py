"""A log with a known outage at a known time, written by a real Runtime, for the browser tests.

``write_outage_log`` runs a ``Runtime`` over two chaos backends ``a`` and ``b`` on a
virtual clock that starts at ``WALL`` (2026-03-02T09:00:00Z) and moves only when the
scenario advances it, so every time in the log is known in advance:

1. ``WARM_UP`` requests for role ``generator`` (llama3, falling back to qwen), one every
   20 s, shared round-robin by ``llama3@a`` and ``llama3@b``;
2. ``b`` answers llama3 with HTTP 500: requests for llama3 until ``llama3@b`` has failed
   three times and is quarantined (at ``T1``), each one retried on ``a``;
3. llama3 fails on ``a`` too (``b`` is out): ``FALLBACKS`` role requests fall back to
   ``qwen@a``;
4. the faults are cleared and the clock moves past the 60 s quarantine: requests for
   llama3 until ``b`` is probed and recovered (at ``T2``);
5. qwen fails on ``a``, its only deployment: ``FAILED`` requests for qwen fail (and
   ``qwen@a`` is quarantined, still out at the end of the log: an ongoing band);
6. more requests for llama3, so that the quota (``DAILY_REQUESTS``, warning at half)
   issues its warning.

The outcome (``Outage``) holds what the scenario did, counted as it called the runtime,
and the times the log shows for the quarantine; ``write_outage_log`` checks that the two
agree with the plan, so a test that compares the web view with ``Outage`` compares it
with what really happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from actors import ManualClock
from events import (
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    FallbackSwitched,
    QuotaWarningIssued,
    SqliteEventLog,
)
from runtime import (
    HealthConfig,
    LLMRuntimeError,
    QuotaConfig,
    RetryConfig,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config

__all__ = [
    "DAILY_REQUESTS",
    "FAILED",
    "FALLBACKS",
    "QUARANTINE_S",
    "REQUESTS",
    "T1",
    "T2",
    "WALL",
    "WARM_UP",
    "Outage",
    "write_outage_log",
]

WALL = 1_772_442_000.0
"""The virtual wall clock at the start (2026-03-02T09:00:00Z)."""
WARM_UP = 10
FALLBACKS = 2
FAILED = 2
QUARANTINE_S = 60.0
T1 = WALL + 300.0
"""When ``llama3@b`` is quarantined (its third failure, at the 16th request)."""
T2 = WALL + 420.0
"""When it is probed and recovered (its first request after the 60 s quarantine)."""
REQUESTS = 32
"""Requests in all (the quota warning fires at the 30th)."""
DAILY_REQUESTS = 60
"""The global daily request limit; the warning fires at half of it (``warn_ratio``)."""
_WARN_RATIO = 0.5
_STEP_S = 20.0
"""Virtual seconds between two requests (the log spans several minutes)."""
_FAIL = Fault(kind="http_error", status=500)
_B_HEALTH = "health/llama3@b"


@dataclass
class Outage:
    """What the scenario did and when, as the tests expect the web view to show it."""

    path: Path
    requests: int = 0
    """``chat`` calls made (every one a request in the log)."""
    succeeded: int = 0
    failed: int = 0
    fallbacks: int = 0
    """FallbackSwitched events in the log (one per request that fell back)."""
    quarantined_at: float = 0.0
    """``T1``: when ``llama3@b`` was quarantined."""
    probing_at: float = 0.0
    """When its probing began (the quarantine's end)."""
    recovered_at: float = 0.0
    """``T2``: when it was recovered."""
    warning_at: float = 0.0
    """When the quota warning was issued."""
    warning_limit: str = ""
    """The limit the warning names (``global.requests``)."""
    fallback_request: str = ""
    """A request that fell back from llama3 to qwen."""
    failed_request: str = ""
    """A request that failed."""
    deployments: tuple[str, ...] = ("llama3@a", "llama3@b", "qwen@a")
    ids: list[str] = field(default_factory=list)
    """Every request id, in order."""

    @property
    def quarantined_deployment(self) -> str:
        return "llama3@b"


async def write_outage_log(path: Path) -> Outage:
    """Write the scenario's log to ``path`` (a new file); what happened, checked."""
    clock = ManualClock(monotonic=100.0, wall=WALL)
    outage = Outage(path=path)
    try:
        # The log stamps its rows with the virtual clock too, as a real deployment's rows
        # carry the time they were written (close to each event's ``at``).
        async with (
            await SqliteEventLog.open(path, now=clock.time) as log,
            ChaosServer(["llama3", "qwen"], seed=1) as a,
            ChaosServer(["llama3", "qwen"], seed=2) as b,
        ):
            await _run(outage, log, a, b, clock)
    finally:
        await clock.aclose()
    await _read_back(outage)
    return outage


async def _run(
    outage: Outage, log: SqliteEventLog, a: ChaosServer, b: ChaosServer, clock: ManualClock
) -> None:
    cfg = config(
        outage.path.parent,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("a",)},
        roles={"generator": ("llama3", "qwen")},
        health=HealthConfig(
            check_interval_seconds=0,
            failure_threshold=3,
            quarantine_seconds=QUARANTINE_S,
            min_calls=10,
            liveness_check_seconds=0,
        ),
        retry=RetryConfig(
            max_attempts=3,
            backoff_base=0.0,
            backoff_cap=0.0,
            retry_budget_ratio=1.0,
            retry_budget_max_tokens=1_000_000,
        ),
        log_name=outage.path.name,
    )
    async with Runtime.from_config(_with_quota(cfg), clock=clock, event_log=log) as rt:

        async def chat(role: str | None = None, model: str | None = None) -> None:
            outage.requests += 1
            try:
                await rt.chat(MESSAGES, role=role, model=model)
            except LLMRuntimeError:
                outage.failed += 1
            else:
                outage.succeeded += 1
            await rt.flush_events()
            await clock.advance(_STEP_S)

        for _ in range(WARM_UP):
            await chat(role="generator")
        b.set_fault(_FAIL, model="llama3")
        while not await _has(log, DeploymentQuarantined):
            await chat(model="llama3")
        a.set_fault(_FAIL, model="llama3")
        for _ in range(FALLBACKS):
            await chat(role="generator")
        a.clear_faults()
        b.clear_faults()
        await clock.advance(QUARANTINE_S)
        while not await _has(log, DeploymentRecovered, after=DeploymentQuarantined):
            await chat(model="llama3")
        a.set_fault(_FAIL, model="qwen")
        for _ in range(FAILED):
            await chat(model="qwen")
        a.clear_faults()
        while outage.requests < DAILY_REQUESTS * _WARN_RATIO + 2:
            await chat(model="llama3")
        await rt.flush_events()


def _with_quota(cfg: RuntimeConfig) -> RuntimeConfig:
    quota = QuotaConfig(daily_requests=DAILY_REQUESTS, warn_ratio=_WARN_RATIO)
    return msgspec.structs.replace(cfg, quota=quota)


async def _has(log: SqliteEventLog, kind: type, *, after: type | None = None) -> bool:
    """Whether ``llama3@b``'s health stream holds a ``kind`` event (after its first
    ``after`` event, if given)."""
    seen_after = after is None
    async for stored in log.read(stream=_B_HEALTH):
        if after is not None and isinstance(stored.event, after):
            seen_after = True
        elif isinstance(stored.event, kind) and seen_after:
            return True
    return False


async def _read_back(outage: Outage) -> None:
    """Fill in the times and ids from the log, and check them against the plan."""
    async with await SqliteEventLog.open_readonly(outage.path) as log:
        async for stored in log.read():
            event = stored.event
            if stored.type == "RequestStarted":
                outage.ids.append(stored.stream.removeprefix("request/"))
            elif stored.stream == _B_HEALTH:
                _health(outage, event)
            elif isinstance(event, FallbackSwitched):
                outage.fallbacks += 1
                outage.fallback_request = outage.fallback_request or event.request_id
            elif isinstance(event, QuotaWarningIssued):
                outage.warning_at, outage.warning_limit = event.at, event.limit
            elif stored.type == "RequestFailed" and not outage.failed_request:
                outage.failed_request = stored.stream.removeprefix("request/")
    _check(outage)


def _health(outage: Outage, event: object) -> None:
    """The first quarantine of ``llama3@b``, its probing and its recovery."""
    if isinstance(event, DeploymentQuarantined) and not outage.quarantined_at:
        outage.quarantined_at = event.at
    elif isinstance(event, DeploymentProbingStarted) and not outage.probing_at:
        outage.probing_at = event.at
    elif isinstance(event, DeploymentRecovered) and outage.quarantined_at:
        outage.recovered_at = outage.recovered_at or event.at


def _check(outage: Outage) -> None:
    problems = []
    if len(outage.ids) != outage.requests:
        problems.append(f"{len(outage.ids)} requests in the log, {outage.requests} made")
    if outage.failed != FAILED:
        problems.append(f"{outage.failed} requests failed, {FAILED} planned")
    if outage.fallbacks != FALLBACKS:
        problems.append(f"{outage.fallbacks} fallbacks, {FALLBACKS} planned")
    if outage.requests != REQUESTS:
        problems.append(f"{outage.requests} requests made, {REQUESTS} planned")
    times = (outage.quarantined_at, outage.probing_at, outage.recovered_at)
    if times != (T1, T2, T2):
        problems.append(f"quarantined, probing, recovered at {times}, planned {(T1, T2, T2)}")
    if not outage.warning_at:
        problems.append("no quota warning")
    if problems:
        raise AssertionError("the outage scenario did not go as planned: " + "; ".join(problems))
