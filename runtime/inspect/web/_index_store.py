"""Records kept in time order for range queries, though they arrive nearly in order.

The log's order is nearly time order: a request's events are appended together when it
ends, and several processes' clocks differ a little. ``TimeOrdered`` collects new
records as they come and settles them before a range query: sorted among themselves and
merged with the end of the settled ones they overlap (a few minutes' worth at most, the
longest request), so settling costs about what arrived; a query then bisects.

A record is a tuple ``(time, position, ...)``, but once settled it is kept in columns:
the times and positions as machine numbers (``array``), the other fields in one list
each. A tuple of five with its own float and int objects costs about 160 bytes, its row
in the columns about 40 plus what its other fields hold (names are shared strings). A
range query builds the tuples of its range only.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

__all__ = ["SETTLE_AT", "TimeOrdered"]

R = TypeVar("R", bound=tuple[Any, ...])

SETTLE_AT = 4096
"""New records that are settled into the columns without waiting for a query."""


class TimeOrdered(Generic[R]):
    """Tuples whose first item is a time and second a unique tie-breaker (the position,
    an int); every record has as many items as the first."""

    __slots__ = ("_columns", "_new")

    def __init__(self) -> None:
        self._columns: list[Any] = []
        """``array("d")`` of times, ``array("q")`` of positions, a list per other item."""
        self._new: list[R] = []
        """Records not settled yet, in arrival order."""

    def add(self, record: R) -> None:
        """Keep ``record`` (``record[0]`` its time, ``record[1]`` unique)."""
        new = self._new
        new.append(record)
        if len(new) >= SETTLE_AT:
            self._settle()

    def between(self, since: float, until: float) -> Sequence[R]:
        """The records with ``since <= time <= until``, in time order."""
        self._settle()
        if not self._columns:
            return []
        times = self._columns[0]
        low, high = bisect_left(times, since), bisect_right(times, until)
        return cast(list[R], list(zip(*(c[low:high] for c in self._columns), strict=True)))

    def drop_before(self, cutoff: float) -> int:
        """Forget the records with time ``< cutoff``; returns how many."""
        self._settle()
        if not self._columns:
            return 0
        n = bisect_left(self._columns[0], cutoff)
        if n:
            for column in self._columns:
                del column[:n]
        return n

    def __len__(self) -> int:
        return len(self._new) + (len(self._columns[0]) if self._columns else 0)

    def _settle(self) -> None:
        """Move the new records into the columns, in (time, position) order."""
        new = self._new
        if not new:
            return
        self._new = []
        new.sort(key=_time_and_tie)
        columns = self._columns
        if not columns:
            columns += [array("d"), array("q"), *([] for _ in new[0][2:])]
        cut = bisect_left(columns[0], new[0][0])  # settled records the new ones overlap
        if cut < len(columns[0]):
            tail: list[Any] = list(zip(*(c[cut:] for c in columns), strict=True))
            tail += new
            tail.sort(key=_time_and_tie)  # two sorted runs: a linear merge
            new = tail
            for column in columns:
                del column[cut:]
        for column, values in zip(columns, zip(*new, strict=True), strict=True):
            column.extend(values)


_time_and_tie = itemgetter(0, 1)
"""The sort key of a record, ``(time, position)``."""
