"""Lazy folding: the windows read after any sequence of events equal the eager fold.

``fold_events`` (one batch) must equal ``evolve`` applied event by event, dict orders
included, and ``PerformanceActor`` (which buffers what it is told and folds on a read)
must answer every read at any moment exactly as an eager fold of everything told so far.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import ActorSystem, ManualClock
from actors.performance import (
    GetPerformanceView,
    Observe,
    PerformanceActor,
    PerformanceState,
    SummarizePerformance,
    fold_events,
    performance_summary,
)
from actors.performance._actor import MAX_PENDING
from events._base import Event
from events._routing import RequestCancelled, RequestFailed, StreamInterrupted
from tests.actors.performance._events import done, failed, fold, ok, started

DEPLOYMENTS = ("llama3@a", "llama3@b", "qwen@a", "org@qwen@b")
RIDS = tuple(f"r{i}" for i in range(6))


def _failed_request(rid: str) -> RequestFailed:
    return RequestFailed(request_id=rid, at=0.0, attempts=1, error="boom", failure="server_error")


def _cancelled(rid: str) -> RequestCancelled:
    return RequestCancelled(request_id=rid, at=0.0, attempts=1)


def _interrupted(rid: str, deployment: str, failure: str) -> StreamInterrupted:
    return StreamInterrupted(
        request_id=rid, at=0.0, attempt=1, deployment=deployment, failure=failure,
        partial_chars=3,
    )  # fmt: skip


rids, deployments = st.sampled_from(RIDS), st.sampled_from(DEPLOYMENTS)
latencies = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 10))
failures = st.sampled_from(("server_error", "timeout", "context_overflow"))
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(
        lambda rid, kind, role: started(rid, kind=kind, role=role),
        rids, st.sampled_from((None, "chat", "code")), st.sampled_from((None, "coder")),
    ),
    st.builds(lambda rid, d, lat, tps: ok(rid, d, 1.0, ttft=lat, tps=tps), rids, deployments,
              latencies, latencies),
    st.builds(lambda rid, d, lat: ok(rid, d, lat or 0.0), rids, deployments, latencies),
    st.builds(failed, rids, deployments, failures),
    st.builds(_interrupted, rids, deployments, failures),
    st.builds(done, rids, deployments),
    st.builds(_failed_request, rids),
    st.builds(_cancelled, rids),
)  # fmt: skip
states = st.builds(
    lambda window, cap: PerformanceState.empty(window, max_inflight=cap),
    st.integers(1, 4),
    st.integers(1, 4),
)


def _same(lazy: PerformanceState, eager: PerformanceState) -> None:
    assert lazy == eager
    # Equal bytes: the same dict orders (which request is evicted first, snapshots).
    assert msgspec.json.encode(lazy) == msgspec.json.encode(eager)


@settings(max_examples=1000, deadline=None)
@given(states, st.lists(st.lists(events, max_size=12), max_size=6))
def test_a_batch_fold_equals_the_eager_fold(
    state: PerformanceState, batches: list[list[Event]]
) -> None:
    lazy = eager = state
    for batch in batches:
        lazy = fold_events(lazy, batch)
        eager = fold(eager, batch)
        _same(lazy, eager)


def test_a_batch_that_changes_nothing_returns_the_same_state() -> None:
    state = fold(PerformanceState.empty(), [started("r1"), ok("r1", "llama3@a")])
    assert (
        fold_events(state, [done("r9", "llama3@a"), failed("r1", "x@y", "context_overflow")])
        is state
    )


# One step of the actor test: tell these events, or read (a view, or a summary).
steps = st.one_of(
    st.lists(events, max_size=6).map(tuple),
    st.sampled_from(("view", "summary")),
)


@settings(max_examples=60, deadline=None)
@given(states, st.lists(steps, max_size=25))
async def test_the_actor_answers_every_read_as_the_eager_fold(
    state: PerformanceState, script: list[tuple[Event, ...] | str]
) -> None:
    async def restore() -> PerformanceState:
        raise AssertionError("the actor starts from the given state")

    async with ActorSystem(clock=ManualClock()) as system:
        ref = system.spawn(lambda: PerformanceActor(state, restore), name="performance")
        eager = state
        for step in script:
            if step == "view":
                _same(await ref.ask(GetPerformanceView()), eager)
            elif step == "summary":
                assert await ref.ask(SummarizePerformance()) == performance_summary(eager)
            else:
                assert isinstance(step, tuple)
                await ref.ask(Observe(step))
                eager = fold(eager, step)
        _same(await ref.ask(GetPerformanceView()), eager)


async def test_the_buffer_is_folded_when_full_even_if_nobody_reads() -> None:
    async def restore() -> PerformanceState:
        raise AssertionError("the actor starts from the given state")

    async with ActorSystem(clock=ManualClock()) as system:
        actor = PerformanceActor(PerformanceState.empty(), restore)
        ref = system.spawn(lambda: actor, name="performance")
        told: list[Event] = []
        for i in range(MAX_PENDING):
            batch = (started(f"r{i}"), ok(f"r{i}", "llama3@a", 0.5), done(f"r{i}", "llama3@a"))
            await ref.ask(Observe(batch))
            told += batch
            assert len(actor._pending) < MAX_PENDING  # bounded, read or not
        _same(await ref.ask(GetPerformanceView()), fold(PerformanceState.empty(), told))
