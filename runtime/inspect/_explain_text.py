"""The words of ``explain``: one line per step, and the closing plain-English summary.

Written for someone who has never seen the runtime: failure classes and skip reasons
are spelt out ("the endpoint does not list this model" rather than ``unknown_model``),
and the summary says who answered and why the request went where it went.

Pure: strings from events, nothing else.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentPanicProbe,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    FallbackSwitched,
    HealthEvent,
    HealthReset,
    RequestCancelled,
    RequestFailed,
    RequestSucceeded,
    RoutingEvent,
    StreamInterrupted,
)
from runtime.inspect._explain_types import Outcome
from runtime.inspect._implausible import implausible_lines
from runtime.inspect._when import clock_time, duration

__all__ = [
    "SKIP_PHRASES",
    "attempt_result",
    "attempt_text",
    "fallback_text",
    "finished_text",
    "health_text",
    "plural",
    "skip_text",
    "summarize",
]

SKIP_PHRASES = {
    "unknown_model": "its endpoint does not list this model",
    "failed": "marked failed (waiting will not fix it; reset it once repaired)",
    "quarantined": "quarantined",
    "probing_full": "recovering, and its probe slots were taken",
    "cool_down": "cooling down (the backend asked for a pause: 429/Retry-After)",
    "quota": "the quota is used up",
    "unavailable": "not available",
    "context_window": "the request does not fit its context window",
}
"""How each ``CandidateSkipped.reason`` reads in a sentence."""

_FALLBACK_PHRASES = {
    "failure": "its attempts failed",
    "quota": "its quota was used up",
    "unavailable": "none of its deployments could be used",
}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 attempt``, ``3 attempts``; ``many`` is the plural when it is not ``word + "s"``."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def skip_text(event: CandidateSkipped, until: str | None) -> tuple[str, tuple[str, ...]]:
    """``skipped llama3@b: quarantined (until 12:00:03)`` and the router's detail."""
    phrase = SKIP_PHRASES.get(event.reason, event.reason)
    if event.reason == "quarantined" and until:
        phrase = f"{phrase} (until {until})"
    details = (event.detail,) if event.detail else ()
    return f"skipped {event.deployment}: {phrase}", details


def attempt_text(event: AttemptStarted) -> str:
    """``attempt 2 on llama3@a (after a 0.050s backoff, as a probe)``."""
    notes = []
    if event.backoff_s > 0:
        notes.append(f"after waiting {duration(event.backoff_s)}")
    if event.probe:
        notes.append("a probe of a recovering deployment")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"attempt {event.attempt} on {event.deployment}{suffix}"


def attempt_result(
    result: AttemptSucceeded | AttemptFailed | StreamInterrupted | None,
) -> tuple[str, tuple[str, ...], str]:
    """The headline, further lines and tone of an attempt's result."""
    match result:
        case AttemptSucceeded():
            flags = implausible_lines(result)  # backend figures counted as their bound
            return _succeeded(result), flags, "warn" if flags else "good"
        case AttemptFailed():
            return _failed(result), ((result.message,) if result.message else ()), "bad"
        case StreamInterrupted():
            headline = (
                f"the stream broke after {result.partial_chars} characters had reached "
                f"the caller: {result.failure}"
            )
            return headline, ((result.message,) if result.message else ()), "bad"
        case _:
            return "no result recorded (the process stopped during the call?)", (), "warn"


def _succeeded(event: AttemptSucceeded) -> str:
    parts = [f"succeeded in {duration(event.latency_s)}"]
    if event.completion_tokens is not None:
        parts.append(f"{event.completion_tokens} completion tokens")
    if event.prompt_tokens is not None:
        parts.append(f"{event.prompt_tokens} prompt tokens")
    if event.ttft_s is not None:
        parts.append(f"first token after {duration(event.ttft_s)}")
    parts.append(f"{event.completion_chars} characters")
    return ", ".join([*parts, *_where_time_went(event)])


def _failed(event: AttemptFailed) -> str:
    kind = "retryable" if event.retryable else "not retryable"
    parts = [f"failed after {duration(event.latency_s)}: {event.failure} ({kind})"]
    if event.status is not None:
        parts.append(f"HTTP {event.status}")
    if event.retry_after_s is not None:
        parts.append(f"asked to wait {duration(event.retry_after_s)} (Retry-After)")
    if event.failure == "context_overflow":
        parts.append("too long for this context window: a larger one is tried next")
    return ", ".join([*parts, *_where_time_went(event)])


