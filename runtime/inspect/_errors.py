"""Errors of the event-log viewer ``runtime.inspect``.

The tree::

    LLMRuntimeError
     └── InspectError     an expected problem the user can fix (missing or invalid log
                          file, unknown request id, bad option value); the CLI prints
                          ``error: <message>`` and exits 2
"""

from __future__ import annotations

from events import LLMRuntimeError

__all__ = ["InspectError"]


class InspectError(LLMRuntimeError):
    """An expected problem with the command line or the log; the message is one line."""
