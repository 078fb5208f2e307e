"""The state report from folded states and hand-written quota events; its text."""

from __future__ import annotations

import datetime as dt

from actors.health import evolve_all
from actors.performance import PerformanceState, performance_summary
from actors.performance import evolve as evolve_performance
from actors.quota import LedgerState
from actors.quota import evolve as evolve_quota
from events import (
    AttemptSucceeded,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    HealthOutcomeRecorded,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
    RequestStarted,
    RequestSucceeded,
    fold,
)
from runtime.inspect._render import Style
from runtime.inspect._state_model import (
    StateReport,
    health_rows,
    model_rows,
    usage_report,
)
from runtime.inspect._state_render import render_state
from tests.runtime.inspect._requests import WALL, stored
from tests.runtime.inspect.test_explain_model import fallback_request

PERIOD = "2023-11-14"


def reserved(rid: str, model: str, endpoint: str, tokens: int) -> QuotaReserved:
    return QuotaReserved(
        at=WALL,
        reservation_id=rid,
        request_id=rid.split("#")[0],
        model=model,
        role="gen",
        endpoint=endpoint,
        tokens=tokens,
        period=PERIOD,
    )


QUOTA: list[Event] = [
    QuotaPeriodStarted(at=WALL, period=PERIOD, resets_at=WALL + 3600),
    reserved("q1#1", "llama3", "a", 100),
    QuotaSettled(
        at=WALL,
        reservation_id="q1#1",
        prompt_tokens=3,
        completion_tokens=17,
        tokens=20,
        endpoint="a",
    ),
    reserved("q2#1", "qwen", "b", 50),
    QuotaSettled(
        at=WALL,
        reservation_id="q2#1",
        prompt_tokens=None,
        completion_tokens=5,
        tokens=50,
        endpoint="b",
    ),
    reserved("q3#1", "llama3", "a", 100),
    QuotaReleased(at=WALL, reservation_id="q3#1", reason="failed: connection"),
    reserved("q4#1", "llama3", "a", 77),
    QuotaWarningIssued(
        at=WALL + 1, limit="global.requests", used=2, limit_value=3, ratio=2 / 3, period=PERIOD
    ),
    QuotaWarningIssued(
        at=WALL - 9e4, limit="global.tokens", used=9, limit_value=10, ratio=0.9, period="2023-11-13"
    ),
    QuotaExceededRecorded(
        at=WALL + 2,
        limit="model:llama3.requests",
        used=2,
        limit_value=2,
        requested=1,
        request_id="q5",
        model="llama3",
        role="gen",
        period=PERIOD,
    ),
]


def ledger_of(events: list[Event]) -> LedgerState:
    return fold(evolve_quota, LedgerState(), events)


def test_usage_per_scope_with_the_prompt_and_completion_split() -> None:
    report = usage_report(ledger_of(QUOTA), stored(QUOTA), moment=WALL + 10)
    rows = [
        (u.scope, u.name, u.requests, u.tokens, u.prompt_tokens, u.completion_tokens)
        for u in report.usage
    ]
    assert rows == [
        ("all", "all models", 2, 70, 3, 22),
        ("model", "llama3", 1, 20, 3, 17),
        ("model", "qwen", 1, 50, None, 5),
        ("role", "gen", 2, 70, None, None),
        ("endpoint", "a", 1, 20, None, None),
        ("endpoint", "b", 1, 50, None, None),
    ]
    assert (report.period, report.resets_at, report.period_ended) == (PERIOD, WALL + 3600, False)
    assert (report.in_flight, report.reserved_tokens) == (1, 77)
    assert [(w.limit, w.used, w.limit_value) for w in report.warnings] == [
        ("global.requests", 2, 3)
    ]  # the other period's warning is left out
    assert [(r.limit, r.request_id) for r in report.refusals] == [("model:llama3.requests", "q5")]
    assert usage_report(ledger_of(QUOTA), stored(QUOTA), moment=WALL + 3600).period_ended


def test_a_reservation_from_before_the_period_counts_only_in_the_ledger_totals() -> None:
    ledger = ledger_of([*QUOTA[:2], QuotaPeriodStarted(at=WALL, period="2023-11-15"), *QUOTA[2:3]])
    period_events = stored(QUOTA[2:3])  # the settle only: its reservation came before
    report = usage_report(ledger, period_events, moment=WALL)
    model = next(u for u in report.usage if u.scope == "model")
    assert (model.name, model.requests, model.tokens, model.prompt_tokens) == (
        "llama3",
        1,
        20,
        None,
    )


def test_no_quota_event_yet_is_an_empty_period() -> None:
    report = usage_report(LedgerState(), [], moment=WALL)
    assert report.period == "" and not report.period_ended
    assert [(u.name, u.requests) for u in report.usage] == [("all models", 0)]


HEALTH: list[Event] = [
    DeploymentRecovered(deployment="llama3@a", at=WALL, previous="unknown"),
    HealthOutcomeRecorded(
        deployment="llama3@b", at=WALL, ok=False, failure="connection", weight=1.0
    ),
    DeploymentQuarantined(
        deployment="llama3@b",
        at=WALL + 1,
        until=WALL + 31,
        quarantine_count=1,
        reason="1 consecutive failure",
        failure="connection",
    ),
    DeploymentRecovered(deployment="qwen@a", at=WALL, previous="unknown"),
]


