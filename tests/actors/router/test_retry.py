"""Retry arithmetic: retry budget, Retry-After capping (backoff: tests/actors/test_backoff.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.router import (
    RetryBudget,
    can_retry,
    effective_retry_after,
    on_failure,
    on_success,
)

seconds = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)

# --- retry budget -------------------------------------------------------------------------


def test_a_budget_starts_full_and_allows_retries() -> None:
    budget = RetryBudget.full(max_tokens=10.0, token_ratio=0.1)
    assert budget.tokens == 10.0
    assert can_retry(budget)
    assert RetryBudget() == budget


def test_retries_stop_at_half_the_tokens_and_successes_earn_them_back() -> None:
    budget = RetryBudget()
    for _ in range(5):
        budget = on_failure(budget)
    assert budget.tokens == 5.0
    assert not can_retry(budget)  # tokens <= max / 2: no retries
    for _ in range(10):
        budget = on_success(budget)
    assert budget.tokens == 6.0  # ten refunds of 0.1, exactly
    assert can_retry(budget)


def test_tokens_stay_within_zero_and_max() -> None:
    budget = RetryBudget(max_tokens=3.0, token_ratio=0.5, tokens=0.2)
    assert on_failure(budget).tokens == 0.0
    assert on_success(RetryBudget(max_tokens=3.0, token_ratio=0.5, tokens=2.9)).tokens == 3.0


@given(ops=st.lists(st.booleans(), max_size=300), ratio=st.sampled_from([0.1, 0.25, 1.0, 3.0]))
def test_budget_tokens_are_bounded_and_gate_retries(ops: list[bool], ratio: float) -> None:
    budget = RetryBudget.full(max_tokens=10.0, token_ratio=ratio)
    for success in ops:
        budget = on_success(budget) if success else on_failure(budget)
        assert 0.0 <= budget.tokens <= budget.max_tokens
        assert can_retry(budget) == (budget.tokens > budget.max_tokens / 2)


@given(failures=st.integers(0, 50))
def test_an_outage_allows_only_half_the_budget_in_retries(failures: int) -> None:
    budget, retries = RetryBudget(), 0
    for _ in range(failures):
        if can_retry(budget):
            retries += 1
        budget = on_failure(budget)
    assert retries == min(failures, 5)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_tokens": 0.0},
        {"max_tokens": math.inf, "tokens": 1.0},
        {"token_ratio": 0.0},
        {"token_ratio": math.nan},
        {"tokens": 11.0},
        {"tokens": -1.0},
    ],
)
def test_a_budget_rejects_bad_values(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry budget"):
        RetryBudget(**fields)


# --- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (None, None),
        (math.nan, None),
        (-5.0, 0.0),
        (-math.inf, 0.0),
        (0.0, 0.0),
        (12.5, 12.5),
        (60.0, 60.0),
        (86_400.0, 60.0),
        (math.inf, 60.0),
    ],
)
def test_retry_after_is_honoured_but_capped(hint: float | None, expected: float | None) -> None:
    assert effective_retry_after(hint, 60.0) == expected


@given(hint=st.none() | st.floats(), cap=seconds)
def test_retry_after_is_none_or_within_zero_and_cap(hint: float | None, cap: float) -> None:
    result = effective_retry_after(hint, cap)
    if hint is None or math.isnan(hint):
        assert result is None
    else:
        assert result is not None and 0.0 <= result <= cap


@pytest.mark.parametrize("cap", [-1.0, math.inf, math.nan])
def test_retry_after_rejects_a_bad_cap(cap: float) -> None:
    with pytest.raises(ValueError, match="cap"):
        effective_retry_after(1.0, cap)
