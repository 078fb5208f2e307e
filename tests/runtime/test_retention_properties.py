"""Replay after compaction gives the state a full replay gives, for every projection.

Random sequences of the runtime's own events (health, quota, routing, catalog, built
with the real event classes) are appended in segments; after each segment but the last
the runtime's projections are snapshotted and the log compacted (``retention``'s
``compact_behind_snapshots``, through a random position). Starting the projections
again on the compacted log must give what folding every event from the beginning gives.
Hypothesis runs it on ``MemoryEventLog`` (fast); one example runs on ``SqliteEventLog``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import (
    CATALOG_STREAM_PREFIX,
    HEALTH_STREAM_PREFIX,
    QUOTA_LEDGER_STREAM,
    REQUEST_STREAM_PREFIX,
    AttemptFailed,
    AttemptSucceeded,
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    Event,
    EventLog,
    FallbackSwitched,
    HealthOutcomeRecorded,
    HealthReset,
    MemoryEventLog,
    ModelListFailed,
    ModelListRefreshed,
    ModelsDiscovered,
    Projector,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    SqliteEventLog,
    StreamInterrupted,
)
from events._replay import fold
from runtime._retention import compact_behind_snapshots, runtime_projections

DIDS = ("llama3@a", "llama3@b", "qwen@a")
MODELS = ("llama3", "qwen")
ENDPOINTS = ("a", "b")
RIDS = ("r1", "r2", "r3", "r4")
RESERVATIONS = ("q1", "q2", "q3")
PERIODS = ("2026-03-28", "2026-03-29")
WINDOW = 3
"""A small performance window, so windows fill and slide within one example."""

at = st.floats(1_700_000_000.0, 1_700_300_000.0)
latency = st.floats(0.0, 30.0)
failure = st.sampled_from([None, "server_error", "timeout", "connection"])
Batch = tuple[str, list[Event]]


def _health(did: str) -> st.SearchStrategy[Event]:
    d = st.just(did)
    return st.one_of(
        st.builds(
            HealthOutcomeRecorded,
            deployment=d,
            at=at,
            ok=st.booleans(),
            failure=failure,
            latency=st.none() | latency,
            weight=st.sampled_from([0.5, 1.0]),
        ),
        st.builds(DeploymentDegraded, deployment=d, at=at, latency=st.none() | latency),
        st.builds(DeploymentRecovered, deployment=d, at=at),
        st.builds(
            DeploymentQuarantined,
            deployment=d,
            at=at,
            until=at,
            quarantine_count=st.integers(1, 4),
            failure=failure,
        ),
        st.builds(DeploymentProbingStarted, deployment=d, at=at, probe_round=st.integers(1, 3)),
        st.builds(DeploymentFailed, deployment=d, at=at, failure=failure),
        st.builds(DeploymentStabilized, deployment=d, at=at),
        st.builds(HealthReset, deployment=d, at=at, reason=st.just("operator")),
        st.builds(DeploymentCoolingDown, deployment=d, at=at, until=at),
    )


def _request(rid: str) -> st.SearchStrategy[Event]:
    r, did = st.just(rid), st.sampled_from(DIDS)
    return st.one_of(
        st.builds(
            RequestStarted,
            request_id=r,
            at=at,
            role=st.sampled_from([None, "gen"]),
            model=st.sampled_from([None, *MODELS]),
            kind=st.sampled_from([None, "chat", "code"]),
            stream=st.booleans(),
            candidates=st.lists(did, max_size=3).map(tuple),
            prompt_chars=st.integers(0, 500),
            prompt_hash=st.just("h"),
        ),
        st.builds(
            FallbackSwitched,
            request_id=r,
            at=at,
            from_model=st.sampled_from(MODELS),
            to_model=st.sampled_from(MODELS),
            reason=st.just("exhausted"),
            candidates=st.lists(did, max_size=2).map(tuple),
        ),
        st.builds(
            AttemptSucceeded,
            request_id=r,
            at=at,
            attempt=st.integers(1, 3),
            deployment=did,
            latency_s=latency,
            ttft_s=st.none() | latency,
            completion_tokens=st.none() | st.integers(0, 900),
        ),
        st.builds(
            AttemptFailed,
            request_id=r,
            at=at,
            attempt=st.integers(1, 3),
            deployment=did,
            failure=st.sampled_from(["server_error", "timeout"]),
            retryable=st.booleans(),
        ),
        st.builds(
            StreamInterrupted,
            request_id=r,
            at=at,
            deployment=did,
            partial_chars=st.integers(0, 99),
            failure=st.just("reset"),
        ),
        st.builds(
            RequestSucceeded,
            request_id=r,
            at=at,
            model=st.sampled_from(MODELS),
            endpoint=st.sampled_from(ENDPOINTS),
            attempts=st.integers(1, 3),
            latency_s=latency,
        ),
        st.builds(
            RequestFailed, request_id=r, at=at, attempts=st.integers(1, 3), error=st.just("x")
        ),
        st.builds(RequestCancelled, request_id=r, at=at, attempts=st.integers(0, 3)),
    )


def _quota() -> st.SearchStrategy[Event]:
    res, period = st.sampled_from(RESERVATIONS), st.sampled_from(PERIODS)
    return st.one_of(
        st.builds(QuotaPeriodStarted, at=at, period=period),
        st.builds(
            QuotaReserved,
            at=at,
            reservation_id=res,
            request_id=st.sampled_from(RIDS),
            model=st.sampled_from(MODELS),
            role=st.sampled_from([None, "gen"]),
            endpoint=st.sampled_from([None, *ENDPOINTS]),
            tokens=st.integers(0, 500),
            period=period,
        ),
        st.builds(
            QuotaSettled,
            at=at,
            reservation_id=res,
            tokens=st.integers(0, 900),
            prompt_tokens=st.none() | st.integers(0, 99),
        ),
        st.builds(QuotaReleased, at=at, reservation_id=res),
        st.builds(
            QuotaWarningIssued,
            at=at,
            limit=st.just("daily.requests"),
            used=st.integers(0, 9),
            limit_value=st.just(10),
            ratio=st.just(0.8),
            period=period,
        ),
        st.builds(
            QuotaExceededRecorded,
            at=at,
            limit=st.just("daily.requests"),
            used=st.integers(0, 9),
            limit_value=st.just(10),
            period=period,
        ),
    )


def _catalog(endpoint: str) -> st.SearchStrategy[Event]:
    e, models = st.just(endpoint), st.lists(st.sampled_from(MODELS), max_size=2, unique=True)
    return st.one_of(
        st.builds(ModelListRefreshed, endpoint=e, models=models.map(tuple), at=at),
        st.builds(ModelListFailed, endpoint=e, error=st.just("connection refused"), at=at),
        st.builds(
            ModelsDiscovered, endpoint=e, added=models.map(tuple), removed=models.map(tuple), at=at
        ),
    )


def _batch(stream: str, events: st.SearchStrategy[Event]) -> st.SearchStrategy[Batch]:
    return st.tuples(st.just(stream), st.lists(events, min_size=1, max_size=4))


# One strategy object per stream, built once: a strategy made inside ``flatmap`` is new
# at every draw, and Hypothesis validates each new one (slow in recent releases).
_HEALTH_BATCHES = {d: _batch(HEALTH_STREAM_PREFIX + d, _health(d)) for d in DIDS}
_REQUEST_BATCHES = {r: _batch(REQUEST_STREAM_PREFIX + r, _request(r)) for r in RIDS}
_CATALOG_BATCHES = {e: _batch(CATALOG_STREAM_PREFIX + e, _catalog(e)) for e in ENDPOINTS}
batch_st: st.SearchStrategy[Batch] = st.one_of(
    st.sampled_from(DIDS).flatmap(_HEALTH_BATCHES.__getitem__),
    st.sampled_from(RIDS).flatmap(_REQUEST_BATCHES.__getitem__),
    _batch(QUOTA_LEDGER_STREAM, _quota()),
    st.sampled_from(ENDPOINTS).flatmap(_CATALOG_BATCHES.__getitem__),
)
segments_st = st.lists(st.lists(batch_st, max_size=8), min_size=2, max_size=4)
"""Segments of batches; the log is compacted between two segments."""
fractions_st = st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3)
"""Where each compaction aims, as a fraction of the log's last position."""


