"""Pure supervision logic: the sliding restart window (backoff: test_backoff.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import strategies as st

from actors import SupervisionPolicy, decide_restart

finite = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


def test_restarts_until_max_then_gives_up() -> None:
    policy = SupervisionPolicy(max_restarts=2, window=10.0, backoff_base=1.0, backoff_cap=8.0)
    first = decide_restart((), 0.0, policy, 1.0)
    second = decide_restart(first.history, 1.0, policy, 1.0)
    third = decide_restart(second.history, 2.0, policy, 1.0)
    assert (first.restart, first.delay, first.failures_in_window) == (True, 1.0, 1)
    assert (second.restart, second.delay, second.failures_in_window) == (True, 2.0, 2)
    assert (third.restart, third.failures_in_window) == (False, 3)


def test_failures_older_than_the_window_are_forgotten() -> None:
    policy = SupervisionPolicy(max_restarts=1, window=10.0, backoff_base=1.0, backoff_cap=8.0)
    first = decide_restart((), 0.0, policy, 0.5)
    later = decide_restart(first.history, 10.5, policy, 0.5)
    assert later.restart
    assert later.failures_in_window == 1
    assert later.history == (10.5,)
    assert later.delay == 0.5


def test_zero_max_restarts_gives_up_on_first_failure() -> None:
    decision = decide_restart((), 0.0, SupervisionPolicy(max_restarts=0), 0.5)
    assert not decision.restart


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_restarts": -1},
        {"window": 0.0},
        {"window": math.nan},
        {"backoff_base": -0.1},
        {"backoff_cap": math.inf},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SupervisionPolicy(**kwargs)  # type: ignore[arg-type]
