"""The SQLite log's write queue entries: appends, snapshots, catch-ups, and failing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from events._errors import EventLogError
from events._pipeline import settle
from events._sqlite_writer import AppendRequest
from events._write_queue import QueueEntry, Waiter

__all__ = [
    "CatchUpRequest",
    "Entry",
    "SnapshotRequest",
    "Waiter",
    "copy_error",
    "fail",
    "split",
    "stream_of",
    "wrap_error",
]


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """A snapshot to store in the next batch's transaction."""

    name: str
    position: int
    state: bytes


@dataclass(frozen=True, slots=True)
class CatchUpRequest:
    """``catch_up()``: deliver other writers' commits now; resolves to ``(last,)``."""


Entry = QueueEntry[AppendRequest | SnapshotRequest | CatchUpRequest]
"""A request, the future its caller awaits (``Waiter``), the domain events (empty for a
snapshot; handed to commit hooks) and whether it is a background append."""


def split(
    batch: list[Entry],
) -> tuple[list[Entry], list[tuple[str, int, bytes]], list[Waiter], list[Waiter]]:
    """Appends, snapshots and catch-ups of a batch, without those whose caller gave up."""
    appends: list[Entry] = []
    snapshots: list[tuple[str, int, bytes]] = []
    snapshot_futures: list[Waiter] = []
    catch_ups: list[Waiter] = []
    for entry in batch:
        request, future = entry[0], entry[1]
        if future.done():  # its caller was cancelled before we took it: not written
            continue
        if isinstance(request, CatchUpRequest):
            catch_ups.append(future)
        elif isinstance(request, SnapshotRequest):
            snapshots.append((request.name, request.position, request.state))
            snapshot_futures.append(future)
        else:
            appends.append(entry)
    return appends, snapshots, snapshot_futures, catch_ups


def stream_of(request: AppendRequest | SnapshotRequest | CatchUpRequest) -> str:
    """The stream (or snapshot name) a request is about, for error reports."""
    if isinstance(request, CatchUpRequest):
        return "(catch-up)"
    return request.name if isinstance(request, SnapshotRequest) else request[0]


def fail(futures: list[Waiter], make: Callable[[], BaseException]) -> None:
    # One exception instance per caller: a shared one would collect every caller's
    # traceback frames. ``settle`` marks it seen: a background append has no awaiter.
    for future in futures:
        settle(future, make())


def copy_error(error: EventLogError, cause: BaseException) -> EventLogError:
    copy = type(error)(str(error))
    copy.__cause__ = cause
    return copy


def wrap_error(exc: Exception, path: Path) -> EventLogError:
    error = EventLogError(f"event log {path}: the batch failed and was rolled back: {exc!r}")
    error.__cause__ = exc
    return error
