"""``Ask[R]``: the base of a message that is answered, carrying its reply type.

A message class declares what ``ref.ask`` returns for it by subclassing ``Ask`` with
the reply type: ``class Reserve(Ask[Reserved], frozen=True): ...`` makes
``await ref.ask(Reserve(...))`` typed as ``Reserved``. Messages that are only told
(timer ticks, notifications) subclass ``msgspec.Struct`` directly.

Pure: no asyncio here, so pure modules may define their actor's messages.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

__all__ = ["Ask", "R"]

R = TypeVar("R")
"""The reply type of an ``Ask`` message."""


class Ask(msgspec.Struct, Generic[R], frozen=True):
    """Base of a message whose ``ask`` reply is an ``R``; see the module docstring."""
