"""Usage counted from request events (no reservation), and one period start a period."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from actors import ActorRef, ActorSystem, ManualClock
from actors.quota import (
    MAX_REPORTED_TOKENS,
    CountUsage,
    GetLedger,
    GetUsage,
    LedgerState,
    QuotaActor,
    QuotaLimits,
    QuotaMessage,
    QuotaUsage,
    Reserve,
    Reserved,
    Settle,
    evolve,
    usage_summary,
)
from actors.quota._counting import HELD_FOR
from actors.quota._state import count_request
from events import (
    Event,
    EventLogError,
    QuotaEvent,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
)
from tests.actors.quota._requests import Req, batch, gaps, requests

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NEXT_DAY = 1_700_006_400.0  # 2023-11-15 00:00 UTC: the next reset with the defaults
UNLIMITED = QuotaLimits()


def fold(events: Iterable[Event], state: LedgerState | None = None) -> LedgerState:
    state = state or LedgerState()
    for event in events:
        state = evolve(state, event)
    return state


def test_a_request_that_reserved_nothing_is_counted_from_its_events() -> None:
    state = fold(batch("r1", Req(model="llama3", endpoint="a", role="gen"), T0))
    assert state.settled == {
        "global": QuotaUsage(requests=1, tokens=120),
        "role:gen": QuotaUsage(requests=1, tokens=120),
        "model:llama3": QuotaUsage(requests=1, tokens=120),
    }
    assert state.endpoints == {"a": QuotaUsage(requests=1, tokens=120)}
    assert state.open == {} and state.held == {}  # nothing left behind


def test_missing_counts_are_estimated_from_characters_and_absurd_ones_clamped() -> None:
    unreported = Req(prompt_tokens=None, completion_tokens=None, prompt_chars=401)
    assert fold(batch("r1", unreported, T0)).settled["global"].tokens == 101 + 20
    absurd = Req(prompt_tokens=10**12, completion_tokens=-3)
    assert fold(batch("r2", absurd, T0)).settled["global"].tokens == MAX_REPORTED_TOKENS


def test_a_broken_stream_counts_and_failed_or_cancelled_attempts_do_not() -> None:
    broken = fold(batch("r1", Req(end="broken", prompt_chars=40, partial_chars=9, failures=1), T0))
    assert broken.settled["global"] == QuotaUsage(requests=1, tokens=10 + 3)
    for end in ("failed", "cancelled"):
        nothing = fold(batch("r2", Req(end=end, failures=2), T0))
        assert nothing.settled == {} and nothing.open == {}


def test_a_request_that_reserved_is_counted_by_its_quota_events_only() -> None:
    """The shape of every request of a log written before this rule (and under limits)."""
    quota: list[Event] = [
        QuotaPeriodStarted(at=T0, period="2023-11-14", resets_at=NEXT_DAY),
        QuotaReserved(at=T0, reservation_id="r1#1", request_id="r1", model="llama3",
                      role="generator", endpoint="a", tokens=1124),
        QuotaSettled(at=T0, reservation_id="r1#1", tokens=120, endpoint="a"),
    ]  # fmt: skip
    both = fold([*quota, *batch("r1", Req(), T0)])
    assert both.settled == fold(quota).settled  # what the quota stream alone said
    assert both.settled["global"] == QuotaUsage(requests=1, tokens=120)
    assert both.held == {}  # the request's end closed its mark


def test_marks_whose_request_never_ended_go_at_a_later_period_start() -> None:
    reserved = QuotaReserved(at=T0, reservation_id="r1#1", request_id="r1", model="llama3")
    started = batch("r2", Req(), T0)[0]  # its batch was lost after the start (impossible
    state = fold([reserved, started])  # in one append, but a snapshot may hold it)
    assert set(state.held) == {"r1"} and set(state.open) == {"r2"}
    soon = QuotaPeriodStarted(at=T0 + HELD_FOR - 1, period="2023-11-15")
    assert set(fold([soon], state).held) == {"r1"}
    late = QuotaPeriodStarted(at=T0 + HELD_FOR + 1, period="2023-11-15")
    assert fold([late], state).held == {} and fold([late], state).open == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(requests, max_size=6), st.booleans())
def test_a_batch_folds_like_its_events_one_by_one(reqs: list[Req], reserved: bool) -> None:
    state = LedgerState()
    if reserved:
        held = QuotaReserved(at=T0, reservation_id="r0#1", request_id="r0", model="qwen")
        state = fold([held])
    for n, req in enumerate(reqs):
        events = batch(f"r{n % 3}", req, T0)
        assert count_request(state, events) == fold(events, state)
        state = fold(events, state)


def quota_events_of(rid: str, req: Req, at: float) -> list[Event]:
    """What a version that reserved every attempt appended for ``req``, before its batch."""
    events: list[Event] = []
    for n in range(1, req.failures + 2):
        reservation = f"{rid}#{n}"
        events.append(QuotaReserved(at=at, reservation_id=reservation, request_id=rid,
                                    model=req.model, role=req.role, endpoint=req.endpoint,
                                    tokens=1124))  # fmt: skip
        last = n == req.failures + 1
        if last and req.end in ("ok", "broken"):
            events.append(QuotaSettled(at=at, reservation_id=reservation, tokens=n * 7,
                                       endpoint=req.endpoint))  # fmt: skip
        else:
            events.append(QuotaReleased(at=at, reservation_id=reservation))
    return events


@settings(max_examples=150, deadline=None)
@given(st.lists(requests, max_size=12))
def test_a_log_of_an_older_version_replays_to_the_usage_it_had(reqs: list[Req]) -> None:
    """Every request of such a log has quota events and request events: the request
    events add nothing to what its quota events alone (the old fold) said."""
    start = QuotaPeriodStarted(at=T0, period="2023-11-14", resets_at=NEXT_DAY)
    quota_only: list[Event] = [start]
    everything: list[Event] = [start]
    for n, req in enumerate(reqs):
        reserved = quota_events_of(f"r{n}", req, T0)
        quota_only += reserved
        everything += [*reserved, *batch(f"r{n}", req, T0)]
    old, new = fold(quota_only), fold(everything)
    assert (new.settled, new.endpoints) == (old.settled, old.endpoints)
    assert new.held == {} and new.open == {}


# --- the live actor against replay ---------------------------------------------------


class Log:
    """What the actor and the requests hand to the log, in order; commits on demand."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.submitted: list[tuple[Event, ...]] = []
        self.commits: list[asyncio.Future[tuple[int, ...]]] = []
        self.hold = False

    def record(self, stream: str, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def submit(
        self, stream: str, events: Sequence[Event], expected: int | None
    ) -> asyncio.Future[tuple[int, ...]]:
        self.submitted.append(tuple(events))
        future: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        self.commits.append(future)
        if not self.hold:
            self.commit(future)
        return future

    def commit(self, future: asyncio.Future[tuple[int, ...]], error: bool = False) -> None:
        if error:
            future.set_exception(EventLogError("disk full"))
            return
        index = self.commits.index(future)
        self.events.extend(self.submitted[index])
        future.set_result(())


def spawn(system: ActorSystem, limits: QuotaLimits, log: Log) -> ActorRef[QuotaMessage]:
    async def restore() -> LedgerState:
        return fold(log.events)

    return system.spawn(
        lambda: QuotaActor(
            limits, state=LedgerState(), restore=restore, submit=log.submit,
            record=log.record, publish=lambda event: None,
        ),
        name="quota",
    )  # fmt: skip


def starts(events: Iterable[Event]) -> list[str]:
    return [e.period for e in events if isinstance(e, QuotaPeriodStarted)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(gaps, requests), max_size=25))
