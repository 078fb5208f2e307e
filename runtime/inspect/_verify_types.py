"""The outcome of one ``verify`` check (shared by the check modules)."""

from __future__ import annotations

import msgspec

__all__ = ["Check"]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one check."""

    check: str
    status: str
    """``ok``, ``warning`` or ``failed``."""
    detail: str
