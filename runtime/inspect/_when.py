"""Moments for the viewer: parsing ``--at`` and showing times and durations to a person.

Times in the log are wall-clock seconds since the Unix epoch. The viewer shows them in
the local time zone (or the ``tz`` a caller passes, which is what the tests do), and
durations in the shortest unit that reads well (``0.012s``, ``4m10s``, ``2h05m``).

Pure: no clock is read here; "now" always comes in as an argument.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import msgspec

from runtime.inspect._errors import InspectError

__all__ = [
    "AtPosition",
    "AtTime",
    "clock_time",
    "duration",
    "local_time",
    "offset",
    "parse_at",
    "relative",
]

_INTEGER = re.compile(r"\+?\d+")
_EPOCH = re.compile(r"[+-]?(\d+\.\d*|\.\d+)")


class AtPosition(msgspec.Struct, frozen=True, kw_only=True):
    """``--at`` named a log position: the state after that event."""

    position: int


class AtTime(msgspec.Struct, frozen=True, kw_only=True):
    """``--at`` named a moment: the state after the last event at or before it."""

    at: float
    """Wall-clock seconds since the Unix epoch."""


def parse_at(text: str, tz: dt.tzinfo | None = None) -> AtPosition | AtTime:
    """Parse an ``--at`` value: a position, an ISO-8601 time, or epoch seconds.

    * ``1234`` (digits only) is a log position (>= 1);
    * ``1700000000.5`` (a number with a decimal point) is epoch seconds;
    * anything else is ISO-8601, e.g. ``2024-05-01T12:00:03`` or ``2024-05-01 12:00``;
      with a zone (``Z``, ``+02:00``) it means that instant, without one it is local
      time (or ``tz`` when given).

    Raises:
        InspectError: None of these forms, or a position below 1.
    """
    value = text.strip()
    if _INTEGER.fullmatch(value):
        position = int(value)
        if position < 1:
            raise InspectError(f"--at {text!r}: log positions start at 1")
        return AtPosition(position=position)
    if _EPOCH.fullmatch(value):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise InspectError(f"--at {text!r} is not a usable time")
        return AtTime(at=seconds)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InspectError(
            f"--at {text!r} is neither a position (1234), an ISO-8601 time "
            "(2024-05-01T12:00:03, local time unless it has a zone) nor epoch seconds "
            "with a decimal point (1714564803.0)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return AtTime(at=moment.timestamp())


def _moment(ts: float, tz: dt.tzinfo | None) -> dt.datetime:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def local_time(ts: float | None, tz: dt.tzinfo | None = None, *, millis: bool = False) -> str:
    """``2024-05-01 12:00:03`` (with ``.123`` when ``millis``) in local time, or ``-``."""
    if ts is None or not math.isfinite(ts):
        return "-"
    try:
        moment = _moment(ts, tz)
    except (OverflowError, ValueError, OSError):  # a damaged row's timestamp
        return f"<bad time {ts:g}>"
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}" if millis else text


def clock_time(ts: float | None, tz: dt.tzinfo | None = None) -> str:
    """``12:00:03`` in local time (the date left out), or ``-``."""
    if ts is None or not math.isfinite(ts):
        return "-"
    try:
        return _moment(ts, tz).strftime("%H:%M:%S")
    except (OverflowError, ValueError, OSError):  # a damaged row's timestamp
        return f"<bad time {ts:g}>"


def duration(seconds: float | None) -> str:
    """A duration for a person: ``0.012s``, ``1.5s``, ``42s``, ``4m10s``, ``2h05m``, ``3d4h``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds:.3f}s"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def offset(seconds: float) -> str:
    """A time relative to the start of something: ``+0.012s``, ``+1.5s``, ``+4m10s``."""
    if seconds < 0:
        return f"-{duration(-seconds)}"
    return f"+{duration(seconds)}"


def relative(target: float, moment: float) -> str:
    """``in 12s`` when ``target`` is after ``moment``, else ``expired 3.0s ago``."""
    if target > moment:
        return f"in {duration(target - moment)}"
    return f"expired {duration(moment - target)} ago"
