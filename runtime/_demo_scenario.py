"""The demo's setting: the config over two chaos backends, pacing, and traffic helpers.

Backend ``a`` serves the primary and the fallback model, backend ``b`` the primary
only; the role ``generator`` is ``[primary, fallback]``; the fallback model has a daily
request quota with a warning threshold. ``Traffic`` sends requests one at a time and
keeps the caller's view of them (``Tally``); ``Watch`` narrates the runtime's events.
The phases themselves are in ``runtime._demo_phases``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import msgspec

from actors.router import Reply
from events import (
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    QuotaWarningIssued,
)
from runtime._config import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    QuotaConfig,
    QuotaLimit,
    RetryConfig,
    RoleConfig,
    RuntimeConfig,
    Timeouts,
)
from runtime._demo_output import Narrator
from runtime._demo_text import counts_text, failures_text, plural, status_line
from runtime._errors import LLMRuntimeError
from runtime._runtime import Runtime
from runtime.testing import ChaosServer

__all__ = [
    "FALLBACK",
    "FAST",
    "NORMAL",
    "PRIMARY",
    "QUOTA_LIMIT",
    "ROLE",
    "STEPS",
    "WARN_RATIO",
    "DemoResult",
    "Pace",
    "Tally",
    "Traffic",
    "Watch",
    "make_config",
]

PRIMARY = "llama3"
FALLBACK = "llama3.2:3b"
ROLE = "generator"
STEPS = 6
QUOTA_LIMIT = 10
"""Daily requests the fallback model may answer."""
WARN_RATIO = 0.8
QUICK = Timeouts(connect=1.0, first_byte=2.0, idle=2.0, total=5.0)


class Pace(msgspec.Struct, frozen=True, kw_only=True):
    """How long the phases last: request counts, the gap between requests, health timing."""

    steady: int
    """Requests while both backends are up."""
    down: int
    """Requests while ``b`` is down."""
    back: int
    """Requests after ``b`` recovered."""
    delay: float
    """Seconds between two requests (so the display can be followed)."""
    quarantine: float
    """First quarantine, seconds; doubles on each repeat up to ``quarantine_max``."""
    quarantine_max: float
    check_interval: float
    """Seconds between background health checks."""
    wait_limit: float
    """Longest wait for something that should happen (a recovery), seconds."""


NORMAL = Pace(
    steady=24, down=30, back=16, delay=0.15, quarantine=1.0, quarantine_max=2.0,
    check_interval=0.5, wait_limit=20.0,
)  # fmt: skip
FAST = Pace(
    steady=8, down=10, back=4, delay=0.02, quarantine=0.3, quarantine_max=0.6,
    check_interval=0.2, wait_limit=10.0,
)  # fmt: skip


class Tally:
    """What the caller saw for a series of requests."""

    def __init__(self) -> None:
        self.sent = 0
        self.errors = 0
        self.answered: Counter[str] = Counter()
        """``model@endpoint`` -> requests it answered."""
        self.failed: Counter[tuple[str, str]] = Counter()
        """(deployment, failure class) -> attempts that failed and were retried elsewhere."""

    def add(self, reply: Reply | None) -> None:
        """Count one request: its answer (None: a user-visible error) and failed attempts."""
        self.sent += 1
        if reply is None:
            self.errors += 1
            return
        self.answered[reply.deployment] += 1
        for attempt in reply.attempts:
            if not attempt.ok:
                self.failed[(attempt.deployment, attempt.failure or "unknown")] += 1


class DemoResult(msgspec.Struct, frozen=True, kw_only=True):
    """The run's totals, for the summary and the inspect commands after it."""

    sent: int
    answered: dict[str, int]
    errors: int
    failed_attempts: dict[tuple[str, str], int]
    """(deployment, failure class) -> attempts that failed and were retried elsewhere."""
    fallback_request: str | None
    """A request that fell back to the fallback model (the one to ``explain``)."""
    quarantines: int
    recoveries: int
    fallbacks: int
    quota_warnings: int


