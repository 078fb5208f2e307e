"""The endpoint's slot state (pure): a changed slot count never loses or invents a slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.endpoint import EndpointState
from actors.endpoint._slots import admit, end, resize


def _full(limit: int, waiting: int) -> EndpointState:
    state = EndpointState(limit=limit)
    for call_id in range(1, limit + waiting + 1):
        state, _ = admit(state, call_id)
    return state


def test_a_raised_limit_hands_its_new_slots_to_the_oldest_waiters() -> None:
    state, granted = resize(_full(2, 3), 4)
    assert granted == (3, 4)
    assert (state.limit, state.inflight, state.waiting) == (4, 4, (5,))


def test_a_lowered_limit_lets_running_calls_finish_before_a_waiter_gets_a_slot() -> None:
    state, granted = resize(_full(4, 2), 2)
    assert granted == () and (state.inflight, state.waiting) == (4, (5, 6))
    state, given = end(state, None, 0)  # 3 left: still over the new limit
    assert given is None and (state.inflight, state.waiting) == (3, (5, 6))
    state, given = end(state, None, 0)
    assert given is None and state.inflight == 2
    state, given = end(state, None, 0)  # below the limit: the slot goes to the oldest
    assert given == 5 and (state.inflight, state.waiting) == (2, (6,))


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        resize(EndpointState(limit=2), 0)


@given(
    st.integers(1, 6),
    st.lists(st.one_of(st.just("admit"), st.just("end"), st.integers(1, 6)), max_size=40),
)
def test_no_slot_is_lost_or_invented_and_calls_wait_only_when_all_are_taken(
    limit: int, steps: list[str | int]
) -> None:
    state, running, ids = EndpointState(limit=limit), 0, iter(range(1, 1000))
    for step in steps:
        if step == "admit":
            state, granted = admit(state, next(ids))
            running += granted
        elif step == "end":
            if running:
                state, given = end(state, None, 0)
                running -= given is None
        else:
            assert isinstance(step, int)
            state, granted_ids = resize(state, step)
            running += len(granted_ids)
        assert state.inflight == running  # no slot lost or invented
        if not state.waiting:
            continue
        # A waiter exists only while every slot is taken.
        assert state.inflight >= state.limit
