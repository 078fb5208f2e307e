"""Waiting for a condition in tests, instead of sleeping and hoping it happened.

A test that needs "the follower has seen the first event" or "the request is in flight"
polls for exactly that with ``eventually``; ``within`` only bounds a broken test, so it is
generous (a busy machine never trips it) and the wait ends as soon as the condition holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(check: Callable[[], bool], within: float = 30.0) -> None:
    """Wait (real time) until ``check()`` holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
