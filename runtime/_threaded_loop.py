"""``LoopThread``: one asyncio loop on its own thread, hosting one ``Runtime``.

The machinery under ``ThreadedRuntime`` (the facade in ``runtime._threaded``).

Threads and ownership:

- The **loop thread** (non-daemon, so unflushed events are not cut off at interpreter
  exit) runs ``Runtime.start()``, every call, and ``Runtime.aclose()``. Nothing on it
  ever blocks on another thread: calls arrive through ``loop.call_soon_threadsafe`` and
  results leave through pykka futures, whose ``set`` only takes their lock briefly.
- **Caller threads** only submit work and block on futures. ``_state`` is the one piece
  of shared state; it is read and changed under ``_lock``, and every hand-over to the
  loop is scheduled while holding it, so a call submitted before ``stop()`` is always
  launched before the stop runs (``call_soon_threadsafe`` is FIFO) and no call can be
  scheduled on a closed loop.

Lifecycle (``_state``)::

    starting ──► running ──► stopping ──► stopped
        └─────── start failed ──────────────┘

A stop cancels every call still in flight (their futures fail with
``RuntimeNotRunning``), closes the Runtime (which flushes the event log), then lets the
loop end. A process whose main thread has finished while no other thread could still
call the runtime stops it too (the exit watch: the main thread has finished and every
other thread that ever called the runtime has ended), so a forgotten ``stop()`` cannot
keep the interpreter alive forever; it is a safety net, not the way to stop. The
runtime's own helper threads (SQLite connections, executors) never count as callers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

import pykka

from events import get_logger
from runtime._errors import LLMRuntimeError, RuntimeNotRunning
from runtime._runtime import Runtime

__all__ = ["LoopFuture", "LoopThread", "WouldDeadlock"]

log = get_logger(__name__)

T = TypeVar("T")

State = Literal["starting", "running", "stopping", "stopped"]

EXIT_WATCH_SECONDS = 0.2
"""How often the loop checks whether the interpreter is exiting without a ``stop()``."""


class WouldDeadlock(LLMRuntimeError, RuntimeError):
    """A blocking call (``Future.get()``, iterating a stream, ``stop()``) was made on the
    runtime's own loop thread, which would wait for itself forever. On that thread
    (inside ``submit`` or an event callback) await the ``Runtime`` directly instead."""


class LoopFuture(pykka.ThreadingFuture[T]):
    """A pykka future resolved by the loop thread; ``get()`` refuses to run on it."""

    def __init__(self, loop_thread: threading.Thread | None = None) -> None:
        # pykka's map/join/filter build futures with no arguments; theirs get() calls
        # ours underneath, so the loop-thread check still applies to them.
        super().__init__()
        self._loop_thread = loop_thread
        self.task: asyncio.Task[T] | None = None
        """The loop-side task computing the value (set on the loop thread at launch)."""

    def get(self, *, timeout: float | None = None) -> T:
        """The value, or raise the call's exception with its original type.

        Raises:
            WouldDeadlock: Called on the runtime's loop thread.
            pykka.Timeout: No value within ``timeout`` seconds.
        """
        if self._loop_thread is not None and threading.current_thread() is self._loop_thread:
            raise WouldDeadlock(
                "Future.get() on the ThreadedRuntime's loop thread would wait for itself; "
                "on that thread await the Runtime directly (e.g. inside submit())"
            )
        value: T = super().get(timeout=timeout)
        return value


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still on ``loop`` and wait for them (what ``asyncio.run`` does)."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": "unhandled exception in a task left at loop shutdown",
                 "exception": task.exception(), "task": task}
            )  # fmt: skip


class LoopThread:
    """Runs ``runtime`` on a dedicated event loop thread; see the module docstring."""

    def __init__(self, runtime: Runtime, *, name: str) -> None:
        self.runtime = runtime
        self._loop = asyncio.new_event_loop()
        self._lock = threading.RLock()  # re-entrant: a finalizer may run mid-section
        self._state: State = "starting"
        self._calls: dict[asyncio.Task[Any], LoopFuture[Any]] = {}  # loop thread only
        self._stop_requested = asyncio.Event()
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._timeout = 30.0
        self._watch: asyncio.TimerHandle | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=False)
        self._callers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    # --- lifecycle (caller side) ---------------------------------------------------------

    def start(self, timeout: float) -> None:
        """Start the thread and wait until the Runtime has started or failed.

        Raises:
            Exception: Whatever ``Runtime.start()`` raised, with its original type.
            TimeoutError: The Runtime did not start within ``timeout`` seconds.
        """
        self._timeout = timeout
        try:
            self.thread.start()
        except BaseException:
            self._loop.close()
            raise
        try:
            self._started.result()  # the loop enforces the timeout; it always answers
        except BaseException:
            self.thread.join()
            raise

    @property
    def state(self) -> State:
        """Where the lifecycle is (see the module docstring)."""
        return self._state

    def request_stop(self) -> None:
        """Ask the loop to stop; returns at once; safe from any thread, any number of times."""
        with self._lock:
            if self._state == "running":
                self._state = "stopping"
                self._loop.call_soon_threadsafe(self._stop_requested.set)

    def stop(self, timeout: float | None) -> None:
        """Stop and wait for the loop thread to end.

        Raises:
            WouldDeadlock: Called on the loop thread.
            TimeoutError: The thread is still running after ``timeout`` seconds.
        """
        self.check_not_loop_thread("ThreadedRuntime.stop()")
        self.request_stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(
                f"the ThreadedRuntime's loop thread did not end within {timeout} s "
                "(a call ignoring cancellation, or a blocked escalation check?); "
                "call stop() again to keep waiting"
            )

    def check_not_loop_thread(self, what: str) -> None:
        """Raise ``WouldDeadlock`` if called on the loop thread."""
        if threading.current_thread() is self.thread:
            raise WouldDeadlock(
                f"{what} on the ThreadedRuntime's own loop thread would wait for itself; "
                "call it from another thread"
            )

    # --- calls (caller side) -------------------------------------------------------------

    def submit(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        *,
        done: Callable[[], None] | None = None,
    ) -> LoopFuture[T]:
        """Run ``await make()`` on the loop; the future gets its value or exception.

        ``make`` is called on the loop thread. ``done`` (if given) runs on the loop
        thread after the future is settled, however the call ended.

        Raises:
            RuntimeNotRunning: The runtime is stopping or stopped.
        """
        future: LoopFuture[T] = LoopFuture(self.thread)
        with self._lock:
            if self._state != "running":
                raise RuntimeNotRunning(
                    f"the ThreadedRuntime is {self._state}; start a new one with "
                    "ThreadedRuntime.start(config)"
                )
            self._loop.call_soon_threadsafe(self._launch, make, future, done)
            self._callers.add(threading.current_thread())
        return future

    def post(self, callback: Callable[[], object]) -> None:
        """Run ``callback()`` on the loop soon, unless the loop has already ended."""
        with self._lock:
            if self._state in ("running", "stopping"):
                self._loop.call_soon_threadsafe(callback)

    def cancel(self, future: LoopFuture[Any]) -> None:
        """Cancel the call behind ``future`` (no-op once it ended or the loop stopped)."""

        def cancel_task() -> None:
            # Runs after the call's launch (FIFO), so its task is known by now.
            if future.task is not None:
                future.task.cancel()

        self.post(cancel_task)

    # --- the loop thread -----------------------------------------------------------------

    def _run(self) -> None:
        """The thread's body: run the loop until the Runtime is closed.

        Not ``asyncio.Runner``: its ``close()`` shuts the default executor down from a
        new thread, which Python 3.12.0/3.12.1 refuse once the interpreter is exiting
        ("can't create new thread at interpreter shutdown") -- exactly when a forgotten
        runtime stops. The loop's executor is ours and is joined on this thread instead.
        """
        executor = concurrent.futures.ThreadPoolExecutor(
            thread_name_prefix=f"{self.thread.name}-io"
        )
        self._loop.set_default_executor(executor)
        try:
            try:
                self._loop.run_until_complete(self._main())
            finally:
                try:
                    _cancel_leftovers(self._loop)
                    self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                finally:
                    executor.shutdown(wait=True)  # joins its threads here, starts none
                    self._loop.close()
        finally:
            if not self._started.done():  # the loop died before it could answer
                self._started.set_exception(RuntimeNotRunning("the loop thread ended early"))
            log.debug("runtime.threaded.thread_ended", thread=self.thread.name)

    async def _main(self) -> None:
        """Start the Runtime, serve calls until asked to stop, then shut down."""
        try:
            if not await self._start_runtime():
                return
            self._watch = self._loop.call_later(EXIT_WATCH_SECONDS, self._watch_exit)
            try:
                await self._stop_requested.wait()
            finally:
                self._watch.cancel()
                await self._shutdown()
        finally:
            # Before the loop closes: from now on nothing may be scheduled on it.
            with self._lock:
                self._state = "stopped"

    async def _start_runtime(self) -> bool:
        """``Runtime.start()`` within the start timeout; tell the waiting caller."""
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                await self.runtime.start()
        except BaseException as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                exc = TimeoutError(
                    f"the Runtime did not start within {self._timeout} s (opening and "
                    "replaying the event log); raise start_timeout or check the log's disk"
                )
            with self._lock:
                self._state = "stopping"
            self._started.set_exception(exc)  # the caller now waits for this thread
            await self.runtime.aclose()
            if not isinstance(exc, Exception):
                raise  # CancelledError, KeyboardInterrupt: never swallowed
            return False
        with self._lock:
            self._state = "running"
        self._started.set_result(None)
        log.info("runtime.threaded.started", thread=self.thread.name)
        return True

    async def _shutdown(self) -> None:
        """Cancel the calls in flight, then close the Runtime (flushing the events)."""
        with self._lock:
            self._state = "stopping"
        calls = list(self._calls)
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await self.runtime.aclose()
        log.info("runtime.threaded.stopped", thread=self.thread.name, cancelled=len(calls))

    def _launch(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        future: LoopFuture[Any],
        done: Callable[[], None] | None,
    ) -> None:
        """Start one submitted call as a task (on the loop thread)."""
        try:
            task = self._loop.create_task(make())
        except Exception as exc:
            future.set_exception((type(exc), exc, exc.__traceback__))
            if done is not None:
                done()
            return
        future.task = task
        self._calls[task] = future
        task.add_done_callback(lambda t: self._settle(t, done))

    def _settle(self, task: asyncio.Task[Any], done: Callable[[], None] | None) -> None:
        """Hand a finished call's outcome to its future (on the loop thread)."""
        future = self._calls.pop(task)
        if task.cancelled():
            error = RuntimeNotRunning(
                "the call was cancelled: the ThreadedRuntime stopped (or the stream was "
                "closed) while it was in flight"
            )
            future.set_exception((RuntimeNotRunning, error, None))
        elif (exc := task.exception()) is not None:
            future.set_exception((type(exc), exc, exc.__traceback__))
        else:
            future.set(task.result())
        if done is not None:
            done()

    def _watch_exit(self) -> None:
        """Stop if the interpreter is exiting and no thread could still use the runtime."""
        if threading.main_thread().is_alive() or self._callers_alive():
            self._watch = self._loop.call_later(EXIT_WATCH_SECONDS, self._watch_exit)
            return
        log.warning(
            "runtime.threaded.stopped_at_exit",
            thread=self.thread.name,
            hint="call ThreadedRuntime.stop() or use it as a context manager",
        )
        self.request_stop()

    def _callers_alive(self) -> bool:
        """Whether a non-daemon thread that has called the runtime still runs.

        Daemon threads do not keep the process alive, so they cannot be waited for;
        the main thread has ended when this is asked; the loop thread is this one.
        """
        with self._lock:
            callers = list(self._callers)
        main = threading.main_thread()
        return any(
            t.is_alive() and not t.daemon and t is not main and t is not self.thread
            for t in callers
        )
