"""The runtime's own errors, and the map of every error the project raises.

There is one root, ``LLMRuntimeError``; each class is defined once, at the lowest layer
that raises it, and every one a caller can meet is re-exported by ``runtime`` (so
``runtime.QuotaExceeded is actors.quota.QuotaExceeded``). ``except LLMRuntimeError``
catches everything the project refused or failed to do. The tree, with where each
class is defined::

    LLMRuntimeError                      events/_errors.py: the root
     ├── EventLogError                   events/_errors.py: the event log failed
     │    ├── ConcurrencyConflict        an append's expected stream version was stale
     │    ├── EventLogClosed             the log was used after close()
     │    ├── StorageFull                the disk is full; the append was rolled back
     │    ├── InvalidLogFile             the path is not an SQLite event log
     │    ├── LogFromNewerVersion        the log's schema is newer than this release
     │    ├── LogCompacted               what was asked for lies before the retained
     │                                   range (compacted away behind a snapshot)
     │    ├── StorageUnavailable         cannot open/write: read-only, locked, I/O error
     │    ├── EventLogBacklogged         the log's queue stayed full: a new request
     │                                   waited for room past the bound (disk too slow)
     │    └── EventLogFailing            runtime/_errors.py: the log cannot write and
     │                                   on_log_failure is refuse: request refused
     ├── ActorError                      actors/_errors.py: the actor system refused
     │    ├── MailboxFull                tell_nowait() on a full mailbox
     │    ├── AskTimeout                 no reply in time (also a TimeoutError)
     │    ├── WouldBlock                 ask_nowait() would have to wait
     │    ├── ActorDeadError             the actor is stopped; message not handled
     │    ├── ActorNotFound              no actor by that name (also a LookupError)
     │    ├── DuplicateActorName         spawn() with a live actor's name (ValueError)
     │    └── SystemShutDown             spawn() after shutdown()
     ├── BackendError                    actors/endpoint/_classify.py: one backend call
     │                                   failed, classified (the router handles it)
     ├── CatalogError                    actors/catalog/_errors.py
     │    └── ModelNotFoundError         the model is not served; lists what is; no
     │                                   request was sent
     ├── HealthError                     actors/health/_status.py (internal to routing)
     │    ├── DeploymentUnavailable      a permit was refused: try another deployment
     │    └── IllegalTransition          a forbidden status change (a bug in decide)
     ├── QuotaError                      actors/quota/_errors.py
     │    ├── QuotaExceeded              a daily quota is used up: .limit, .used,
     │    │    │                         .limit_value, .resets_at; no backend called
     │    │    └── RateLimited           every deployment is over its rpm/tpm (and
     │    │                              waiting up to wait_seconds did not help):
     │    │                              .deployment, .retry_after, .resets_at (frees)
     │    └── QuotaUnavailable           a quota event could not be recorded, so the
     │                                   request was refused (quotas fail closed)
     ├── RoutingError                    actors/router/_errors.py: .request_id, .attempts
     │    ├── AllCandidatesFailed        no deployment answered; .attempts lists each
     │    │    └── NoCandidates          nothing was admissible; .skipped says why
     │    ├── RequestRejected            a backend refused the request itself (context
     │    │                              overflow...): not retried, no health penalty
     │    └── StreamBroken               a stream broke after text was delivered;
     │                                   .partial has it (the event: StreamInterrupted)
     ├── ConfigError                     runtime/_errors.py: the configuration was
     │                                   rejected whole; .problems (also a ValueError)
     ├── InvalidRequest                  runtime/_errors.py: the call is wrong: no/both
     │                                   role and model, unknown role (a ValueError)
     ├── UnsupportedParameter            actors/endpoint/_content.py: an endpoint's API
     │                                   cannot carry a parameter the call set; nothing
     │                                   was sent (a ValueError); .parameter, .endpoint
     ├── RuntimeNotRunning               runtime/_errors.py: not started, or closed
     ├── StateUnavailable                runtime/_errors.py: a synchronous reader found
     │                                   its actor restarting; try again in a moment
     ├── WouldDeadlock                   runtime/_threaded_loop.py: a blocking call on
     │                                   the runtime's own loop thread (RuntimeError)
     ├── InspectError                    runtime/inspect/_errors.py: a bad log, request
     │                                   id or option; the CLI prints it and exits 2
     ├── ServeSettingsError              runtime/serve/_settings.py: a bad server
     │                                   setting (also a ValueError)
     ├── ServerStartError                runtime/serve/_server.py: could not listen
     │                                   (also a RuntimeError)
     └── FaultSpecError                  runtime/testing/_faults.py: a bad fault spec
                                         for the chaos backend (also a ValueError)

Every error pickles with its attributes (``LLMRuntimeError.__reduce__``), so it can
cross a process boundary.
"""

