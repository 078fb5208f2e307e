"""Errors of the operator command ``runtime.admin``.

The tree::

    LLMRuntimeError
     └── AdminError     an expected problem (bad config, unknown target, serve not
                        reachable, key refused...); the CLI prints ``error: <message>``
                        and exits with its ``status`` (see ``runtime.admin``)
"""

from __future__ import annotations

from events import LLMRuntimeError

__all__ = ["USAGE", "UNREACHABLE", "AdminError"]

USAGE = 2
"""Exit status: bad command line, config, key or target (fix the command)."""
UNREACHABLE = 3
"""Exit status: the serve, the event log or the runtime could not be reached or opened."""


class AdminError(LLMRuntimeError):
    """An expected problem; the message is one line, ``status`` the exit status."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status
