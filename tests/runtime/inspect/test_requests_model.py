"""The request fold: one row per request from hand-built events, and the listings over it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from events import Event, HealthOutcomeRecorded
from runtime.inspect._requests_model import (
    REQUEST_TYPES,
    RequestFold,
    RequestQuery,
    RequestRow,
    count_matching,
    failed,
    slowest,
)
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    answered,
    attempt,
    cancelled,
    fail,
    fallback,
    gave_up,
    interrupted,
    ok,
    simple,
    skipped,
    started,
)

T = WALL


def fold(events: Sequence[Event]) -> RequestFold:
    result = RequestFold()
    for s in stored(events):
        result.feed(s)
    return result


def row_of(events: Sequence[Event], rid: str) -> RequestRow:
    row = fold(events).get(rid)
    assert row is not None
    return row


def fallback_request(rid: str = "r-fb", at: float = T) -> list[Event]:
    """llama3@b skipped; llama3@a fails twice; falls back to qwen@a, which answers."""
    return [
        started(rid, at, stream=True),
        skipped(rid, "llama3@b", at),
        attempt(rid, 1, "llama3@a", at + 0.01),
        fail(rid, 1, "llama3@a", at + 0.5, "server_error", message="HTTP 500"),
        attempt(rid, 2, "llama3@a", at + 1.0),
        fail(rid, 2, "llama3@a", at + 1.5, "timeout_first_byte", message="no headers in 0.5 s"),
        fallback(rid, at + 1.5, "llama3", "qwen"),
        attempt(rid, 3, "qwen@a", at + 1.6),
        ok(rid, 3, "qwen@a", at + 2.0, 0.4, prompt_tokens=12, completion_tokens=30, ttft=0.1),
        answered(rid, "qwen@a", at + 2.0, 3, 2.0),
    ]


def test_a_fallback_request_makes_one_row_with_every_fact() -> None:
    row = row_of(fallback_request(), "r-fb")
    assert (row.role, row.model, row.primary, row.served_model) == ("gen", None, "llama3", "qwen")
    assert row.tried == ("llama3@a", "llama3@a", "qwen@a")
    assert row.skipped == ("llama3@b",)
    assert row.deployment == "qwen@a"
    assert (row.outcome, row.started, row.ended, row.latency_s) == ("succeeded", T, T + 2.0, 2.0)
    assert (row.attempts, row.failed_attempts, row.fallbacks) == (3, 2, 1)
    # the failure of its last failed attempt is kept: "succeeded after timeouts"
    assert (row.failure, row.error) == ("timeout_first_byte", "no headers in 0.5 s")
    assert (row.ttft_s, row.prompt_tokens, row.completion_tokens) == (0.1, 12, 30)
    assert (row.stream, row.operation, row.position) == (True, "chat", 1)


def test_a_failed_request_takes_its_error_from_request_failed() -> None:
    rid = "r-x"
    row = row_of(
        [
            started(rid, T, role=None, model="qwen", chain=("qwen",)),
            attempt(rid, 1, "qwen@a", T),
            fail(rid, 1, "qwen@a", T + 0.2, "server_error", message="HTTP 500"),
            gave_up(rid, T + 0.2, 1, "server_error", "every deployment of qwen failed", 0.2),
        ],
        rid,
    )
    assert (row.outcome, row.failure, row.error) == (
        "failed",
        "server_error",
        "every deployment of qwen failed",
    )
    assert (row.model, row.primary, row.deployment, row.latency_s) == (
        "qwen",
        "qwen",
        "qwen@a",
        0.2,
    )


def test_a_request_without_its_start_still_makes_a_row() -> None:
    """Its RequestStarted was compacted away: started is its first event's time."""
    rid = "r-late"
    row = row_of(
        [ok(rid, 2, "llama3@a", T + 3, 0.3), answered(rid, "llama3@a", T + 3, 2, 3.0)], rid
    )
    assert (row.started, row.role, row.tried, row.attempts) == (T + 3, None, ("llama3@a",), 2)


def test_attempts_are_counted_once_without_attempt_started_events() -> None:
    """Logs written by other tools (the page benchmark) may leave out AttemptStarted."""
    rid = "r-bare"
    row = row_of(
        [
            started(rid, T),
            fail(rid, 1, "llama3@a", T + 0.1),
            ok(rid, 2, "llama3@b", T + 0.3, 0.2),
            answered(rid, "llama3@b", T + 0.3, 2, 0.3),
        ],
        rid,
    )
    assert (row.tried, row.attempts, row.failed_attempts) == (("llama3@a", "llama3@b"), 2, 1)