async def compact_between(
    log: EventLog, segments: list[list[Batch]], fractions: list[float]
) -> dict[str, Any]:
    """Append the segments, compacting behind snapshots between two; the restarted states."""
    for index, segment in enumerate(segments):
        for stream, events in segment:
            await log.append(stream, events)
        if index == len(segments) - 1:
            break
        projectors = [await Projector.start(log, p) for p in runtime_projections(WINDOW)]
        last = await log.last_position()
        through = round(last * fractions[index % len(fractions)])
        done = await compact_behind_snapshots(log, projectors, through)
        assert done.through == max(through, done.before.compacted_through)
        assert (await log.bounds()).first_position == done.through + 1
    restarted = [await Projector.start(log, p) for p in runtime_projections(WINDOW)]
    return {p.projection.name: p.state for p in restarted}


def full_fold(segments: list[list[Batch]]) -> dict[str, Any]:
    """Every projection folded over every event, from the beginning (no log at all)."""
    found: dict[str, Any] = {}
    for projection in runtime_projections(WINDOW):
        events = [
            event
            for segment in segments
            for stream, batch in segment
            for event in batch
            if (projection.stream is None or projection.stream == stream)
            and (projection.types is None or type(event).__name__ in projection.types)
        ]
        found[projection.name] = fold(projection.evolve, projection.initial, events)
    return found


