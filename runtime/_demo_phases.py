"""The demo's story, phase by phase: ``run_scenario`` starts everything and narrates.

1. two chaos backends start on 127.0.0.1 and a ``Runtime`` opens over them;
2. steady traffic by role, split round-robin across ``a`` and ``b``;
3. ``b`` goes down: its failed attempts move to ``a`` at once, ``b`` is quarantined, and
   one request finds ``a`` failing the primary model too, so it falls back;
4. ``b`` comes back: the quarantine ends, a probe succeeds, ``b`` serves again;
5. requests to the fallback model by name until its daily quota warns;
6. the totals (``demo.py`` then prints what ``runtime.inspect`` makes of the log).

Both backends and the runtime are closed when ``run_scenario`` returns or is cancelled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from events import split_deployment
from runtime._demo_output import Narrator
from runtime._demo_scenario import (
    FALLBACK,
    PRIMARY,
    QUOTA_LIMIT,
    ROLE,
    STEPS,
    WARN_RATIO,
    DemoResult,
    Pace,
    Tally,
    Traffic,
    Watch,
    make_config,
)
from runtime._demo_text import counts_text, failures_text, plural
from runtime._runtime import Runtime
from runtime.testing import ChaosServer, Fault

__all__ = ["run_scenario"]


async def run_scenario(log: Path, pace: Pace, out: Narrator) -> DemoResult:
    """Run the whole demo against a fresh event log at ``log``; see the module docstring."""
    out.heading(1, STEPS, "Start two local LLM backends (fake Ollama servers, nothing to install)")
    async with (
        ChaosServer(models=[PRIMARY, FALLBACK], seed=1) as a,
        ChaosServer(models=[PRIMARY], seed=2) as b,
    ):
        _describe(out, a, b, pace)
        async with Runtime.from_config(make_config(a, b, log, pace)) as rt:
            watch = Watch(rt, out)
            traffic = Traffic(rt, out, pace)
            await _steady(traffic, pace, out)
            fallback_request = await _backend_down(traffic, watch, a, b, pace, out)
            await _backend_back(traffic, watch, b, pace, out)
            await _quota(traffic, watch, rt, out)
            out.heading(6, STEPS, "What happened")
            result = _result(traffic.total, watch, fallback_request)
            _summarize(result, out)
    return result


def _describe(out: Narrator, a: ChaosServer, b: ChaosServer, pace: Pace) -> None:
    out.say(f"  backend a  {a.url}  serves {PRIMARY} and {FALLBACK}")
    out.say(f"  backend b  {b.url}  serves {PRIMARY}")
    out.say(
        f"  role {ROLE}: {PRIMARY} first (round-robin over a and b), "
        f"then the fallback {FALLBACK} (on a)"
    )
    out.say(
        f"  health: 2 failures in a row quarantine a deployment for {pace.quarantine:g} s "
        f"(doubling, up to {pace.quarantine_max:g} s)"
    )
    out.say(
        f"  quota: {FALLBACK} may answer {QUOTA_LIMIT} requests a day, "
        f"with a warning at {WARN_RATIO:.0%}"
    )


async def _steady(traffic: Traffic, pace: Pace, out: Narrator) -> None:
    out.heading(2, STEPS, f"Steady traffic: role {ROLE}, round-robin across a and b")
    tally = Tally()
    while tally.sent < pace.steady:
        await traffic.one(tally, "steady", pace.steady)
    traffic.report(tally)


async def _backend_down(
    traffic: Traffic, watch: Watch, a: ChaosServer, b: ChaosServer, pace: Pace, out: Narrator
) -> str | None:
    """``b`` down; once it is quarantined ``a`` fails the primary once: a fallback."""
    out.heading(3, STEPS, "Backend b goes down")
    await b.stop_listening()
    out.say("  b stops listening: its open connections are cut, new ones refused", "dim")
    tally, injected, fallback_request = Tally(), False, None
    # Keep going past the plan (bounded) until the fallback was seen: it is the point.
    while tally.sent < pace.down or (fallback_request is None and tally.sent < 3 * pace.down):
        quarantined = watch.quarantined[f"{PRIMARY}@b"] > 0
        if not injected and (quarantined or tally.sent >= pace.down // 2):
            a.set_fault(Fault(kind="http_error", status=503, count=1), model=PRIMARY)
            out.say(
                f"  ~ meanwhile a answers the next {PRIMARY} request with HTTP 503: "
                f"no {PRIMARY} deployment is left for it",
                "dim",
            )
            injected = True
        reply = await traffic.one(tally, "b down", pace.down)
        if reply is not None and reply.model == FALLBACK and fallback_request is None:
            fallback_request = reply.request_id
    traffic.report(tally)
    return fallback_request


async def _backend_back(
    traffic: Traffic, watch: Watch, b: ChaosServer, pace: Pace, out: Narrator
) -> None:
    """``b`` listens again; traffic goes on until it recovered, then a little more."""
    out.heading(4, STEPS, "Backend b comes back")
    await b.resume_listening()
    out.say("  b listens again on the same port; nobody tells the runtime", "dim")
    deployment = f"{PRIMARY}@b"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + pace.wait_limit
    tally, after = Tally(), 0
    planned = pace.back * 2
    while after < pace.back and loop.time() < deadline:
        recovered = watch.recovered[deployment] > 0
        await traffic.one(tally, "b back", planned)
        after += recovered
    traffic.report(tally)
    if watch.recovered[deployment] == 0:
        out.say(f"  {deployment} did not recover within {pace.wait_limit:g} s", "red")


async def _quota(traffic: Traffic, watch: Watch, rt: Runtime, out: Narrator) -> None:
    """Ask the fallback model by name until its daily request quota warns (never over it)."""
    out.heading(5, STEPS, f"Quota: {FALLBACK} may answer {QUOTA_LIMIT} requests a day")
    limit_name = f"model:{FALLBACK}.requests"
    tally = Tally()
    # Bounded by the limit itself: stop one short of it, so nothing is ever refused.
    while watch.quota_warnings == 0 and tally.sent < QUOTA_LIMIT and _left(rt, limit_name) > 1:
        await traffic.one(tally, f"to {FALLBACK}", QUOTA_LIMIT, model=FALLBACK)
    traffic.report(tally)
    for status in rt.usage().limits:
        if status.limit == limit_name:
            out.say(
                f"  {status.limit}: {status.used} of {status.limit_value} used today, "
                f"{status.left} left; beyond that a request is refused with QuotaExceeded"
            )


def _left(rt: Runtime, limit_name: str) -> int:
    """Requests left today under ``limit_name`` (as many as the limit if not used yet)."""
    for status in rt.usage().limits:
        if status.limit == limit_name:
            return status.left
    return QUOTA_LIMIT


def _result(total: Tally, watch: Watch, fallback_request: str | None) -> DemoResult:
    return DemoResult(
        sent=total.sent,
        answered=dict(total.answered),
        errors=total.errors,
        failed_attempts=dict(total.failed),
        fallback_request=fallback_request,
        quarantines=sum(watch.quarantined.values()),
        recoveries=sum(watch.recovered.values()),
        fallbacks=watch.fallbacks,
        quota_warnings=watch.quota_warnings,
    )


def _summarize(result: DemoResult, out: Narrator) -> None:
    answered = sum(result.answered.values())
    style = "bold+green" if result.errors == 0 else "bold+red"
    out.say(
        f"  {plural(result.sent, 'request')} sent, {answered} answered, "
        f"{plural(result.errors, 'error')} seen by the caller",
        style,
    )
    by_endpoint: dict[str, int] = {}
    for deployment, count in result.answered.items():
        endpoint = split_deployment(deployment)[1]
        by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + count
    out.say(f"  answered per endpoint: {counts_text(by_endpoint)}")
    out.say(f"  answered per deployment: {counts_text(result.answered)}")
    if result.failed_attempts:
        failed = failures_text(result.failed_attempts)
        out.say(f"  failed attempts, none seen by the caller: {failed}")
    out.say(
        f"  {plural(result.quarantines, 'quarantine')}, "
        f"{plural(result.recoveries, 'recovery', 'recoveries')}, "
        f"{plural(result.fallbacks, 'fallback')}, {plural(result.quota_warnings, 'quota warning')}"
    )
