"""Inline asks: a synchronous handler of an idle actor runs in the asker's task.

What must hold whatever the delivery path: one message at a time per actor, mailbox
order, and the same state whether a message was handled inline or from the queue.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import Actor, ActorDeadError, ActorState, ActorSystem, Ask, ManualClock, WouldBlock


class Add(Ask[int], frozen=True):
    """Add ``n`` to the total; reply with the new total."""

    n: int


class Boom(Ask[int], frozen=True):
    """Raise (a handler bug)."""


class Total(Ask[int], frozen=True):
    """Reply with the total."""


Msg = Add | Boom | Total


class Counter(Actor[Msg]):
    """A synchronous actor that checks nobody else is inside it during a turn."""

    def __init__(self, trace: list[str] | None = None) -> None:
        self.total = 0
        self.inside = False
        self.tasks: set[asyncio.Task[object] | None] = set()
        self.trace = trace if trace is not None else []

    def receive(self, message: Msg) -> int:
        assert not self.inside, "two turns of one actor overlapped"
        self.inside = True
        try:
            self.tasks.add(asyncio.current_task())
            match message:
                case Add(n=n):
                    self.total += n
                    self.trace.append(f"add {n}")
                case Boom():
                    raise RuntimeError("boom")
                case Total():
                    pass
            return self.total
        finally:
            self.inside = False


class AsyncCounter(Actor[Msg]):
    def __init__(self) -> None:
        self.total = 0

    async def receive(self, message: Msg) -> int:
        if isinstance(message, Add):
            self.total += message.n
        return self.total


async def test_an_idle_synchronous_actor_answers_in_the_askers_task(
    system: ActorSystem,
) -> None:
    made: list[Counter] = []

    def factory() -> Counter:
        made.append(Counter())
        return made[-1]

    ref = system.spawn(factory, name="c")
    await ref.ask(Total())  # the first ask waits for on_start: queued
    before = ref.statistics().inline
    assert await ref.ask(Add(n=2)) == 2
    assert made[0].tasks >= {asyncio.current_task()}
    assert ref.statistics().inline == before + 1
    assert ref.statistics().mailbox_depth == 0


async def test_tells_and_busy_actors_use_the_mailbox(system: ActorSystem) -> None:
    trace: list[str] = []
    ref = system.spawn(lambda: Counter(trace), name="c")
    await ref.ask(Total())
    ref.tell_nowait(Add(n=1))  # queued: the actor's task will handle it
    assert ref.statistics().mailbox_depth == 1
    inline_before = ref.statistics().inline
    # The mailbox is not empty, so this ask queues behind the tell (order kept).
    assert await ref.ask(Add(n=10)) == 11
    assert trace == ["add 1", "add 10"]
    assert ref.statistics().inline == inline_before


async def test_an_async_handler_always_uses_the_mailbox(system: ActorSystem) -> None:
    ref = system.spawn(AsyncCounter, name="a")
    assert await ref.ask(Add(n=3)) == 3
    assert await ref.ask(Add(n=4)) == 7
    assert ref.statistics().inline == 0
    with pytest.raises(WouldBlock, match="async"):
        ref.ask_nowait(Total())


async def test_one_message_at_a_time_with_many_concurrent_askers(system: ActorSystem) -> None:
    trace: list[str] = []
    ref = system.spawn(lambda: Counter(trace), name="c")

    async def asker(i: int) -> int:
        if i % 7 == 0:
            ref.tell_nowait(Add(n=1))  # this ask queues behind the tell
        else:
            await asyncio.sleep(0)
        return await ref.ask(Add(n=1))

    replies = await asyncio.gather(*(asker(i) for i in range(500)))
    total = await ref.ask(Total())
    told = len(range(0, 500, 7))
    assert total == 500 + told
    # Every ask saw its own increment applied exactly once, in some serial order.
    assert len(set(replies)) == 500 and max(replies) <= total
    stats = ref.statistics()
    assert 0 < stats.inline < 500 and stats.processed == 500 + told + 1
    assert len(trace) == 500 + told


async def test_a_failing_inline_turn_restarts_the_actor_before_the_next_message(
    system: ActorSystem, clock: ManualClock
) -> None:
    made: list[Counter] = []

    def factory() -> Counter:
        made.append(Counter())
        return made[-1]

    ref = system.spawn(factory, name="c")
    await ref.ask(Add(n=5))
    with pytest.raises(RuntimeError, match="boom"):
        await ref.ask(Boom())
    assert ref.statistics().failures == 1
    # The next ask is queued: it may only reach a fresh instance.
    later = asyncio.ensure_future(ref.ask(Add(n=1)))
    await asyncio.sleep(0)
    assert ref.statistics().state is ActorState.RESTARTING and not later.done()
    await clock.advance(0.1)
    assert await later == 1  # the new incarnation's state (nothing rebuilds it here)
    assert len(made) == 2 and ref.statistics().restarts == 1


async def test_ask_again_sends_the_message_once_more_to_the_restarted_actor(
    system: ActorSystem, clock: ManualClock
) -> None:
    failures = [1]  # the first incarnation's first Add fails; the next ones do not

    class Flaky(Counter):
        def receive(self, message: Msg) -> int:
            if isinstance(message, Add) and failures and failures.pop():
                raise RuntimeError("flaky")
            return super().receive(message)

    ref = system.spawn(Flaky, name="c")
    await ref.ask(Total())
    answer = asyncio.ensure_future(ref.ask(Add(n=3), timeout=None, again=True))
    await asyncio.sleep(0)
    assert ref.statistics().state is ActorState.RESTARTING and not answer.done()
    await clock.advance(0.1)
    assert await answer == 3  # the restarted instance took it
    stats = ref.statistics()
    assert stats.failures == 1 and stats.restarts == 1
    twice = asyncio.ensure_future(ref.ask(Boom(), timeout=None, again=True))
    await asyncio.sleep(0)
    await clock.advance(1.0)  # the second restart's backoff
    with pytest.raises(RuntimeError, match="boom"):  # failing twice raises
        await twice
    assert ref.statistics().failures == 3  # flaky once, boom twice


async def test_ask_nowait_answers_after_the_queued_messages(system: ActorSystem) -> None:
    ref = system.spawn(Counter, name="c")
    await ref.ask(Total())
    ref.tell_nowait(Add(n=1))
    ref.tell_nowait(Add(n=2))
    assert ref.ask_nowait(Total()) == 3
    assert ref.statistics().mailbox_depth == 0


async def test_ask_nowait_on_a_restarting_or_stopped_actor(
    system: ActorSystem, clock: ManualClock
) -> None:
    ref = system.spawn(Counter, name="c")
    await ref.ask(Total())
    with pytest.raises(RuntimeError):
        ref.ask_nowait(Boom())
    with pytest.raises(WouldBlock, match="restarting"):
        ref.ask_nowait(Total())
    await clock.advance(0.1)
    assert await ref.ask(Total()) == 0
    await system.stop(ref)
    with pytest.raises(WouldBlock):
        ref.ask_nowait(Total())
    with pytest.raises(ActorDeadError):
        await ref.ask(Total())


async def test_background_work_survives_a_restart_and_ends_with_the_actor(
    system: ActorSystem, clock: ManualClock
) -> None:
    started = asyncio.Event()
    gate = asyncio.Event()

    class Spawner(Counter):
        def receive(self, message: Msg) -> int:
            if isinstance(message, Total) and self.total == 0:
                self.run_in_background(self.wait_then_add(), name="waiter")
            return super().receive(message)

        async def wait_then_add(self) -> None:
            started.set()
            await gate.wait()
            await self.ref.ask(Add(n=100))

    ref = system.spawn(Spawner, name="s")
    await ref.ask(Total())
    await started.wait()
    with pytest.raises(RuntimeError):
        await ref.ask(Boom())
    await clock.advance(0.1)
    await ref.ask(Add(n=1))
    gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    # The task started by the first instance reported to the second one.
    assert await ref.ask(Total()) == 101

    gate.clear()
    started.clear()
    ref2 = system.spawn(Spawner, name="s2")
    await ref2.ask(Total())
    await started.wait()
    await system.stop(ref2)  # the waiting task is cancelled, nothing leaks


# --- inline and queued delivery give the same state ---------------------------------

ops = st.lists(st.tuples(st.sampled_from(["ask", "tell"]), st.integers(-5, 5)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_inline_and_queued_delivery_produce_the_same_state(
    steps: list[tuple[str, int]],
) -> None:
    async def run() -> tuple[int, int, int]:
        clock = ManualClock()
        async with ActorSystem(clock=clock) as system:
            inline = system.spawn(Counter, name="inline")
            queued = system.spawn(Counter, name="queued")
            mixed = system.spawn(Counter, name="mixed")
            await inline.ask(Total())
            for how, n in steps:
                await inline.ask(Add(n=n))  # idle after each: always inline
                queued.tell_nowait(Add(n=n))  # always through the mailbox
                if how == "ask":
                    await mixed.ask(Add(n=n))
                else:
                    mixed.tell_nowait(Add(n=n))
            totals = (
                await inline.ask(Total()),
                await queued.ask(Total()),
                await mixed.ask(Total()),
            )
            assert inline.statistics().inline == len(steps) + 1
        await clock.aclose()
        return totals

    totals = asyncio.run(run())
    expected = sum(n for _, n in steps)
    assert totals == (expected, expected, expected)