def test_health_rows_measure_the_quarantine_from_the_moment() -> None:
    states = fold(evolve_all, {}, HEALTH)
    rows = {r.deployment: r for r in health_rows(states, moment=WALL + 11)}
    assert list(rows) == ["llama3@a", "llama3@b", "qwen@a"]
    b = rows["llama3@b"]
    assert (b.status, b.model, b.endpoint, b.quarantine_count) == ("quarantined", "llama3", "b", 1)
    assert b.quarantined_until == WALL + 31 and b.quarantine_left_s == 20.0
    assert (b.consecutive_failures, b.failure_rate, b.last_failure) == (1.0, 1.0, "connection")
    assert rows["llama3@a"].status == "healthy" and rows["llama3@a"].quarantine_left_s is None
    models = [(m.model, m.status, m.deployments) for m in model_rows(states)]
    assert models == [
        ("llama3", "healthy", ("llama3@a", "llama3@b")),
        ("qwen", "healthy", ("qwen@a",)),
    ]


def report(asked: str, moment: float) -> StateReport:
    states = fold(evolve_all, {}, HEALTH)
    performance = fold(evolve_performance, PerformanceState.empty(5), fallback_request())
    return StateReport(
        position=40,
        last_position=50,
        time=WALL + 1,
        moment=moment,
        asked=asked,
        health=health_rows(states, moment),
        models=model_rows(states),
        usage=usage_report(ledger_of(QUOTA), stored(QUOTA), moment),
        performance=performance_summary(performance),
    )


def test_the_text_shows_every_section() -> None:
    text = render_state(report("position 40", WALL + 11), Style(width=300), dt.UTC)
    lines = text.splitlines()
    assert lines[0] == "State after event 40 of 50 (recorded at 2023-11-14 22:13:21)"
    b = next(line for line in lines if line.startswith("llama3@b "))
    assert b.split() == [
        "llama3@b",
        "quarantined",
        "1",
        "100%",
        "22:13:51",
        "(in",
        "20s)",
        "22:13:21",
    ]
    assert "llama3@b is quarantined: 1 consecutive failure" in lines
    assert "Health per model (the best of its deployments)" in lines
    assert "Quota usage in period 2023-11-14 (resets 2023-11-14 23:13:20)" in lines
    assert next(line for line in lines if line.startswith("model qwen")).split() == [
        "model",
        "qwen",
        "1",
        "50",
        "-",
        "5",
    ]
    assert any("global.requests" in line and "2 of 3" in line for line in lines)
    assert any("model:llama3.requests" in line and "q5" in line for line in lines)
    assert "Performance per task kind and model (last 5 attempts each)" in lines
    windows = {
        tuple(line.split()[:2]): line.split()[2:] for line in lines if line.startswith("gen ")
    }
    assert windows[("gen", "qwen")] == ["1", "100%", "0.200s", "0.200s", "-", "-", "5.0"]
    assert windows[("gen", "llama3")] == ["2", "0%", "-", "-", "-", "-", "0.0"]


def test_the_header_says_what_was_asked_for() -> None:
    later = render_state(report("now", WALL + 3600 * 2), Style(width=200), dt.UTC).splitlines()
    assert later[0] == (
        "State now (2023-11-15 00:13:20): all 40 events, the last recorded at 2023-11-14 22:13:21"
    )
    assert any("2023-11-14 22:13:51 (expired 1h59m ago)" in line for line in later)
    assert any(
        "ended 2023-11-14 23:13:20; the next request starts a new one" in line for line in later
    )
    at = render_state(report("2023-11-14 22:13:30", WALL + 10), Style(), dt.UTC).splitlines()
    assert at[0].startswith("State at 2023-11-14 22:13:30: after event 40 of 50")


def test_requests_without_a_limit_split_their_tokens_from_their_own_attempts() -> None:
    def request(rid: str, prompt: int | None, completion: int) -> list[Event]:
        return [
            RequestStarted(
                at=WALL,
                request_id=rid,
                role=None,
                model="llama3",
                kind=None,
                stream=False,
                candidates=("llama3@a",),
                prompt_chars=40,
                prompt_hash="h",
            ),
            AttemptSucceeded(
                at=WALL,
                request_id=rid,
                attempt=1,
                deployment="llama3@a",
                latency_s=0.1,
                prompt_tokens=prompt,
                completion_tokens=completion,
            ),
            RequestSucceeded(
                at=WALL, request_id=rid, model="llama3", endpoint="a", attempts=1, latency_s=0.1
            ),
        ]

    events = [
        QuotaPeriodStarted(at=WALL, period=PERIOD, resets_at=WALL + 3600),
        *request("u1", 4, 6),
        *request("u2", None, 9),
        *QUOTA[1:3],  # a reserved request: counted by its settlement, not its attempt
        AttemptSucceeded(
            at=WALL,
            request_id="q1",
            attempt=1,
            deployment="llama3@a",
            latency_s=0.1,
            prompt_tokens=3,
            completion_tokens=17,
        ),
    ]
    report = usage_report(ledger_of(events), stored(events), moment=WALL + 10)
    model = next(u for u in report.usage if u.scope == "model")
    assert (model.name, model.requests, model.prompt_tokens, model.completion_tokens) == (
        "llama3",
        3,
        7,
        32,
    )