from __future__ import annotations

import msgspec

from actors import ActorError
from actors.catalog import CatalogError, ModelNotFoundError
from actors.endpoint import UnsupportedParameter
from actors.quota import QuotaError, QuotaExceeded, QuotaUnavailable, RateLimited
from actors.router import (
    AllCandidatesFailed,
    NoCandidates,
    RequestRejected,
    RoutingError,
    StreamBroken,
)
from events import (
    EventLogBacklogged,
    EventLogError,
    InvalidLogFile,
    LLMRuntimeError,
    LogCompacted,
    LogFromNewerVersion,
    StorageFull,
    StorageUnavailable,
)

__all__ = [
    "ActorError",
    "AllCandidatesFailed",
    "CatalogError",
    "ConfigError",
    "ConfigProblem",
    "EventLogBacklogged",
    "EventLogError",
    "EventLogFailing",
    "InvalidLogFile",
    "InvalidRequest",
    "LLMRuntimeError",
    "LogCompacted",
    "LogFromNewerVersion",
    "ModelNotFoundError",
    "NoCandidates",
    "QuotaError",
    "QuotaExceeded",
    "QuotaUnavailable",
    "RateLimited",
    "RequestRejected",
    "RoutingError",
    "RuntimeNotRunning",
    "StateUnavailable",
    "StorageFull",
    "StorageUnavailable",
    "StreamBroken",
    "UnsupportedParameter",
]


class ConfigProblem(msgspec.Struct, frozen=True):
    """One thing wrong with a configuration, located by its key path."""

    path: str
    """Where the problem is: ``endpoints[1].url``, ``roles.generator``, or
    ``llm.yaml:12:5`` for problems in the file itself."""

    message: str
    """What is wrong and what to do about it. Never contains a secret."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(LLMRuntimeError, ValueError):
    """The configuration was rejected; nothing was started.

    All problems are collected before raising, so one run shows everything that
    needs fixing rather than one mistake at a time.

    Attributes:
        problems: Every problem found: file, key and type problems first, then
            range and reference problems, each group in config order.
    """

    def __init__(self, problems: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__(self._describe())

    def _describe(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid configuration ({count} {noun}):"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self) -> tuple[type[ConfigError], tuple[tuple[ConfigProblem, ...]]]:
        # The default reduce would pass the rendered message back in as `problems`.
        return (type(self), (self.problems,))

    @property
    def paths(self) -> tuple[str, ...]:
        """The key paths of all problems, in order (handy in tests and logs)."""
        return tuple(problem.path for problem in self.problems)


class InvalidRequest(LLMRuntimeError, ValueError):
    """The call is malformed: fix the arguments (the message says which)."""


class RuntimeNotRunning(LLMRuntimeError):
    """The Runtime was used before ``start()`` (or ``async with``) or after ``aclose()``."""


class EventLogFailing(EventLogError):
    """The event log cannot write (disk full, locked, read-only) and
    ``event_log.on_log_failure`` is ``refuse``: the request was refused before any
    backend was called. The runtime retries the log every second and resumes by itself."""


class StateUnavailable(LLMRuntimeError):
    """An actor a synchronous reader asks is restarting (rebuilding its state)."""