def test_replaying_what_was_recorded_gives_the_live_usage(steps: list[tuple[float, Req]]) -> None:
    async def run() -> None:
        clock = ManualClock(monotonic=100.0, wall=T0)
        log = Log()
        async with ActorSystem(clock=clock) as system:
            quota = spawn(system, UNLIMITED, log)
            await quota.ask(GetLedger())  # started (the runtime waits for that too)
            for n, (gap, req) in enumerate(steps):
                clock.jump_wall(gap)
                events = batch(f"r{n}", req, clock.time())
                quota.notify(CountUsage(events))  # as runtime._quota_usage does
                log.record(f"request/r{n}", events)
            live = await quota.ask(GetLedger())
            usage = await quota.ask(GetUsage())
        replayed = fold(log.events)
        assert replayed == live
        assert usage_summary(replayed, UNLIMITED, clock.time()) == usage
        assert not any(isinstance(e, QuotaEvent) and not isinstance(e, QuotaPeriodStarted)
                       for e in log.events)  # fmt: skip
        periods = starts(log.events)
        assert periods == sorted(set(periods))  # one start a period, in order

    asyncio.run(run())


async def test_requests_racing_at_a_period_start_append_one_start(
    system: ActorSystem, clock: ManualClock
) -> None:
    """Under a limit: requests of the old period settle and new ones reserve at the
    reset, every one decided while the commits of the others are still in flight."""
    log = Log()
    quota = spawn(system, QuotaLimits(daily_requests=100), log)

    async def reserve(n: int) -> None:
        reply = await quota.ask(Reserve(reservation_id=f"r{n}#1", request_id=f"r{n}",
                                        model="llama3", endpoint="a"))  # fmt: skip
        assert isinstance(reply, Reserved) and reply.commit is not None
        await reply.commit

    await asyncio.gather(*(reserve(n) for n in range(10)))  # in 2023-11-14
    clock.set_wall_time(NEXT_DAY + 1.0)
    log.hold = True
    for n in range(10):
        await quota.ask(Settle(reservation_id=f"r{n}#1", prompt_tokens=1, completion_tokens=1))
    fresh = [asyncio.ensure_future(reserve(n)) for n in range(10, 20)]
    await asyncio.sleep(0)
    assert len(log.submitted) > 10  # all decided before any of them committed
    while not all(task.done() for task in fresh):
        for future in [f for f in log.commits if not f.done()]:
            log.commit(future)
        await asyncio.sleep(0)
    assert starts(log.events) == ["2023-11-14", "2023-11-15"]
    usage = await quota.ask(GetUsage())
    assert usage.total == QuotaUsage(requests=10, tokens=20) and usage.in_flight == 10
    assert fold(log.events) == await quota.ask(GetLedger())


