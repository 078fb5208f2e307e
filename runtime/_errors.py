"""Errors raised by the runtime package.

Every error the runtime raises derives from one root, so a service can catch
``LLMRuntimeError`` to handle anything the runtime refused or failed to do.

The tree::

    LLMRuntimeError
     ├── ConfigError              the configuration was rejected whole; .problems lists
     │                            every problem by key path (also a ValueError)
     ├── InvalidRequest           the call itself is wrong: no/both role and model, an
     │                            unknown role, malformed messages (also a ValueError)
     ├── RuntimeNotRunning        the Runtime is not started, or already closed
     ├── StateUnavailable         a synchronous reader (health(), usage()...) found the
     │                            actor it reads restarting; try again in a moment
     ├── ModelNotFoundError       the model asked for is not served; lists what is (also
     │                            actors.catalog.ModelNotFoundError); no request was sent
     ├── AllCandidatesFailed      no deployment answered; .attempts lists every attempt
     │    └── NoCandidates        nothing was admissible (quarantined...); .skipped says why
     ├── RequestRejected          a backend refused the request itself (context overflow,
     │                            bad parameters): not retried, no health penalty
     ├── StreamInterrupted        a stream broke after text was delivered; .partial has it
     ├── QuotaExceeded            a daily quota is used up: .limit, .used, .limit_value,
     │                            .resets_at; no backend was called (also
     │                            actors.quota.QuotaExceeded)
     └── QuotaUnavailable         a quota event could not be recorded, so the request was
                                  refused (quotas fail closed); no backend was called

The routing and quota errors are the actors' own (``actors.router``,
``actors.quota``) re-raised as these subclasses at the runtime boundary, so
``except LLMRuntimeError`` catches everything.
"""

from __future__ import annotations

import msgspec

from actors import catalog as _catalog
from actors import quota as _quota
from actors import router as _router

__all__ = [
    "AllCandidatesFailed",
    "ConfigError",
    "ConfigProblem",
    "InvalidRequest",
    "LLMRuntimeError",
    "ModelNotFoundError",
    "NoCandidates",
    "QuotaExceeded",
    "QuotaUnavailable",
    "RequestRejected",
    "RuntimeNotRunning",
    "StateUnavailable",
    "StreamInterrupted",
    "as_runtime_error",
]


class LLMRuntimeError(Exception):
    """Root of every error the runtime package raises."""


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


class StateUnavailable(LLMRuntimeError):
    """An actor a synchronous reader asks is restarting (rebuilding its state)."""


class ModelNotFoundError(LLMRuntimeError, _catalog.ModelNotFoundError):
    """No configured endpoint of the model serves it (per the cached model lists).

    Raised before any request is sent; not retried; no health penalty. Attributes:
    ``model``, ``endpoints`` (name -> URL checked) and ``available`` (sorted names).
    """


class AllCandidatesFailed(LLMRuntimeError, _router.AllCandidatesFailed):
    """No deployment answered. ``attempts`` lists every attempt with its failure class
    and message, ``skipped`` the deployments not tried and why, ``reason`` why routing
    stopped."""


class NoCandidates(AllCandidatesFailed, _router.NoCandidates):
    """No deployment of the chain was admissible (quarantined, failed, lacking the
    model): no attempt was made; ``skipped`` lists every reason."""


class RequestRejected(LLMRuntimeError, _router.RequestRejected):
    """A backend refused the request itself (``failure``: ``context_overflow``,
    ``generation_error``): the caller must change the request; ``attempts`` has it."""


class StreamInterrupted(LLMRuntimeError, _router.StreamInterrupted):
    """A stream broke after text reached the caller. ``partial`` is the text delivered,
    ``failure`` the class, ``deployment`` the one that was streaming."""


class QuotaExceeded(LLMRuntimeError, _quota.QuotaExceeded):
    """A daily quota is used up; no backend was called for the request.

    The message names the limit, the usage and when it resets. Attributes: ``limit``
    (e.g. ``model:llama3.requests``), ``used``, ``limit_value``, ``requested``,
    ``resets_at`` (epoch seconds) and, when every model of a role's chain was refused
    (``quota.on_exceeded: fallback``), ``refusals`` with each model's refusal.
    """


class QuotaUnavailable(LLMRuntimeError, _quota.QuotaUnavailable):
    """The request's quota reservation could not be recorded in the event log, so it
    was refused (quotas fail closed); no backend was called. Check the log's disk."""


_MIRRORS: dict[type[Exception], type[LLMRuntimeError]] = {
    _quota.QuotaExceeded: QuotaExceeded,
    _quota.QuotaUnavailable: QuotaUnavailable,
    _catalog.ModelNotFoundError: ModelNotFoundError,
    _router.AllCandidatesFailed: AllCandidatesFailed,
    _router.NoCandidates: NoCandidates,
    _router.RequestRejected: RequestRejected,
    _router.StreamInterrupted: StreamInterrupted,
}


def as_runtime_error(exc: Exception) -> Exception:
    """The runtime's subclass of a router/catalog error, with the same attributes.

    Anything else (already a runtime error, or not one we mirror) is returned as is.
    """
    mirror = _MIRRORS.get(type(exc))
    if mirror is None:
        return exc
    copy = mirror.__new__(mirror)
    copy.__dict__.update(vars(exc))
    copy.args = exc.args
    copy.__traceback__ = exc.__traceback__
    return copy