def make_config(a: ChaosServer, b: ChaosServer, log: Path, pace: Pace) -> RuntimeConfig:
    """Endpoints a and b, the primary on both, the fallback on a; a quota on the fallback."""
    return RuntimeConfig(
        endpoints=(
            EndpointConfig(name="a", url=a.url, timeouts=QUICK),
            EndpointConfig(name="b", url=b.url, timeouts=QUICK),
        ),
        models=(
            ModelConfig(name=PRIMARY, deployments=("a", "b")),
            ModelConfig(name=FALLBACK, deployments=("a",)),
        ),
        roles={ROLE: RoleConfig(models=(PRIMARY, FALLBACK))},
        event_log=EventLogConfig(path=str(log)),
        health=HealthConfig(
            failure_threshold=2,
            quarantine_seconds=pace.quarantine,
            quarantine_max_seconds=pace.quarantine_max,
            check_interval_seconds=pace.check_interval,
        ),
        retry=RetryConfig(backoff_base=0.05, backoff_cap=0.2),
        quota=QuotaConfig(
            warn_ratio=WARN_RATIO, per_model={FALLBACK: QuotaLimit(daily_requests=QUOTA_LIMIT)}
        ),
    )


class Watch:
    """Narrates the runtime's health, fallback and quota events and remembers them."""

    def __init__(self, rt: Runtime, out: Narrator) -> None:
        self._out = out
        self.quarantined: Counter[str] = Counter()
        self.recovered: Counter[str] = Counter()
        self.fallbacks = 0
        self.quota_warnings = 0
        for kind in (
            DeploymentQuarantined,
            DeploymentProbingStarted,
            DeploymentRecovered,
            FallbackSwitched,
            QuotaWarningIssued,
        ):
            rt.on(kind, self._seen)

    def _seen(self, event: Event) -> None:
        self._out.event(event)
        match event:
            case DeploymentQuarantined():
                self.quarantined[event.deployment] += 1
            case DeploymentRecovered() if event.previous in ("probing", "quarantined"):
                self.recovered[event.deployment] += 1
            case FallbackSwitched():
                self.fallbacks += 1
            case QuotaWarningIssued():
                self.quota_warnings += 1
            case _:
                pass


class Traffic:
    """Sends requests one at a time, with the live status line and the totals."""

    def __init__(self, rt: Runtime, out: Narrator, pace: Pace) -> None:
        self._rt, self._out, self._pace = rt, out, pace
        self.total = Tally()

    async def one(
        self, tally: Tally, label: str, planned: int, *, model: str | None = None
    ) -> Reply | None:
        """One request (by role, or to ``model``); counted, shown, then a pause."""
        self._out.check()
        messages = [{"role": "user", "content": f"{label}: request {tally.sent + 1}, be brief"}]
        reply: Reply | None
        try:
            if model is None:
                reply = await self._rt.chat(messages, role=ROLE)
            else:
                reply = await self._rt.chat(messages, model=model)
        except LLMRuntimeError as exc:
            reply = None
            self._out.say(f"  x request failed: {exc}", "red")
        tally.add(reply)
        self.total.add(reply)
        self._out.status(status_line(label, tally.sent, planned, tally.answered, tally.errors))
        await asyncio.sleep(self._pace.delay)
        return reply

    def report(self, tally: Tally) -> None:
        """The phase's permanent lines: answers, errors, failed attempts retried."""
        self._out.end_status()
        answered = sum(tally.answered.values())
        errors = plural(tally.errors, "error")
        style = "green" if tally.errors == 0 else "red"
        self._out.say(f"  {plural(tally.sent, 'request')}, {answered} answered, {errors}", style)
        self._out.say(f"  answered by: {counts_text(tally.answered)}")
        if tally.failed:
            self._out.say(
                f"  failed attempts, each moved on at once: {failures_text(tally.failed)}"
            )