def _where_time_went(event: AttemptSucceeded | AttemptFailed) -> list[str]:
    """``queued 4.9s for a slot on l1``, ``connected in 0.001s``, ``first byte after
    0.200s``: each part the attempt recorded (older logs have none)."""
    endpoint = event.deployment.rpartition("@")[2] or event.deployment
    parts = []
    if event.queue_s is not None:
        waited = event.queue_s >= 0.001
        parts.append(
            f"queued {duration(event.queue_s)} for a slot on {endpoint}"
            if waited
            else f"a slot on {endpoint} at once"
        )
    if event.connect_s is not None:
        parts.append(f"connected in {duration(event.connect_s)}")
    if event.first_byte_s is not None:
        parts.append(f"first byte after {duration(event.first_byte_s)}")
    return parts


def fallback_text(event: FallbackSwitched) -> tuple[str, tuple[str, ...]]:
    """``fell back from llama3 to llama3.2:3b because its attempts failed``."""
    why = _FALLBACK_PHRASES.get(event.reason, event.reason)
    text = f"fell back from {event.from_model} to {event.to_model} because {why}"
    details = [event.detail] if event.detail else []
    if event.candidates:
        details.append(f"next candidates: {', '.join(event.candidates)}")
    return text, tuple(details)


def finished_text(
    event: RequestSucceeded | RequestFailed | RequestCancelled,
) -> tuple[str, tuple[str, ...], str]:
    """The closing step: who answered, or the error the caller received."""
    attempts = plural(event.attempts, "attempt")
    took = duration(event.latency_s)
    match event:
        case RequestSucceeded():
            return f"answered by {event.deployment} after {attempts}, {took} in all", (), "good"
        case RequestFailed():
            name = f"{event.error_type}: " if event.error_type else ""
            return f"failed after {attempts}, {took} in all", (f"{name}{event.error}",), "bad"
        case RequestCancelled():
            text = f"cancelled by the caller after {attempts}, {took} in all"
            return text, (), "warn"


def health_text(event: HealthEvent) -> tuple[str, str]:
    """A health status change as one line and its tone (``""`` for non-changes)."""
    name = event.deployment
    match event:
        case DeploymentQuarantined():
            span = f"{duration(event.until - event.at)} (until {clock_time(event.until)})"
            why = f": {event.reason}" if event.reason else ""
            return f"health: {name} quarantined for {span}{why}", "warn"
        case DeploymentDegraded():
            return f"health: {name} degraded: {event.reason}", "warn"
        case DeploymentFailed():
            return f"health: {name} marked failed ({event.failure}): {event.reason}", "bad"
        case DeploymentProbingStarted() if event.reason:
            return f"health: {name} probing early ({event.reason})", "warn"
        case DeploymentProbingStarted():
            return f"health: {name} quarantine over, probing (round {event.probe_round})", "warn"
        case DeploymentRecovered() if event.previous == "unknown":
            return f"health: {name} healthy (first success)", "good"
        case DeploymentRecovered():
            since = f" (was {event.previous})" if event.previous else ""
            return f"health: {name} recovered{since}", "good"
        case DeploymentStabilized():
            return f"health: {name} stable again (quarantine durations start over)", "good"
        case HealthReset():
            return f"health: {name} reset to unknown ({event.reason})", ""
        case DeploymentCoolingDown():
            span = f"{duration(event.until - event.at)} (until {clock_time(event.until)})"
            return f"health: {name} cooling down for {span}: {event.reason}", "warn"
        case DeploymentPanicProbe():
            others = len(event.candidates)
            return (
                f"health: {name} panic probe: all {others} candidate(s) were out of rotation; "
                f"trying this one (back soonest, at {clock_time(event.out_until)}) instead of "
                "failing without trying",
                "warn",
            )
        case _:
            return "", ""


