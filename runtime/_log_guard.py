"""What the runtime does while its event log cannot write: ``event_log.on_log_failure``.

The log is *failing* from a failed commit (disk full, file-size limit, read-only file,
a lock another writer held past the busy timeout of 5 s) until the next good one.

- ``refuse`` (the default): new requests raise ``EventLogFailing`` — nothing is
  answered that could not be recorded — until the log accepts appends again.
- ``serve``: requests are answered anyway; those whose events could not be recorded
  are counted (``unrecorded_requests`` in ``statistics()``, ``/health`` and
  ``/metrics``).

Either way, from the first request that finds the log failing, a recovery task tries
once a second (on the runtime's clock) to append ``EventLogRecovered``; its commit is
the proof that the log writes again, so the runtime resumes by itself and the log says
when, after what, and how many requests were refused or went unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from actors import Clock
from events import (
    EVENT_LOG_STREAM,
    REQUEST_STREAM_PREFIX,
    EventLog,
    EventLogError,
    EventLogRecovered,
    get_logger,
)
from runtime._errors import EventLogFailing

__all__ = ["EventLogHealth", "LogGuard"]

log = get_logger(__name__)

RETRY_SECONDS = 1.0
"""How often the recovery task tries the failing log."""


class EventLogHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The event log's state as ``rt.health()`` and ``/health`` report it."""

    status: str
    """``ok`` or ``failing``."""
    policy: str
    """``refuse`` or ``serve`` (``event_log.on_log_failure``)."""
    failing_since: float | None = None
    """Wall-clock time of the first failed commit, while failing."""
    last_error: str | None = None
    """The last failed commit's error."""
    unrecorded_requests: int = 0
    """Requests answered whose events could not be recorded (``serve``)."""
    refused_requests: int = 0
    """Requests refused because the log was failing (``refuse``)."""
    recoveries: int = 0
    """Times the log was seen failing and then recorded its ``EventLogRecovered``."""


class LogGuard:
    """Applies the policy at each request's admission and runs the recovery task."""

    def __init__(self, event_log: EventLog, clock: Clock, *, policy: str) -> None:
        self._log = event_log
        self._clock = clock
        self.policy = policy
        self.unrecorded_requests = 0
        self.refused_requests = 0
        self.recoveries = 0
        self._recovery: asyncio.Task[None] | None = None

    def admit(self) -> None:
        """Let a new request in, or refuse it (``EventLogFailing``) per the policy."""
        stats = self._log.pipeline_statistics()
        if stats.failing_since is None:
            return
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(
                self._recover(), name="event-log-recovery"
            )
        if self.policy == "refuse":
            self.refused_requests += 1
            raise EventLogFailing(
                f"the event log cannot record ({stats.last_error}), so requests are refused "
                "until it can (event_log.on_log_failure: refuse); it is retried every "
                f"{RETRY_SECONDS:g} s. Free disk space or release the lock; set "
                "on_log_failure: serve to answer unrecorded instead"
            )

    def watch(self, stream: str, future: asyncio.Future[tuple[int, ...]]) -> None:
        """Count the request whose events ``future`` carries if their commit fails."""
        if stream.startswith(REQUEST_STREAM_PREFIX):
            future.add_done_callback(self._count_unrecorded)

    def health(self) -> EventLogHealth:
        """The log's state for ``rt.health()``."""
        stats = self._log.pipeline_statistics()
        return EventLogHealth(
            status="ok" if stats.failing_since is None else "failing",
            policy=self.policy,
            failing_since=stats.failing_since,
            last_error=stats.last_error if stats.failing_since is not None else None,
            unrecorded_requests=self.unrecorded_requests,
            refused_requests=self.refused_requests,
            recoveries=self.recoveries,
        )

    async def aclose(self) -> None:
        """Stop the recovery task."""
        task, self._recovery = self._recovery, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _count_unrecorded(self, future: asyncio.Future[tuple[int, ...]]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.unrecorded_requests += 1

    async def _recover(self) -> None:
        while True:
            await self._clock.sleep(RETRY_SECONDS)
            stats = self._log.pipeline_statistics()
            since = stats.failing_since if stats.failing_since is not None else self._clock.time()
            recovered = EventLogRecovered(
                at=self._clock.time(),
                failing_since=since,
                last_error=stats.last_error or "",
                unrecorded_requests=self.unrecorded_requests,
                refused_requests=self.refused_requests,
            )
            try:
                await self._log.append(EVENT_LOG_STREAM, [recovered])
            except EventLogError as exc:
                log.warning("runtime.event_log.still_failing", error=str(exc))
                continue
            self.recoveries += 1
            log.warning(
                "runtime.event_log.recovered",
                unrecorded_requests=self.unrecorded_requests,
                refused_requests=self.refused_requests,
            )
            return
