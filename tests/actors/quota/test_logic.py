"""The quota ledger's decide/evolve: admission, settling, warnings, periods, messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import msgspec
import pytest

from actors.quota import (
    MAX_REPORTED_TOKENS,
    DailyLimit,
    LedgerState,
    QuotaCommand,
    QuotaExceeded,
    QuotaLimits,
    QuotaUsage,
    Release,
    Reserve,
    Settle,
    decide,
    estimate_tokens,
    evolve,
    usage_summary,
    would_admit,
)
from events import Event, UnknownEvent, default_registry
from events._health import HealthReset
from events._quota import (
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
)

BERLIN = ZoneInfo("Europe/Berlin")
LIMITS = QuotaLimits(
    daily_requests=100,
    daily_tokens=50_000,
    per_model={"llama3": DailyLimit(tokens=10_000), "mistral": DailyLimit(requests=3)},
    per_role={"generator": DailyLimit(requests=50)},
    warn_ratio=0.8,
    reset_hour=0,
    timezone="Europe/Berlin",
)


def berlin(*args: int) -> float:
    return dt.datetime(*args, tzinfo=BERLIN).timestamp()  # type: ignore[arg-type,misc]


EVENING = berlin(2026, 11, 22, 20, 48)


class Ledger:
    """A minimal shell: decide, keep the events, evolve."""

    def __init__(self, limits: QuotaLimits = LIMITS) -> None:
        self.limits = limits
        self.state = LedgerState()
        self.events: list[Event] = []

    def run(self, command: QuotaCommand, now: float) -> tuple[Event, ...]:
        events = decide(self.state, command, self.limits, now)
        self.apply(events)
        return events

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            self.events.append(event)
            self.state = evolve(self.state, event)

    def reserve(
        self,
        rid: str,
        now: float,
        model: str = "llama3",
        tokens: int = 100,
        role: str | None = None,
    ) -> tuple[Event, ...]:
        command = Reserve(
            reservation_id=rid,
            request_id=f"q-{rid}",
            model=model,
            role=role,
            estimated_tokens=tokens,
        )
        return self.run(command, now)

    def served(
        self,
        rid: str,
        now: float,
        model: str = "llama3",
        tokens: int = 100,
        role: str | None = None,
        endpoint: str | None = "local",
    ) -> None:
        self.reserve(rid, now, model, tokens, role)
        self.run(
            Settle(
                reservation_id=rid,
                prompt_tokens=tokens // 2,
                completion_tokens=tokens - tokens // 2,
                endpoint=endpoint,
            ),
            now,
        )


def types(events: Iterable[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def replay(events: Iterable[Event]) -> LedgerState:
    state = LedgerState()
    for event in events:
        name, version, payload = default_registry.encode(event)
        decoded = default_registry.decode(name, version, payload)
        assert not isinstance(decoded, UnknownEvent)
        state = evolve(state, decoded)
    return state


# --- admission -------------------------------------------------------------------------


def test_first_reserve_starts_the_period_and_reserves() -> None:
    ledger = Ledger()
    events = ledger.reserve("r1", EVENING, tokens=300)
    assert types(events) == ["QuotaPeriodStarted", "QuotaReserved"]
    started = events[0]
    assert isinstance(started, QuotaPeriodStarted)
    assert started.period == "2026-11-22"
    assert started.resets_at == berlin(2026, 11, 23, 0, 0)
    assert ledger.state.committed("model:llama3") == QuotaUsage(requests=1, tokens=300)
    assert ledger.state.committed("global") == QuotaUsage(requests=1, tokens=300)
    assert ledger.state.settled == {}


def test_outstanding_reservations_count_against_the_limit() -> None:
    ledger = Ledger()
    ledger.reserve("r1", EVENING, tokens=6_000)
    ledger.reserve("r2", EVENING, tokens=4_000)  # exactly at the limit: admitted
    with pytest.raises(QuotaExceeded) as info:
        ledger.reserve("r3", EVENING, tokens=1)
    assert info.value.limit == "model:llama3.tokens"
    assert info.value.used == 10_000
    assert info.value.limit_value == 10_000
    assert would_admit(ledger.state, LIMITS, "llama3", None, 1, EVENING) == "model:llama3.tokens"
    assert would_admit(ledger.state, LIMITS, "mistral", None, 1, EVENING) is None


def test_request_limit_refuses_the_fourth_request() -> None:
    ledger = Ledger()
    for rid in ("a", "b", "c"):
        ledger.served(rid, EVENING, model="mistral")
    with pytest.raises(QuotaExceeded) as info:
        ledger.reserve("d", EVENING, model="mistral")
    assert info.value.limit == "model:mistral.requests"
    assert (info.value.used, info.value.limit_value, info.value.requested) == (3, 3, 1)


def test_exhausted_tokens_refuse_even_a_zero_estimate() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, tokens=10_000)
    assert would_admit(ledger.state, LIMITS, "llama3", None, 0, EVENING) == "model:llama3.tokens"


def test_global_and_role_limits_are_named_before_the_model_limit() -> None:
    limits = QuotaLimits(
        daily_tokens=500,
        per_role={"gen": DailyLimit(tokens=500)},
        per_model={"llama3": DailyLimit(tokens=500)},
    )
    ledger = Ledger(limits)
    ledger.served("r1", EVENING, tokens=500, role="gen")
    assert would_admit(ledger.state, limits, "llama3", "gen", 1, EVENING) == "global.tokens"
    limits = msgspec.structs.replace(limits, daily_tokens=None)
    assert would_admit(ledger.state, limits, "llama3", "gen", 1, EVENING) == "role:gen.tokens"


def test_refusal_carries_a_record_and_changes_nothing() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, tokens=10_000)
    before = ledger.state
    with pytest.raises(QuotaExceeded) as info:
        ledger.reserve("r2", EVENING, tokens=5)
    (record,) = info.value.events
    assert isinstance(record, QuotaExceededRecorded)
    assert (record.limit, record.used, record.requested) == ("model:llama3.tokens", 10_000, 5)
    assert (record.request_id, record.model, record.period) == ("q-r2", "llama3", "2026-11-22")
    assert evolve(before, record) == before


def test_duplicate_reserve_is_a_no_op() -> None:
    ledger = Ledger()
    ledger.reserve("r1", EVENING)
    assert ledger.reserve("r1", EVENING) == ()
    assert ledger.state.committed("global").requests == 1


# --- the message -----------------------------------------------------------------------


def test_exceeded_message_names_limit_usage_and_local_reset() -> None:
    ledger = Ledger()
    ledger.reserve("r1", EVENING, tokens=9_000)
    ledger.run(Settle(reservation_id="r1", prompt_tokens=412, completion_tokens=10_000), EVENING)
    with pytest.raises(QuotaExceeded) as info:
        ledger.reserve("r2", EVENING, tokens=100)
    assert str(info.value) == (
        "daily token quota for model 'llama3' exhausted: 10,412 of 10,000 used, this "
        "request needs up to 100; resets at 2026-11-23 00:00 Europe/Berlin (in 3h12m); "
        "wait for the reset or raise the limit"
    )
    assert info.value.resets_at == berlin(2026, 11, 23)


def test_exceeded_message_mentions_requests_in_flight() -> None:
    ledger = Ledger()
    ledger.served("a", EVENING, model="mistral", role="generator")
    ledger.reserve("b", EVENING, model="mistral")
    ledger.reserve("c", EVENING, model="mistral")
    with pytest.raises(
        QuotaExceeded,
        match=r"^daily request quota for model 'mistral' "
        r"exhausted: 3 of 3 used \(incl. 2 reserved by requests in flight\); "
        r"resets at 2026-11-23 00:00 Europe/Berlin \(in 3h12m\)",
    ):
        ledger.reserve("d", EVENING, model="mistral")


def test_global_message_has_no_owner() -> None:
    limits = QuotaLimits(daily_requests=1, timezone="Europe/Berlin")
    ledger = Ledger(limits)
    ledger.served("a", EVENING)
    with pytest.raises(QuotaExceeded, match=r"^daily request quota exhausted: 1 of 1 used;"):
        ledger.reserve("b", EVENING)


# --- settle and release ----------------------------------------------------------------


def settle_charge(prompt: int | None, completion: int | None, estimate: int = 1_000) -> int:
    ledger = Ledger()
    ledger.reserve("r1", EVENING, tokens=estimate)
    events = ledger.run(
        Settle(reservation_id="r1", prompt_tokens=prompt, completion_tokens=completion),
        EVENING,
    )
    settled = events[0]
    assert isinstance(settled, QuotaSettled)
    assert ledger.state.reservations == {}
    assert ledger.state.settled["model:llama3"].tokens == settled.tokens
    return settled.tokens


def test_settle_replaces_the_estimate_with_real_usage() -> None:
    assert settle_charge(30, 40) == 70
    assert settle_charge(800, 900) == 1_700  # an underestimate: charged in full


def test_settle_rules_for_missing_negative_and_absurd_usage() -> None:
    assert settle_charge(None, None) == 1_000  # unknown: keep the estimate
    assert settle_charge(30, None) == 1_000  # part unknown: at least the estimate
    assert settle_charge(None, 2_000) == 2_000
    assert settle_charge(-5, -7) == 0
    assert settle_charge(10**15, 0) == MAX_REPORTED_TOKENS


def test_settle_counts_per_model_role_and_endpoint() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, model="llama3", role="generator", tokens=100)
    ledger.served("r2", EVENING, model="mistral", role="generator", tokens=50, endpoint="gpu")
    ledger.served("r3", EVENING, model="mistral", tokens=10, endpoint=None)
    summary = usage_summary(ledger.state, LIMITS, EVENING)
    assert summary.period == "2026-11-22"
    assert summary.resets_in == 3 * 3600 + 12 * 60
    assert summary.total == QuotaUsage(requests=3, tokens=160)
    assert summary.models == {
        "llama3": QuotaUsage(requests=1, tokens=100),
        "mistral": QuotaUsage(requests=2, tokens=60),
    }
    assert summary.roles == {"generator": QuotaUsage(requests=2, tokens=150)}
    assert summary.endpoints == {
        "local": QuotaUsage(requests=1, tokens=100),
        "gpu": QuotaUsage(requests=1, tokens=50),
    }
    statuses = {s.limit: s for s in summary.limits}
    assert list(statuses) == [
        "global.requests",
        "global.tokens",
        "role:generator.requests",
        "model:llama3.tokens",
        "model:mistral.requests",
    ]
    assert statuses["model:mistral.requests"].left == 1
    assert statuses["model:llama3.tokens"].ratio == pytest.approx(0.01)


def test_release_consumes_nothing() -> None:
    ledger = Ledger()
    ledger.reserve("r1", EVENING, tokens=500)
    events = ledger.run(Release(reservation_id="r1", reason="failed: timeout_connect"), EVENING)
    assert types(events) == ["QuotaReleased"]
    assert ledger.state.committed("global") == QuotaUsage()
    assert ledger.state.settled == {}


def test_unknown_reservation_settle_and_release_are_no_ops() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING)
    state = ledger.state
    assert decide(state, Settle(reservation_id="r1", prompt_tokens=5), LIMITS, EVENING) == ()
    assert decide(state, Release(reservation_id="r1"), LIMITS, EVENING) == ()
    assert decide(state, Release(reservation_id="nope"), LIMITS, EVENING + 86_400) == ()


# --- warnings --------------------------------------------------------------------------


def test_warning_fires_once_per_limit_and_period() -> None:
    ledger = Ledger()
    assert "QuotaWarningIssued" not in types(ledger.reserve("r1", EVENING, tokens=7_999))
    events = ledger.reserve("r2", EVENING, tokens=1)
    warning = events[-1]
    assert isinstance(warning, QuotaWarningIssued)
    assert (warning.limit, warning.used, warning.limit_value) == (
        "model:llama3.tokens",
        8_000,
        10_000,
    )
    assert warning.ratio == pytest.approx(0.8)
    assert warning.period == "2026-11-22"
    assert "QuotaWarningIssued" not in types(ledger.reserve("r3", EVENING, tokens=1_000))
    for rid in ("r1", "r2", "r3"):
        ledger.run(Settle(reservation_id=rid), EVENING)
    # The next day the counts and the warnings start over.
    morning = berlin(2026, 11, 23, 9, 0)
    events = ledger.reserve("r4", morning, tokens=8_500)
    assert types(events) == ["QuotaPeriodStarted", "QuotaReserved", "QuotaWarningIssued"]


def test_settle_above_the_estimate_can_issue_the_warning() -> None:
    ledger = Ledger()
    ledger.reserve("r1", EVENING, tokens=100)
    events = ledger.run(
        Settle(reservation_id="r1", prompt_tokens=4_000, completion_tokens=4_500), EVENING
    )
    assert types(events) == ["QuotaSettled", "QuotaWarningIssued"]


def test_restart_mid_day_keeps_counts_and_issued_warnings() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, tokens=8_500, role="generator")
    ledger.reserve("r2", EVENING, tokens=200)
    assert "model:llama3.tokens" in ledger.state.warned
    restarted = replay(ledger.events)
    assert restarted == ledger.state
    later = EVENING + 600
    events = decide(
        restarted,
        Reserve(reservation_id="r3", request_id="q3", model="llama3", estimated_tokens=100),
        LIMITS,
        later,
    )
    assert types(events) == ["QuotaReserved"]  # no second warning
    # The reservation made before the restart still counts and can still be settled.
    assert restarted.committed("model:llama3").tokens == 8_700
    assert types(decide(restarted, Settle(reservation_id="r2"), LIMITS, later)) == ["QuotaSettled"]


# --- periods and clock jumps -----------------------------------------------------------


def test_midnight_starts_a_new_period_once() -> None:
    ledger = Ledger()
    ledger.served("r1", berlin(2026, 11, 22, 23, 59, 59), tokens=9_000)
    events = ledger.reserve("r2", berlin(2026, 11, 23, 0, 0, 1), tokens=9_000)
    assert types(events)[:2] == ["QuotaPeriodStarted", "QuotaReserved"]
    assert isinstance(events[0], QuotaPeriodStarted)
    assert (events[0].period, events[0].previous) == ("2026-11-23", "2026-11-22")
    assert ledger.state.settled == {}
    assert ledger.state.committed("model:llama3").tokens == 9_000


def test_backward_jump_across_the_reset_keeps_the_newer_period() -> None:
    ledger = Ledger()
    ledger.served("r1", berlin(2026, 11, 23, 0, 0, 1), tokens=6_000)
    before = ledger.state
    events = ledger.reserve("r2", berlin(2026, 11, 22, 23, 59, 50), tokens=3_000)
    assert types(events) == ["QuotaReserved", "QuotaWarningIssued"]
    assert ledger.state.period == before.period == "2026-11-23"
    # Back past the reset again: the reset already happened, nothing is reset twice.
    events = ledger.reserve("r3", berlin(2026, 11, 23, 0, 0, 5), tokens=1_000)
    assert types(events) == ["QuotaReserved"]
    assert ledger.state.committed("model:llama3").tokens == 10_000
    summary = usage_summary(ledger.state, LIMITS, berlin(2026, 11, 22, 23, 0))
    assert summary.period == "2026-11-23"
    assert summary.resets_at == berlin(2026, 11, 24)
    assert summary.resets_in == 25 * 3600  # honest: the stored reset is that far away


def test_forward_jump_over_days_resets_once() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, tokens=9_000)
    later = berlin(2026, 11, 25, 14, 0)
    events = ledger.reserve("r2", later, tokens=100)
    started = [e for e in events if isinstance(e, QuotaPeriodStarted)]
    assert len(started) == 1
    assert (started[0].period, started[0].previous) == ("2026-11-25", "2026-11-22")
    assert started[0].resets_at == berlin(2026, 11, 26)
    assert ledger.state.committed("model:llama3").tokens == 100


def test_reservation_outstanding_at_the_reset_is_charged_when_settled() -> None:
    ledger = Ledger()
    ledger.reserve("r1", berlin(2026, 11, 22, 23, 59, 59), tokens=500)
    events = ledger.run(
        Settle(reservation_id="r1", prompt_tokens=100, completion_tokens=200),
        berlin(2026, 11, 23, 0, 0, 5),
    )
    assert types(events) == ["QuotaPeriodStarted", "QuotaSettled"]
    assert ledger.state.settled["model:llama3"] == QuotaUsage(requests=1, tokens=300)


def test_queries_see_a_new_period_without_emitting() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING, tokens=10_000)
    tomorrow = berlin(2026, 11, 23, 8, 0)
    assert would_admit(ledger.state, LIMITS, "llama3", None, 100, tomorrow) is None
    summary = usage_summary(ledger.state, LIMITS, tomorrow)
    assert (summary.period, summary.total) == ("2026-11-23", QuotaUsage())
    assert ledger.state.period == "2026-11-22"


# --- evolve, events, policy, estimate --------------------------------------------------


def test_evolve_ignores_unrelated_and_unknown_events() -> None:
    ledger = Ledger()
    ledger.served("r1", EVENING)
    state = ledger.state
    assert evolve(state, HealthReset(deployment="x", at=0.0)) == state
    assert evolve(state, UnknownEvent(type="QuotaFuture", schema_version=9, payload=b"{}")) == state
    stale = QuotaWarningIssued(
        at=0.0, limit="global.tokens", used=1, limit_value=1, ratio=1.0, period="2026-11-21"
    )
    assert evolve(state, stale) == state
    assert evolve(state, QuotaReleased(at=0.0, reservation_id="nope")) == state
    assert evolve(state, QuotaSettled(at=0.0, reservation_id="nope", tokens=5)) == state


@pytest.mark.parametrize(
    "event",
    [
        QuotaPeriodStarted(at=1.5, period="2026-11-22", resets_at=2.5, previous="2026-11-21"),
        QuotaReserved(
            at=1.0,
            reservation_id="r",
            request_id="q",
            model="m",
            role="g",
            endpoint="e",
            tokens=7,
            period="2026-11-22",
        ),
        QuotaSettled(
            at=1.0,
            reservation_id="r",
            prompt_tokens=None,
            completion_tokens=3,
            tokens=7,
            endpoint="e",
        ),
        QuotaReleased(at=1.0, reservation_id="r", reason="cancelled"),
        QuotaWarningIssued(at=1.0, limit="global.tokens", used=8, limit_value=10, ratio=0.8),
        QuotaExceededRecorded(
            at=1.0,
            limit="role:g.requests",
            used=3,
            limit_value=3,
            requested=1,
            request_id="q",
            model="m",
            role="g",
            resets_at=9.0,
        ),
    ],
)
def test_events_round_trip_through_the_registry(event: Event) -> None:
    assert default_registry.decode(*default_registry.encode(event)) == event


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"warn_ratio": 0.0}, "warn_ratio"),
        ({"warn_ratio": 1.5}, "warn_ratio"),
        ({"reset_hour": 24}, "reset_hour"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"daily_tokens": 0}, "daily tokens"),
        ({"per_model": {"llama3": DailyLimit(requests=-1)}}, "per_model['llama3'] requests"),
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid quota limits") as info:
        QuotaLimits(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_estimate_tokens_formula() -> None:
    assert estimate_tokens(0, None, 512) == 512
    assert estimate_tokens(401, 100, 512) == 101 + 100
    assert estimate_tokens(-10, -3, 512) == 0
