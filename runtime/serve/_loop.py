"""The event loop ``python -m runtime.serve`` runs on: asyncio's own, or uvloop (``--loop``).

uvloop is an optional extra (``pip install 'llm-reliability-runtime[uvloop]'``): a
drop-in event loop on libuv whose sockets, transports and timers cost less CPU than
asyncio's. Everything else is the same: the runtime, the server and the log do not know
which loop they run on. The loop in use is named in the ``serve.started`` log line
(``loop=uvloop``).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from runtime.serve._settings import ServeSettingsError

__all__ = ["LOOPS", "LoopName", "loop_factory", "running_loop_name", "run_on"]

LoopName = Literal["asyncio", "uvloop"]
LOOPS: tuple[LoopName, ...] = ("asyncio", "uvloop")
"""The choices of ``--loop`` (the first is the default)."""

INSTALL_HINT = "pip install 'llm-reliability-runtime[uvloop]'"

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(name: str) -> LoopFactory | None:
    """The factory of the loop called ``name``; None for asyncio's default loop.

    Raises:
        ServeSettingsError: ``name`` is not a known loop, or uvloop is not installed.
    """
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise ServeSettingsError(f"--loop {name!r}: choose one of {', '.join(LOOPS)}")
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        raise ServeSettingsError(
            f"--loop uvloop needs the uvloop package, which is not installed: {INSTALL_HINT}"
        ) from None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def run_on(factory: LoopFactory | None, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop from ``factory`` (None: asyncio's)."""
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: which loop runs the calling coroutine."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.split(".")[0] == "uvloop" else "asyncio"
