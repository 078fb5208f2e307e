"""``Runtime.probe``: run the health check of some deployments now, on demand.

The check is the background checks' own (``runtime._build.health_probe``: the
endpoint's model list through the catalog, plus a one-token completion when
``health.check_generation`` is on). Its outcome is counted the way the health actor
counts a background check's (``ReportOutcome(traffic=False)``), with one addition for
an operator who asked for the check: a deployment ``quarantined`` or ``failed`` whose
check *succeeds* is reset first (``ResetHealth``, reason ``probe succeeded``), so the
success makes it ``healthy`` at once instead of being ignored until the quarantine
deadline. A failed check changes what a background check's failure would: a
quarantine stays until its deadline, a probing deployment is quarantined again
(longer), a healthy one counts one failure. A model its endpoint does not list counts
nothing (``unlisted``: the catalog's business).

Only the health actor's public messages are used (``GetHealth``, ``ResetHealth``,
``ReportOutcome``); the events are the usual ones on ``health/<deployment>``.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec

from actors.health import GetHealth, HealthStatus, ReportOutcome, ResetHealth
from runtime._assembly import Parts
from runtime._build import health_probe
from runtime._statistics import read

__all__ = ["PROBE_RESET_REASON", "ProbeResult", "probe_deployments", "tracked_deployments"]

PROBE_RESET_REASON = "probe succeeded"
"""The ``HealthReset.reason`` of a quarantined or failed deployment whose probe passed."""

_BLOCKED = frozenset({HealthStatus.QUARANTINED, HealthStatus.FAILED})


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one deployment's on-demand check (``Runtime.probe``)."""

    deployment: str
    """``model@endpoint``."""
    outcome: Literal["ok", "failed", "unlisted"]
    """``unlisted``: the endpoint's model list lacks the model; nothing was counted."""
    before: str
    """The deployment's health status before the check."""
    after: str
    """Its status once the outcome was counted."""
    failure: str | None = None
    """The failure class (``connection``, ``http_5xx``...) when ``failed``."""
    message: str = ""
    """What went wrong, when ``failed``."""

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.outcome == "ok"


async def probe_deployments(parts: Parts, deployments: tuple[str, ...]) -> tuple[ProbeResult, ...]:
    """Check ``deployments`` concurrently and count each outcome (see the module)."""
    check = health_probe(
        parts.refs.catalog, parts.refs.endpoints, generate=parts.config.health.check_generation
    )
    health = parts.refs.health

    async def status(did: str) -> HealthStatus:
        return (await health.ask(GetHealth(), timeout=None)).states[did].status

    async def one(did: str) -> ProbeResult:
        before = (await status(did)).value
        outcome = await check(did)
        if outcome is None:
            return ProbeResult(deployment=did, outcome="unlisted", before=before, after=before)
        if outcome.ok and await status(did) in _BLOCKED:
            await health.ask(ResetHealth((did,), PROBE_RESET_REASON), timeout=None)
        await health.ask(ReportOutcome(did, outcome, traffic=False), timeout=None)
        return ProbeResult(
            deployment=did,
            outcome="ok" if outcome.ok else "failed",
            before=before,
            after=(await status(did)).value,
            failure=outcome.failure,
            message=outcome.message,
        )

    results = await asyncio.gather(*(one(did) for did in deployments))
    await parts.log.flush()
    return tuple(results)


def tracked_deployments(parts: Parts) -> tuple[str, ...]:
    """The deployments a reset or probe may name: the configured ones, then those of
    discovered models that health tracks (once a call used them)."""
    tracked = read(parts.refs.health, GetHealth()).states
    return (*parts.deployments, *(d for d in tracked if d not in parts.deployments))
