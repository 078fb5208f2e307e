"""``TimeOrdered``: records in columns answer range queries as a sorted list of tuples would,
whatever the arrival order, the queries between additions and the records forgotten."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.inspect.web._index_store import SETTLE_AT, TimeOrdered

Record = tuple[float, int, str, float | None, str | None]

_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 50), st.sampled_from(["a", "b"])),
        st.tuples(st.just("query"), st.integers(-5, 55), st.integers(0, 60)),
        st.tuples(st.just("drop"), st.integers(-5, 55), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=_STEPS)
def test_it_answers_as_a_sorted_list_would(steps: list[tuple[str, int, object]]) -> None:
    store: TimeOrdered[Record] = TimeOrdered()
    kept: list[Record] = []
    position = 0
    for step, value, other in steps:
        if step == "add":
            position += 1
            latency = None if position % 3 == 0 else value / 10
            record: Record = (value / 2, position, str(other), latency, None)
            store.add(record)
            kept.append(record)
        elif step == "query":
            since, until = value / 2, value / 2 + int(str(other)) / 2
            wanted = sorted(r for r in kept if since <= r[0] <= until)
            assert list(store.between(since, until)) == wanted
        else:
            ordered = sorted(kept)
            gone = bisect_left([r[0] for r in ordered], value / 2)
            assert store.drop_before(value / 2) == gone
            kept = ordered[gone:]
        assert len(store) == len(kept)
    assert list(store.between(-1e9, 1e9)) == sorted(kept)


def test_records_settle_into_columns_without_a_query() -> None:
    store: TimeOrdered[Record] = TimeOrdered()
    for i in range(SETTLE_AT + 1):
        store.add((float(SETTLE_AT - i), i, "a", None, "timeout"))
    assert len(store._new) == 1 and len(store._columns[0]) == SETTLE_AT
    assert store.between(0.0, 1.0) == [
        (0.0, SETTLE_AT, "a", None, "timeout"),
        (1.0, SETTLE_AT - 1, "a", None, "timeout"),
    ]
    assert store.between(5.0, 4.0) == []
    assert TimeOrdered().between(0.0, 1.0) == [] and TimeOrdered().drop_before(1.0) == 0
