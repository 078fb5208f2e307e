"""``events._read_filter``: the filters and keyset paging both storage logs share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events._read_filter import PAGE_SIZE, Pages, ReadFilter


def rows(first: int, count: int) -> list[tuple[int, str, int]]:
    return [(p, "s", p * 10) for p in range(first, first + count)]


def test_of_freezes_types() -> None:
    where = ReadFilter.of(9, "s", ["a", "b"], 1.0, 2.0)
    assert where == ReadFilter(9, "s", ("a", "b"), 1.0, 2.0)
    assert ReadFilter.of(None, None, None, None, None).types is None


def test_pages_move_past_each_page_and_stop_at_a_short_one() -> None:
    pages = Pages(0, None)  # from_position below 1 reads from the start
    assert (pages.after, pages.after_version) == (0, None)
    assert pages.size() == PAGE_SIZE
    assert pages.advance(rows(1, PAGE_SIZE))
    assert (pages.after, pages.after_version) == (PAGE_SIZE, PAGE_SIZE * 10)
    assert pages.size() == PAGE_SIZE
    assert not pages.advance(rows(PAGE_SIZE + 1, 3))


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be >= 0"):
        Pages(1, -1)


@given(st.integers(min_value=0, max_value=PAGE_SIZE * 3), st.integers(0, PAGE_SIZE * 4))
def test_pages_ask_for_at_most_limit_rows(limit: int, available: int) -> None:
    pages = Pages(1, limit)
    read = 0
    while size := pages.size():
        page = rows(read + 1, min(size, available - read))
        read += len(page)
        if not pages.advance(page):
            break
    assert read == min(limit, available)
