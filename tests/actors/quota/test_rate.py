"""Per-deployment rate limits in the ledger's pure logic: the token buckets, admission,
settle corrections, undo, and replay (from the events alone) equal to the live ledger."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.quota import (
    Bucket,
    LedgerState,
    QuotaCommand,
    QuotaExceeded,
    QuotaLimits,
    RateLimit,
    RateLimited,
    Release,
    Reserve,
    Settle,
    decide,
    evolve,
)
from actors.quota._undo import undo
from events import Event, UnknownEvent, default_registry
from events._quota import QuotaExceededRecorded, QuotaReserved

T0 = 1_700_000_000.0
LIMITS = QuotaLimits(
    model_rates={"llama3": RateLimit(rpm=2, tpm=1_000)},
    deployment_rates={"llama3@b": RateLimit(rpm=5)},
)


class Ledger:
    """Decide, keep the events, evolve (what the actor does, without the I/O)."""

    def __init__(self, limits: QuotaLimits = LIMITS) -> None:
        self.limits = limits
        self.state = LedgerState()
        self.events: list[Event] = []

    def run(self, command: QuotaCommand, now: float) -> tuple[Event, ...]:
        events = decide(self.state, command, self.limits, now)
        for event in events:
            self.state = evolve(self.state, event)
        self.events.extend(events)
        return events

    def reserve(self, rid: str, now: float, *, endpoint: str = "a", tokens: int = 10) -> None:
        command = Reserve(
            reservation_id=rid, request_id=rid, model="llama3", endpoint=endpoint,
            estimated_tokens=tokens,
        )  # fmt: skip
        self.run(command, now)

    def bucket(self, did: str = "llama3@a") -> Bucket:
        return self.state.buckets[did]


def test_a_bucket_refills_continuously_up_to_its_capacity() -> None:
    rate = RateLimit(rpm=2, tpm=600)
    bucket = Bucket.full(T0, rate).taken(2, 600)
    assert (bucket.requests, bucket.tokens) == (0, 0)
    half = bucket.refilled(T0 + 15)
    assert (half.requests, half.tokens) == (0.5, 150)
    assert half.frees_in("rpm", 1) == pytest.approx(15)
    later = bucket.refilled(T0 + 3600)
    assert (later.requests, later.tokens) == (2, 600)  # never above the per-minute rate
    assert bucket.refilled(T0 - 100) == bucket  # an earlier clock refills nothing
    assert later.taken(-5, -5) == later  # giving back is capped at the capacity too


def test_the_third_request_in_a_minute_is_refused_with_the_limit_and_when_it_frees() -> None:
    ledger = Ledger()
    ledger.reserve("r1", T0)
    ledger.reserve("r2", T0 + 10)
    with pytest.raises(RateLimited) as refused:
        ledger.reserve("r3", T0 + 20)
    error = refused.value
    assert isinstance(error, QuotaExceeded)
    assert error.limit == "deployment:llama3@a.rpm" and error.limit_value == 2
    assert error.deployment == "llama3@a"
    # Two taken; at T0+20 the bucket holds 20 s * 2/60 = 0.667, a whole one at T0+30.
    assert error.retry_after == pytest.approx(10)
    assert error.resets_at == pytest.approx(T0 + 30)
    assert "2 requests per minute" in str(error) and "frees in 10.0 s" in str(error)
    (record,) = error.events
    assert isinstance(record, QuotaExceededRecorded)
    assert record.limit == "deployment:llama3@a.rpm" and record.resets_at == error.resets_at
    ledger.reserve("r3", T0 + 20, endpoint="b")  # another deployment has its own bucket
    ledger.reserve("r4", T0 + 30)  # and a refilled one admits again
    assert ledger.bucket().requests == pytest.approx(0)


def test_an_unlimited_deployment_has_no_bucket_and_its_events_no_rates() -> None:
    ledger = Ledger(QuotaLimits(deployment_rates={"llama3@a": RateLimit(rpm=1)}))
    for i in range(5):
        ledger.reserve(f"r{i}", T0, endpoint="c")
    assert ledger.state.buckets == {}
    reserved = [e for e in ledger.events if isinstance(e, QuotaReserved)]
    assert len(reserved) == 5 and all(e.rpm is None and e.tpm is None for e in reserved)
    assert not QuotaLimits(model_rates={"x": RateLimit()}).any_limit


def test_settling_corrects_the_token_bucket_with_the_real_usage() -> None:
    ledger = Ledger()
    ledger.reserve("big", T0, tokens=800)
    assert ledger.bucket().tokens == 200
    with pytest.raises(RateLimited) as refused:
        ledger.reserve("next", T0, tokens=300)
    assert refused.value.limit == "deployment:llama3@a.tpm"
    assert refused.value.retry_after == pytest.approx(6)  # 100 tokens at 1000/min
    ledger.run(Settle(reservation_id="big", prompt_tokens=20, completion_tokens=30), T0)
    assert ledger.bucket().tokens == 950  # 750 of the estimate given back
    ledger.reserve("next", T0, tokens=300)
    ledger.run(Settle(reservation_id="next", prompt_tokens=900, completion_tokens=900), T0)
    assert ledger.bucket().tokens == -850  # an underestimate is charged: below zero
    with pytest.raises(RateLimited):
        ledger.reserve("tiny", T0 + 50, tokens=0)  # nothing at all fits until it refills
    ledger.reserve("tiny", T0 + 52, tokens=0)


def test_a_release_gives_back_the_tokens_but_not_the_request() -> None:
    ledger = Ledger()
    ledger.reserve("r1", T0, tokens=900)
    ledger.run(Release(reservation_id="r1", reason="failed: timeout"), T0)
    assert (ledger.bucket().requests, ledger.bucket().tokens) == (1, 1000)


def test_a_request_larger_than_a_minute_of_tokens_runs_on_a_full_bucket() -> None:
    ledger = Ledger()
    ledger.reserve("huge", T0, tokens=5_000)
    assert ledger.bucket().tokens == -4_000


def test_a_daily_refusal_comes_before_a_rate_refusal() -> None:
    limits = msgspec.structs.replace(LIMITS, daily_requests=1)
    ledger = Ledger(limits)
    ledger.reserve("r1", T0)
    with pytest.raises(QuotaExceeded) as refused:
        ledger.reserve("r2", T0)
    assert not isinstance(refused.value, RateLimited)
    assert refused.value.limit == "global.requests"


def test_undoing_an_uncommitted_reservation_restores_the_bucket() -> None:
    ledger = Ledger()
    ledger.reserve("r1", T0, tokens=100)
    before = ledger.state
    events = ledger.run(
        Reserve(reservation_id="r2", request_id="r2", model="llama3", endpoint="a",
                estimated_tokens=300),
        T0,
    )  # fmt: skip
    ledger.state = undo(ledger.state, events, None, ledger.state.period)
    assert ledger.state == before
    settled = ledger.run(Settle(reservation_id="r1", prompt_tokens=5, completion_tokens=5), T0)
    assert ledger.bucket().tokens == 990
    undone = undo(ledger.state, settled, before.reservations["r1"], before.period)
    assert (undone.buckets, undone.reservations) == (before.buckets, before.reservations)
    released = ledger.run(Release(reservation_id="r3"), T0)  # unknown: nothing to undo
    assert released == ()


def test_invalid_rates_are_refused() -> None:
    with pytest.raises(ValueError, match=r"deployment_rates\['x@a'\] rpm must be >= 1"):
        QuotaLimits(deployment_rates={"x@a": RateLimit(rpm=0)})


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "settle", "release"]),
        st.sampled_from(["a", "b", "c"]),
        st.floats(min_value=0, max_value=40, allow_nan=False),  # seconds since the last op
        st.integers(min_value=0, max_value=1_500),  # estimate or reported tokens
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_replayed_events_rebuild_the_live_buckets_and_a_minute_never_overshoots(
    ops: list[tuple[str, str, float, int]],
) -> None:
    ledger = Ledger()
    now = T0
    admitted: dict[str, list[float]] = {}
    open_ids: list[str] = []
    for i, (op, endpoint, gap, tokens) in enumerate(ops):
        now += gap
        if op == "reserve":
            try:
                ledger.reserve(f"r{i}", now, endpoint=endpoint, tokens=tokens)
            except RateLimited:
                continue
            admitted.setdefault(endpoint, []).append(now)
            open_ids.append(f"r{i}")
        elif open_ids:
            rid = open_ids.pop(0)
            command: QuotaCommand = (
                Settle(reservation_id=rid, prompt_tokens=tokens, completion_tokens=0)
                if op == "settle"
                else Release(reservation_id=rid)
            )
            ledger.run(command, now)
    replayed = LedgerState()
    for event in ledger.events:
        decoded = default_registry.decode(*default_registry.encode(event))
        assert not isinstance(decoded, UnknownEvent)
        replayed = evolve(replayed, decoded)
    assert replayed == ledger.state
    snapshot = msgspec.json.decode(msgspec.json.encode(ledger.state), type=LedgerState)
    assert snapshot == ledger.state
    # A token bucket admits at most capacity + rate * window in any window.
    rpm = {"a": 2, "b": 5}
    for endpoint, times in admitted.items():
        if endpoint not in rpm:
            continue
        for start in times:
            inside = [t for t in times if start <= t <= start + 60]
            assert len(inside) <= 2 * rpm[endpoint] + 1e-9