def summarize(routing: Sequence[RoutingEvent], result: Outcome) -> str:
    """The closing paragraph: what happened to the request, in plain English."""
    sentences = [_ending(result)]
    sentences.extend(_fallbacks(routing))
    failed = [e for e in routing if isinstance(e, AttemptFailed | StreamInterrupted)]
    if failed and result.status in ("succeeded", "failed"):
        way = " on the way" if result.status == "succeeded" else ""
        classes = _grouped(f"{e.deployment}: {e.failure}" for e in failed)
        sentences.append(f"{plural(len(failed), 'attempt')} failed{way} ({classes}).")
    covered = _told_by_fallbacks(routing)
    skipped = [e for e in routing if isinstance(e, CandidateSkipped) and id(e) not in covered]
    if skipped:
        listed = "; ".join(
            f"{e.deployment} ({SKIP_PHRASES.get(e.reason, e.reason)})" for e in skipped
        )
        sentences.append(f"Skipped without a call: {listed}.")
    return " ".join(sentences)


def _ending(result: Outcome) -> str:
    attempts = plural(result.attempts, "attempt")
    took = f" in {duration(result.latency_s)}" if result.latency_s is not None else ""
    match result.status:
        case "succeeded":
            return f"Answered by {result.deployment} after {attempts}{took}."
        case "interrupted":
            return (
                f"The stream from {result.deployment} broke after {result.partial_chars} "
                f"characters had reached the caller ({result.failure}); a stream cannot fall "
                "back once text is delivered, so the caller got an error with the partial text."
            )
        case "cancelled":
            return f"The caller cancelled the request after {attempts}{took}."
        case "failed" if result.attempts == 0:
            return f"No attempt was made{took}: {_first_line(result.error)}"
        case "failed":
            return f"The request failed after {attempts}{took}: {_first_line(result.error)}"
        case _:
            return (
                f"The log holds no end for this request after {attempts} (the process "
                "may have stopped before recording it)."
            )


def _fallbacks(routing: Sequence[RoutingEvent]) -> list[str]:
    switches = [e for e in routing if isinstance(e, FallbackSwitched)]
    if not switches:
        return []
    times = {1: "once", 2: "twice"}.get(len(switches), f"{len(switches)} times")
    reasons = "; ".join(_why_left(routing, s) for s in switches)
    return [f"It fell back {times}: {reasons}."]


def _why_left(routing: Sequence[RoutingEvent], switch: FallbackSwitched) -> str:
    """``from llama3 to llama3.2:3b, because llama3@b failed (connection) and ...``."""
    model = switch.from_model
    reasons: list[str] = []
    for event in routing:
        if event.at > switch.at:
            break
        match event:
            case AttemptFailed() | StreamInterrupted() if _model_of(event.deployment) == model:
                reasons.append(f"{event.deployment} failed ({event.failure})")
            case CandidateSkipped() if _model_of(event.deployment) == model:
                phrase = SKIP_PHRASES.get(event.reason, event.reason)
                reasons.append(f"{event.deployment} was skipped ({phrase})")
    if not reasons:
        reasons.append(_FALLBACK_PHRASES.get(switch.reason, switch.reason))
    return f"from {model} to {switch.to_model}, because {_and(reasons)}"


def _first_line(error: str) -> str:
    """The headline of an error message (the attempts it lists are steps already)."""
    line = error.strip().splitlines()[0] if error.strip() else "unknown error"
    head, sep, rest = line.partition(": ")
    # "request <id>: no deployment answered (...)": the id is in the header already.
    line = rest if sep and head.startswith("request ") and " " not in head[8:] else line
    return line if line.endswith(".") else f"{line}."


def _grouped(items: Iterable[str]) -> str:
    """``a, b, b`` -> ``a, b (2 times)``: repeats in a row counted, order kept."""
    parts = []
    for item, run in itertools.groupby(items):
        count = sum(1 for _ in run)
        parts.append(item if count == 1 else f"{item} ({count} times)")
    return ", ".join(parts)


def _told_by_fallbacks(routing: Sequence[RoutingEvent]) -> set[int]:
    """Ids of the skips a fallback sentence already names (``_why_left`` lists them)."""
    told: set[int] = set()
    for switch in (e for e in routing if isinstance(e, FallbackSwitched)):
        for event in routing:
            if event.at > switch.at:
                break
            if isinstance(event, CandidateSkipped) and _model_of(event.deployment) == (
                switch.from_model
            ):
                told.add(id(event))
    return told


def _model_of(did: str) -> str:
    return did.rpartition("@")[0] or did


def _and(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]
