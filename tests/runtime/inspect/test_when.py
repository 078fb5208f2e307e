"""``--at`` parsing and the human forms of times and durations."""

from __future__ import annotations

import datetime as dt

import pytest

from runtime.inspect._errors import InspectError
from runtime.inspect._when import (
    AtPosition,
    AtTime,
    clock_time,
    duration,
    local_time,
    offset,
    parse_at,
    relative,
)

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def test_digits_are_a_position() -> None:
    assert parse_at("1234") == AtPosition(position=1234)
    assert parse_at(" 7 ") == AtPosition(position=7)


def test_a_number_with_a_decimal_point_is_epoch_seconds() -> None:
    assert parse_at("1700000000.5") == AtTime(at=1_700_000_000.5)
    assert parse_at("1700000000.") == AtTime(at=1_700_000_000.0)


def test_iso_with_a_zone_is_that_instant() -> None:
    assert parse_at("2023-11-14T22:13:20Z") == AtTime(at=1_700_000_000.0)
    assert parse_at("2023-11-15T00:13:20+02:00") == AtTime(at=1_700_000_000.0)


def test_iso_without_a_zone_is_local_time() -> None:
    assert parse_at("2023-11-15 00:13:20", PLUS2) == AtTime(at=1_700_000_000.0)
    naive = dt.datetime(2023, 11, 14, 12, 0, 0)
    assert parse_at("2023-11-14T12:00:00") == AtTime(at=naive.astimezone().timestamp())


@pytest.mark.parametrize("text", ["0", "yesterday", "12:00:00x", "", "1e9", "nan."])
def test_unreadable_values_say_which_forms_work(text: str) -> None:
    with pytest.raises(InspectError) as caught:
        parse_at(text)
    assert repr(text) in str(caught.value)


def test_times_are_shown_in_the_given_zone() -> None:
    assert local_time(1_700_000_000.25, UTC) == "2023-11-14 22:13:20"
    assert local_time(1_700_000_000.25, UTC, millis=True) == "2023-11-14 22:13:20.250"
    assert local_time(1_700_000_000.0, PLUS2) == "2023-11-15 00:13:20"
    assert clock_time(1_700_000_000.0, UTC) == "22:13:20"
    assert local_time(None) == "-" and clock_time(None) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0123, "0.012s"),
        (1.5, "1.5s"),
        (42.4, "42s"),
        (250, "4m10s"),
        (7500, "2h05m"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (-1.0, "0.000s"),
        (None, "-"),
        (float("inf"), "-"),
    ],
)
def test_durations_read_well(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_offsets_and_relative_deadlines() -> None:
    assert offset(0.012) == "+0.012s" and offset(-2.0) == "-2.0s"
    assert relative(112.0, 100.0) == "in 12s"
    assert relative(100.0, 103.0) == "expired 3.0s ago"
