"""What the quota actor answers to a ``Reserve``: held (with its commit) or refused.

Pure data: the commit is whatever awaitable the event pipeline hands back.
"""

from __future__ import annotations

from collections.abc import Awaitable

import msgspec

from actors.quota._errors import QuotaExceeded

__all__ = ["Refused", "ReserveReply", "Reserved"]


class Reserved(msgspec.Struct, frozen=True, kw_only=True):
    """The estimate is held (counted against every limit from now on)."""

    commit: Awaitable[object] | None = None
    """With limits configured: resolves once the reservation is in the log, fails if
    it could not be recorded (then it is undone and the attempt must not run). None
    when nothing needs waiting for (no limits, or the id was already held)."""


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    """A limit would be exceeded: nothing is held."""

    error: QuotaExceeded
    """Which limit, the usage, when it resets (raise it or fall back)."""


ReserveReply = Reserved | Refused
