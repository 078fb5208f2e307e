"""The call's one deadline timer: expiry, moving deadlines, no timer per read.

The timeouts under test fire on deadlines already passed (or moved into the past), so
no case races the clock; the patient ones are a minute away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from actors.endpoint import ChatRequest, Deadlines, Message
from actors.endpoint._watchdog import Watchdog
from runtime.testing import ChaosServer, Fault
from tests.actors.endpoint._endpoint import Endpoint, Http

REQ = ChatRequest(model="llama3", messages=(Message(role="user", content="hello there"),))
LATER = 60.0


async def test_a_wait_past_its_deadline_raises_timeout() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)
    with pytest.raises(TimeoutError):
        await watchdog.wait(asyncio.Event().wait(), loop.time() - 1.0)
    assert watchdog.expired and watchdog.deadline < loop.time()
    # The next wait starts afresh.
    assert await watchdog.wait(asyncio.sleep(0, "ok"), loop.time() + LATER) == "ok"
    assert not watchdog.expired
    watchdog.stop()


async def test_moving_the_deadline_earlier_fires_the_wait() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)
    moved = asyncio.Event()

    async def step() -> None:
        await asyncio.sleep(0)
        watchdog.move(loop.time() - 1.0)  # as the trace hook does when sending starts
        moved.set()
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        await watchdog.wait(step(), loop.time() + LATER)
    assert moved.is_set() and watchdog.expired


async def test_an_outside_cancel_stays_a_cancel() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(watchdog.wait(step(), loop.time() + LATER))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not watchdog.expired
    watchdog.stop()


async def test_nothing_is_cancelled_between_waits() -> None:
    # A stream's consumer holds a chunk past the read's deadline: the timer fires
    # while no wait runs and must leave the consumer's code alone.
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)

    async def at_once() -> None:
        return None  # ends without suspending: the wait is over before the timer runs

    await watchdog.wait(at_once(), loop.time())
    fired = asyncio.Event()
    loop.call_soon(fired.set)  # runs in the same loop step as the (due) watchdog timer
    await fired.wait()
    await asyncio.sleep(0)
    assert not watchdog.expired
    assert await watchdog.wait(asyncio.sleep(0, 7), loop.time() + LATER) == 7
    watchdog.stop()


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_a_long_stream_arms_a_few_timers_not_one_per_read(
    api: Any, http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    armed: list[Callable[..., Any]] = []
    call_at = loop.call_at

    def counting(when: float, callback: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(callback, "__self__", None).__class__ is Watchdog:
            armed.append(callback)
        return call_at(when, callback, *args, **kw)

    async with ChaosServer(models=["llama3"], seed=2) as server:
        # Each frame a read of its own (a pause between them), 20 frames.
        server.set_fault(Fault(kind="slow_trickle", delay=0.01))
        client = Endpoint(name="chaos", url=server.url, api=api, http=http)
        deadlines = Deadlines(connect=LATER, first_byte=LATER, idle=LATER, total=LATER * 2)
        monkeypatch.setattr(loop, "call_at", counting)
        chunks = [c async for c in client.stream(REQ, deadlines=deadlines)]
        monkeypatch.undo()
        await client.aclose()
    assert chunks[-1].done and len(chunks) >= 10
    # the first wait, the request going out, the first idle deadline: not one per read
    assert 1 <= len(armed) <= 4, len(armed)


async def test_a_chat_call_arms_one_timer(http: Http, monkeypatch: pytest.MonkeyPatch) -> None:
    # Armed once at the earliest deadline the exchange can have: the request going out
    # and the reads only move the deadline later from there.
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counting(when: float, callback: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(callback, "__self__", None).__class__ is Watchdog:
            armed.append(when)
        return call_at(when, callback, *args, **kw)

    async with ChaosServer(models=["llama3"], seed=2) as server:
        client = Endpoint(name="chaos", url=server.url, api="ollama", http=http)
        await client.chat(REQ)  # the connection is open: the measured call reuses it
        monkeypatch.setattr(loop, "call_at", counting)
        result = await client.chat(REQ)
        monkeypatch.undo()
        await client.aclose()
    assert result.result.content
    assert len(armed) == 1, armed