def test_a_running_and_a_cancelled_and_an_interrupted_request() -> None:
    events = [
        started("run", T),
        attempt("run", 1, "llama3@a", T),
        started("can", T + 1),
        attempt("can", 1, "llama3@b", T + 1),
        cancelled("can", T + 4, 1, 3.0),
        started("cut", T + 2, stream=True),
        attempt("cut", 1, "llama3@a", T + 2),
        interrupted("cut", 1, "llama3@a", T + 5),
        gave_up("cut", T + 5, 1, "timeout_idle", "the stream broke", 3.0),
    ]
    rows = fold(events)
    running, can, cut = rows.get("run"), rows.get("can"), rows.get("cut")
    assert running is not None and can is not None and cut is not None
    assert (running.outcome, running.ended, running.latency_s, running.deployment) == (
        "running",
        None,
        None,
        "llama3@a",
    )
    assert (can.outcome, can.latency_s, can.deployment) == ("cancelled", 3.0, "llama3@b")
    assert (cut.outcome, cut.failure, cut.failed_attempts, cut.attempts) == (
        "failed",
        "timeout_idle",
        1,
        1,
    )


def test_other_events_are_ignored_and_rows_come_in_start_order() -> None:
    health = HealthOutcomeRecorded(deployment="llama3@a", at=T, ok=True)
    # the runtime appends a request's events when it ends: the later-ending one comes first
    events = [health, *simple("late-end", T + 1, "llama3@a", 5.0), *simple("early", T + 2, "x@a")]
    events = [*simple("b", T + 3, "llama3@a"), *events]
    rows = fold(events)
    assert len(rows) == 3
    assert [r.request_id for r in rows.rows()] == ["late-end", "early", "b"]
    assert len(REQUEST_TYPES) == 10 and health.__class__ not in REQUEST_TYPES


def test_to_dict_is_json_ready() -> None:
    data = row_of(fallback_request(), "r-fb").to_dict()
    assert json.loads(json.dumps(data))["tried"] == ["llama3@a", "llama3@a", "qwen@a"]
    assert data["outcome"] == "succeeded" and "_last_attempt" not in data


def _many() -> list[RequestRow]:
    events: list[Event] = []
    for i in range(30):
        did = "llama3@a" if i % 2 else "llama3@b"
        events += simple(f"ok{i:02}", T + i, did, latency=0.1 * (i % 7 + 1))
    events += fallback_request("fb", T + 40)
    events += [
        started("bad", T + 50),
        attempt("bad", 1, "llama3@b", T + 50),
        fail("bad", 1, "llama3@b", T + 51, "timeout_connect"),
        gave_up("bad", T + 51, 1, "timeout_connect", "no connection", 9.0),
        started("gone", T + 60, role="chat"),
        cancelled("gone", T + 61, 0, 1.0),
    ]
    return fold(events).rows()


def test_slowest_lists_finished_requests_by_latency_within_the_filters() -> None:
    rows = _many()
    top = slowest(rows, RequestQuery(limit=3))
    assert [r.request_id for r in top] == ["bad", "fb", "gone"]  # cancelled is finished too
    only_a = slowest(rows, RequestQuery(deployment="llama3@a", limit=100))
    assert all("llama3@a" in r.tried for r in only_a) and len(only_a) == 16
    assert [r.request_id for r in slowest(rows, RequestQuery(since=T + 45, limit=5))] == [
        "bad",
        "gone",
    ]
    assert count_matching(rows, RequestQuery(), kind="slow") == 33
    assert count_matching(rows, RequestQuery(model="qwen")) == 1


def test_failed_lists_failed_and_cancelled_newest_first_not_recovered_ones() -> None:
    rows = _many()
    assert [r.request_id for r in failed(rows, RequestQuery())] == ["gone", "bad"]
    # "fb" had failed attempts (failure timeout_first_byte) but succeeded: not listed
    assert failed(rows, RequestQuery(failure="timeout_first_byte")) == []
    assert [r.request_id for r in failed(rows, RequestQuery(failure="timeout_connect"))] == ["bad"]
    assert [r.request_id for r in failed(rows, RequestQuery(role="chat"))] == ["gone"]
    assert failed(rows, RequestQuery(until=T + 55, outcome="cancelled")) == []
    assert count_matching(rows, RequestQuery(), kind="failed") == 2
    assert failed(rows, RequestQuery(limit=1))[0].request_id == "gone"


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=6))
def test_the_fold_does_not_depend_on_how_the_requests_interleave(order: list[int]) -> None:
    """Requests fed one after another or interleaved event by event give the same rows."""
    requests = [fallback_request(f"r{i}", T + i) for i in range(4)]
    whole = fold([e for r in requests for e in r])
    queues = [list(r) for r in requests]
    mixed: list[Event] = []
    for pick in order * 20:
        if queues[pick]:
            mixed.append(queues[pick].pop(0))
    mixed += [e for q in queues for e in q]
    interleaved = fold(mixed)
    for rid in (f"r{i}" for i in range(4)):
        a, b = whole.get(rid), interleaved.get(rid)
        assert a is not None and b is not None
        assert {k: v for k, v in a.to_dict().items() if k != "position"} == {
            k: v for k, v in b.to_dict().items() if k != "position"
        }