def fixed_segments() -> list[list[Batch]]:
    """A hand-made example touching every projection, for the SQLite run."""
    t = 1_700_000_000.0
    started = RequestStarted(
        request_id="r1",
        at=t,
        role="gen",
        model="llama3",
        kind="chat",
        stream=False,
        candidates=DIDS[:2],
        prompt_chars=5,
        prompt_hash="h",
    )
    first: list[Batch] = [
        (CATALOG_STREAM_PREFIX + "a", [ModelListRefreshed(endpoint="a", models=MODELS, at=t)]),
        (QUOTA_LEDGER_STREAM, [QuotaPeriodStarted(at=t, period=PERIODS[0])]),
        (REQUEST_STREAM_PREFIX + "r1", [started]),
        (
            HEALTH_STREAM_PREFIX + DIDS[0],
            [
                HealthOutcomeRecorded(deployment=DIDS[0], at=t, ok=False, failure="timeout"),
                DeploymentQuarantined(deployment=DIDS[0], at=t, until=t + 60, quarantine_count=1),
            ],
        ),
        (
            QUOTA_LEDGER_STREAM,
            [
                QuotaReserved(
                    at=t, reservation_id="q1", request_id="r1", model="llama3", period=PERIODS[0]
                )
            ],
        ),
    ]
    second: list[Batch] = [
        (
            REQUEST_STREAM_PREFIX + "r1",
            [
                AttemptFailed(
                    request_id="r1",
                    at=t + 1,
                    attempt=1,
                    deployment=DIDS[0],
                    failure="timeout",
                    retryable=True,
                ),
                AttemptSucceeded(
                    request_id="r1",
                    at=t + 2,
                    attempt=2,
                    deployment=DIDS[1],
                    latency_s=1.5,
                    completion_tokens=12,
                ),
                RequestSucceeded(
                    request_id="r1",
                    at=t + 2,
                    model="llama3",
                    endpoint="b",
                    attempts=2,
                    latency_s=2.0,
                ),
            ],
        ),
        (QUOTA_LEDGER_STREAM, [QuotaSettled(at=t + 2, reservation_id="q1", tokens=20)]),
        (CATALOG_STREAM_PREFIX + "b", [ModelListFailed(endpoint="b", error="down", at=t + 3)]),
    ]
    third: list[Batch] = [
        (HEALTH_STREAM_PREFIX + DIDS[0], [HealthReset(deployment=DIDS[0], at=t + 4)]),
        (
            REQUEST_STREAM_PREFIX + "r2",
            [
                RequestStarted(
                    request_id="r2",
                    at=t + 5,
                    role=None,
                    model="qwen",
                    kind=None,
                    stream=True,
                    candidates=DIDS[2:],
                    prompt_chars=1,
                    prompt_hash="h",
                )
            ],
        ),
    ]
    return [first, second, third]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=segments_st, fractions=fractions_st)
def test_replay_after_compaction_equals_a_full_replay(
    segments: list[list[Batch]], fractions: list[float]
) -> None:
    async def body() -> dict[str, Any]:
        log = MemoryEventLog()
        try:
            return await compact_between(log, segments, fractions)
        finally:
            await log.close()

    assert asyncio.run(body()) == full_fold(segments)


def test_replay_after_compaction_on_sqlite(tmp_path: Path) -> None:
    segments = fixed_segments()

    async def body() -> dict[str, Any]:
        log = await SqliteEventLog.open(tmp_path / "events.sqlite3")
        try:
            return await compact_between(log, segments, [0.5, 1.0, 0.0])
        finally:
            await log.close()

    assert asyncio.run(body()) == full_fold(segments)
