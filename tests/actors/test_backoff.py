"""The one backoff (``actors._backoff``): ceilings, full jitter and every edge case."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from actors import backoff_ceiling, backoff_delay

seconds = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False)
draws = st.floats(min_value=0.0, max_value=1.0)


def test_ceiling_doubles_then_caps() -> None:
    ceilings = [backoff_ceiling(n, 0.5, 5.0) for n in range(6)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize("attempt", [1_000, 1_100, 10_000, 10**9])
def test_huge_attempts_stay_finite_at_the_cap(attempt: int) -> None:
    assert backoff_ceiling(attempt, 0.1, 30.0) == 30.0
    assert backoff_delay(attempt, 0.1, 30.0, 0.5) == 15.0


def test_extreme_bases_neither_overflow_nor_underflow() -> None:
    # More than 1024 doublings: 2**attempt alone would overflow a float.
    assert backoff_ceiling(1500, 5e-324, 1e300) == math.ldexp(5e-324, 1500)
    assert backoff_ceiling(3000, 5e-324, 1e300) == 1e300
    assert backoff_delay(10**9, 1e308, 60.0, 0.5) == 30.0


def test_zero_base_or_cap_means_no_delay() -> None:
    assert backoff_ceiling(3, 0.0, 10.0) == 0.0
    assert backoff_ceiling(3, 1.0, 0.0) == 0.0
    assert backoff_delay(10**9, 0.0, 60.0, 1.0) == 0.0


def test_a_cap_below_the_base_caps_even_the_first_retry() -> None:
    assert backoff_ceiling(0, 10.0, 2.0) == 2.0
    assert backoff_delay(0, 10.0, 2.0, 0.5) == 1.0


def test_the_jitter_range_is_closed() -> None:
    assert backoff_delay(2, 0.5, 30.0, 0.0) == 0.0
    assert backoff_delay(2, 0.5, 30.0, 1.0) == 2.0


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "jitter", "match"),
    [
        (-1, 1.0, 1.0, 0.5, "attempt"),
        (0, -1.0, 1.0, 0.5, "base"),
        (0, math.nan, 1.0, 0.5, "base"),
        (0, 1.0, math.inf, 0.5, "cap"),
        (0, 1.0, 1.0, 1.5, "jitter"),
        (0, 1.0, 1.0, -0.1, "jitter"),
        (0, 1.0, 1.0, math.nan, "jitter"),
    ],
)
def test_invalid_inputs_are_rejected(
    attempt: int, base: float, cap: float, jitter: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        backoff_delay(attempt, base, cap, jitter)


@given(attempt=st.integers(0, 10**9), base=seconds, cap=seconds, jitter=draws)
@example(attempt=1001, base=5e-324, cap=1.0, jitter=0.0)  # a subnormal base, found here
def test_delay_is_finite_and_within_the_ceiling_and_the_cap(
    attempt: int, base: float, cap: float, jitter: float
) -> None:
    delay = backoff_delay(attempt, base, cap, jitter)
    ceiling = backoff_ceiling(attempt, base, cap)
    assert math.isfinite(delay)
    assert 0.0 <= delay <= ceiling <= cap
    # Below the cap the ceiling is base * 2**attempt; compared in log space, since a
    # subnormal base may double more than 1,000 times and stay under the cap.
    assert ceiling in (0.0, cap) or math.log2(ceiling) <= math.log2(base) + attempt + 1e-9


@given(attempt=st.integers(0, 5000), base=seconds, cap=seconds, jitter=draws)
def test_ceiling_is_monotone_and_ends_at_the_cap(
    attempt: int, base: float, cap: float, jitter: float
) -> None:
    assert backoff_ceiling(attempt + 1, base, cap) >= backoff_ceiling(attempt, base, cap)
    assert backoff_ceiling(10**9, base, cap) == (cap if base > 0 else 0.0)
    assert backoff_delay(attempt, base, cap, jitter) == jitter * backoff_ceiling(attempt, base, cap)
