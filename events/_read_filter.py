"""A read's filters, as every storage log takes them (``EventLog.read``'s arguments).

Each storage subclasses ``ReadFilter`` with the query it builds from them
(``events._sqlite_read.Filter``, ``events._postgres_read.PgFilter``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Self

__all__ = ["PAGE_SIZE", "Pages", "ReadFilter"]

PAGE_SIZE = 1_000
"""Rows fetched per page: bounds memory on a log of millions of events."""


@dataclass(frozen=True, slots=True)
class ReadFilter:
    """A read's filters; bounds are inclusive."""

    to_position: int | None = None
    stream: str | None = None
    types: tuple[str, ...] | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def of(
        cls,
        to_position: int | None,
        stream: str | None,
        types: Collection[str] | None,
        since: float | None,
        until: float | None,
    ) -> Self:
        """Build a filter, freezing ``types`` into a tuple."""
        frozen = None if types is None else tuple(types)
        return cls(to_position, stream, frozen, since, until)


class Pages:
    """Where a keyset-paged read stands: the next page's size and where it starts.

    Rows are ``(position, stream, stream_version, ...)``; a stream read pages on
    ``stream_version``, any other on ``position`` (the filters' ``query`` picks).
    """

    def __init__(self, from_position: int, limit: int | None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.after = max(from_position, 1) - 1
        """The last position read (the next page starts after it)."""
        self.after_version: int | None = None
        """The last stream version read (``None`` before the first page)."""
        self._remaining = limit
        self._size = 0

    def size(self) -> int:
        """Rows to ask for next; 0 once ``limit`` rows were read."""
        remaining = self._remaining
        if remaining is None:
            self._size = PAGE_SIZE
        else:
            self._size = min(PAGE_SIZE, remaining) if remaining > 0 else 0
        return self._size

    def advance(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Move past a page's ``rows``; ``False`` if it was the last page."""
        if len(rows) < self._size:
            return False
        self.after, self.after_version = rows[-1][0], rows[-1][2]
        if self._remaining is not None:
            self._remaining -= len(rows)
        return True