async def test_a_start_whose_append_failed_goes_with_the_next_commit(
    system: ActorSystem, clock: ManualClock
) -> None:
    log = Log()
    log.hold = True
    quota = spawn(system, QuotaLimits(daily_requests=100), log)
    clock.set_wall_time(NEXT_DAY + 1.0)
    first = await quota.ask(Reserve(reservation_id="r1#1", request_id="r1", model="llama3"))
    assert isinstance(first, Reserved) and first.commit is not None
    alone, with_first = log.submitted
    assert starts(alone) == ["2023-11-15"] and starts(with_first) == []
    log.commit(log.commits[0], error=True)  # the start's own append fails...
    log.commit(log.commits[1])
    await first.commit
    await asyncio.sleep(0)
    await quota.ask(Settle(reservation_id="r1#1", prompt_tokens=1, completion_tokens=1))
    assert starts(log.submitted[2]) == ["2023-11-15"]  # ...so the next one carries it
    log.commit(log.commits[2])
    await quota.ask(Reserve(reservation_id="r2#1", request_id="r2", model="llama3"))
    assert starts(log.submitted[3]) == []  # committed now: not sent again
    assert math.isclose(fold(log.events).resets_at, NEXT_DAY + 86_400.0)


async def test_without_limits_a_request_leaves_no_quota_event_but_the_period_start(
    system: ActorSystem, clock: ManualClock
) -> None:
    log = Log()
    quota = spawn(system, UNLIMITED, log)
    await quota.ask(GetLedger())
    for n in range(5):
        events = batch(f"r{n}", Req(), clock.time())
        quota.notify(CountUsage(events))
        log.record(f"request/r{n}", events)
    quota_events = [e for e in log.events if isinstance(e, QuotaEvent)]
    assert [type(e) for e in quota_events] == [QuotaPeriodStarted]
    assert log.submitted == []
    usage = await quota.ask(GetUsage())
    assert usage.total == QuotaUsage(requests=5, tokens=600)
    assert usage.models == {"llama3": QuotaUsage(requests=5, tokens=600)}
    assert usage.roles == {"generator": QuotaUsage(requests=5, tokens=600)}
    assert usage.endpoints == {"a": QuotaUsage(requests=5, tokens=600)}
    assert fold(log.events) == await quota.ask(GetLedger())
