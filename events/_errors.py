"""The root of every error the project raises, and the event log's errors.

``LLMRuntimeError`` is defined here, at the lowest layer, so that ``actors`` and
``runtime`` derive their errors from the same class (the whole tree is drawn in
``runtime/_errors.py``). The event log's part::

    LLMRuntimeError
     └── EventLogError
          ├── ConcurrencyConflict      expected stream version did not match
          ├── EventLogClosed           append/read after close()
          ├── StorageFull              disk (or max_page_count) full; nothing was written
          ├── InvalidLogFile           the file is not SQLite, or not an event log
          ├── LogFromNewerVersion      the log's schema is newer than this release reads
          ├── StorageUnavailable       read-only directory, locked database, I/O error
          └── EventLogBacklogged       the queue stayed full past wait_for_room's bound
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConcurrencyConflict",
    "EventLogClosed",
    "EventLogError",
    "InvalidLogFile",
    "LLMRuntimeError",
    "LogCompacted",
    "LogFromNewerVersion",
    "StorageFull",
    "StorageUnavailable",
    "EventLogBacklogged",
]


class LLMRuntimeError(Exception):
    """Root of every error raised by ``events``, ``actors`` and ``runtime``.

    ``except LLMRuntimeError`` catches anything the project refused or failed to do.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take their fields as arguments and build the message from them, so
        # the default (calling the class with ``args``, the message) would fail to
        # unpickle: rebuild without ``__init__`` and restore the attributes instead.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[LLMRuntimeError], args: tuple[Any, ...]) -> LLMRuntimeError:
    """An instance of ``cls`` with ``args``, without running its ``__init__``."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class EventLogError(LLMRuntimeError):
    """Root of every error the event log raises."""


class ConcurrencyConflict(EventLogError):
    """An append's ``expected_version`` did not match the stream's current version."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {actual}, not the expected {expected}; "
            "re-read the stream and decide again"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class EventLogClosed(EventLogError):
    """The log was used after ``close()``."""


class StorageFull(EventLogError):
    """The database could not grow; the append was rolled back whole."""


class InvalidLogFile(EventLogError):
    """The path names a file that is not an SQLite event log."""


class LogFromNewerVersion(EventLogError):
    """The log was written by a newer release whose schema this one cannot read."""


class StorageUnavailable(EventLogError):
    """The database cannot be opened or written (read-only, locked, I/O error)."""


class EventLogBacklogged(EventLogError):
    """The log's queue stayed full for longer than ``wait_for_room`` may wait: storage
    is slower than the load. Nothing was appended for the caller."""


class LogCompacted(EventLogError):
    """What was asked for lies before the log's retained range (its older events were
    compacted away behind a snapshot): no replay from the beginning is possible."""
