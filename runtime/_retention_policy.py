"""The retention policy's words: ``event_log.retain`` as a duration (pure).

``retain: 30d`` means: request events older than 30 days are deleted from the log, behind
snapshots of every projection (``runtime._retention`` does it). Written as a positive
whole number and a unit: ``d`` (days), ``h`` (hours) or ``m`` (minutes).
"""

from __future__ import annotations

import re

from runtime._errors import ConfigProblem

__all__ = ["MAX_RETAIN_DAYS", "parse_duration", "retain_problems"]

MAX_RETAIN_DAYS = 36_500
"""The longest ``retain`` accepted (a century: more is a typo, not a policy)."""

_UNITS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0}
_DURATION = re.compile(r"\s*([0-9]{1,9})\s*([dhm])\s*")


def parse_duration(text: str) -> float:
    """``"30d"`` -> seconds; ``ValueError`` saying what is accepted when it is not one.

    Raises:
        ValueError: Not a positive whole number of days, hours or minutes, or more
            than ``MAX_RETAIN_DAYS`` days.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and a unit, d (days), "
            "h (hours) or m (minutes), e.g. 30d, 12h or 90m"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} keeps nothing: give a positive duration (e.g. 30d)")
    if seconds > MAX_RETAIN_DAYS * _UNITS["d"]:
        raise ValueError(
            f"{text!r} is longer than {MAX_RETAIN_DAYS}d; leave retain unset to keep every event"
        )
    return seconds


def retain_problems(retain: str | None) -> list[ConfigProblem]:
    """The problem with an ``event_log.retain`` value, if any (None: never compact)."""
    if retain is None:
        return []
    try:
        parse_duration(retain)
    except ValueError as exc:
        return [ConfigProblem("event_log.retain", str(exc))]
    return []
