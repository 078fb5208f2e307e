"""``ThreadedRuntime``: the ``Runtime`` for synchronous code, with pykka futures.

Example::

    from pykka import get_all
    from runtime import ThreadedRuntime

    with ThreadedRuntime.start("llm.yaml") as rt:
        futures = [rt.chat([{"role": "user", "content": q}], role="generator") for q in qs]
        for reply in get_all(futures, timeout=60):
            print(reply.content)
        for chunk in rt.stream(messages, role="generator"):
            print(chunk.content, end="")
        print(rt.health().get())

The asyncio ``Runtime`` runs on its own loop thread (see ``runtime._threaded_loop``);
every method here returns at once with a ``pykka.Future`` (``ThreadingFuture``) that the
loop resolves. ``future.get(timeout=...)`` returns the value or raises the runtime's
error with its original type (``ModelNotFoundError``, ``AllCandidatesFailed``...).
Any number of threads may call concurrently — including ``pykka.ThreadingActor``
threads — and their requests run concurrently on the loop, which never blocks on a
caller. Calls are not queued behind each other: twenty threads asking at once are
twenty requests in flight.

Call ``stop()`` (or use ``with``): it cancels the calls still in flight (their futures
fail with ``RuntimeNotRunning``), closes the Runtime, which flushes the event log, and
joins the loop thread. The loop thread is not a daemon thread, so events are not lost
at interpreter exit; if ``stop()`` was forgotten, the runtime stops by itself once it
is garbage collected, or once the main thread has finished and every other thread that
called it has ended.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx
import pykka

from actors import Clock
from actors.escalation import CheckResult, EscalationResult
from actors.performance import PerformanceSummary
from actors.quota import UsageSummary
from actors.router import Embeddings, Reply
from events import EventLog
from runtime._config import RuntimeConfig
from runtime._params import GenerationParams
from runtime._probe import ProbeResult
from runtime._request import MessagesLike
from runtime._runtime import Runtime, RuntimeStatistics
from runtime._summary import HealthSummary
from runtime._threaded_loop import LoopThread
from runtime._threaded_stream import ThreadedStream

__all__ = ["ThreadedRuntime"]

T = TypeVar("T")

_THREAD_NUMBERS = itertools.count(1)


async def _now(read: Callable[[], T]) -> T:
    """``read()`` as a coroutine, so it runs on the loop thread like every call."""
    return read()


def _snapshot(messages: MessagesLike) -> list[Any]:
    """The messages as they are now: a caller may reuse or mutate its dicts meanwhile."""
    return [dict(m) if isinstance(m, Mapping) else m for m in messages]


class ThreadedRuntime:
    """A ``Runtime`` on its own event loop thread, for synchronous callers.

    Create it with ``ThreadedRuntime.start(...)``; see the module docstring.
    """

    def __init__(self, core: LoopThread) -> None:
        """Wrap a started loop thread (internal: use ``ThreadedRuntime.start``)."""
        self._core = core
        self._runtime = core.runtime
        # Stops the loop if this object is dropped without stop(); never at exit time
        # (the loop thread has been stopped or joined by then).
        self._finalizer = weakref.finalize(self, core.request_stop)
        self._finalizer.atexit = False

    @classmethod
    def start(
        cls,
        source: str | os.PathLike[str] | RuntimeConfig,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        event_log: EventLog | None = None,
        transport: Callable[[str], httpx.AsyncBaseTransport | None] | None = None,
        start_timeout: float = 30.0,
        thread_name: str | None = None,
    ) -> ThreadedRuntime:
        """Start a Runtime for ``source`` on a new loop thread; return once it runs.

        The keyword arguments up to ``transport`` are those of ``Runtime.from_config``
        (``event_log``, if given, must be usable from the new loop thread, e.g. an
        in-memory log).

        Args:
            source: A YAML/TOML file or a ``RuntimeConfig``.
            start_timeout: Seconds to wait for the Runtime to start (opening and
                replaying the event log).
            thread_name: The loop thread's name (default ``llmrt-loop-N``).

        Raises:
            ConfigError: The config is invalid (raised before any thread starts).
            TimeoutError: The Runtime did not start within ``start_timeout``.
            Exception: Whatever ``Runtime.start()`` raised, with its original type
                (e.g. ``events.StorageUnavailable``); the loop thread has ended.
        """
        runtime = Runtime.from_config(
            source, environ=environ, clock=clock, rng=rng, event_log=event_log,
            transport=transport,
        )  # fmt: skip
        name = thread_name or f"llmrt-loop-{next(_THREAD_NUMBERS)}"
        core = LoopThread(runtime, name=name)
        core.start(start_timeout)
        return cls(core)

    # --- lifecycle ----------------------------------------------------------------------

    def stop(self, timeout: float | None = 30.0) -> None:
        """Cancel calls in flight, close the Runtime (flushing events), join the thread.

        Idempotent. Calls made afterwards raise ``RuntimeNotRunning``.

        Raises:
            WouldDeadlock: Called on the loop thread itself.
            TimeoutError: The loop thread did not end within ``timeout`` seconds.
        """
        self._finalizer.detach()
        self._core.stop(timeout)

    def __enter__(self) -> ThreadedRuntime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether calls are accepted (started and not stopping)."""
        return self._core.state == "running"

    @property
    def loop_thread(self) -> threading.Thread:
        """The thread running the event loop (its ``name`` is ``thread_name``)."""
        return self._core.thread

    @property
    def config(self) -> RuntimeConfig:
        """The configuration in force (immutable, safe to read from any thread)."""
        return self._runtime.config

    def __repr__(self) -> str:
        return f"<ThreadedRuntime {self._core.state} on {self._core.thread.name}>"

    # --- requests -----------------------------------------------------------------------

    def chat(
        self,
        messages: MessagesLike,
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        **params: Unpack[GenerationParams],
    ) -> pykka.Future[Reply]:
        """``Runtime.chat`` on the loop; the future holds the ``Reply`` or its error.

        Raises:
            RuntimeNotRunning: Called after ``stop()`` (at once, not via the future).
        """
        rt, snapshot = self._runtime, _snapshot(messages)
        return self._core.submit(
            lambda: rt.chat(snapshot, role=role, model=model, kind=kind, **params)
        )

    def embed(
        self,
        inputs: str | Sequence[str],
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        dimensions: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> pykka.Future[Embeddings]:
        """``Runtime.embed`` on the loop; the future holds the ``Embeddings``.

        Raises:
            RuntimeNotRunning: Called after ``stop()`` (at once, not via the future).
        """
        rt = self._runtime
        texts = inputs if isinstance(inputs, str) else tuple(inputs)
        extra = dict(options) if options is not None else None
        return self._core.submit(
            lambda: rt.embed(
                texts, role=role, model=model, kind=kind, dimensions=dimensions, options=extra
            )
        )

    def stream(
        self,
        messages: MessagesLike,
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        buffer: int = 16,
        **params: Unpack[GenerationParams],
    ) -> ThreadedStream:
        """``Runtime.stream`` on the loop, as a synchronous iterator of chunks.

        The request starts now. Iterating raises the stream's errors with their
        original types; ``close()`` it (or use ``with``) to cancel it early.

        Args:
            buffer: Most chunks waiting for the reader; the stream is held back beyond.

        Raises:
            RuntimeNotRunning: Called after ``stop()``.
        """
        rt, snapshot = self._runtime, _snapshot(messages)
        return ThreadedStream(
            self._core,
            lambda: rt.stream(snapshot, role=role, model=model, kind=kind, **params),
            buffer=buffer,
            keep_alive=self,
        )  # fmt: skip

    def escalate(
        self,
        *,
        goal: str,
        check: Callable[[str], CheckResult],
        generator_role: str = "generator",
        escalation_role: str = "escalation",
        overseer_role: str | None = None,
        tools: Iterable[str] = (),
        max_attempts: int = 3,
        kind: str | None = "code",
        store_bodies: bool | None = None,
    ) -> pykka.Future[EscalationResult]:
        """``Runtime.escalate`` with a synchronous ``check(code) -> CheckResult``.

        ``check`` runs in a worker thread (never on the loop), so it may block, e.g.
        run the candidate's tests in a subprocess. A check that never returns keeps
        ``stop()`` from finishing: give it its own timeout.
        """
        rt, tool_names = self._runtime, tuple(tools)

        async def threaded_check(code: str) -> CheckResult:
            return await asyncio.to_thread(check, code)

        return self._core.submit(
            lambda: rt.escalate(
                goal=goal, check=threaded_check, generator_role=generator_role,
                escalation_role=escalation_role, overseer_role=overseer_role,
                tools=tool_names, max_attempts=max_attempts, kind=kind,
                store_bodies=store_bodies,
            )
        )  # fmt: skip

    def submit(self, func: Callable[[Runtime], Coroutine[Any, Any, T]]) -> pykka.Future[T]:
        """Run ``await func(runtime)`` on the loop thread; for what has no method here.

        Example: ``rt.submit(lambda r: r.reset_health("llama3", reason="redeployed"))``.
        ``func`` runs on the loop: it must not block, nor ``get()`` a future of this
        runtime (that raises ``WouldDeadlock``).
        """
        rt = self._runtime
        return self._core.submit(lambda: func(rt))

    # --- state --------------------------------------------------------------------------

    def health(self) -> pykka.Future[HealthSummary]:
        """``Runtime.health()``: every model's and deployment's status."""
        return self._read(self._runtime.health)

    def reset_health(
        self, target: str, *, reason: str = "manual reset"
    ) -> pykka.Future[tuple[str, ...]]:
        """``Runtime.reset_health``: the deployment ids reset, once recorded."""
        rt = self._runtime
        return self._core.submit(lambda: rt.reset_health(target, reason=reason))

    def probe(self, target: str) -> pykka.Future[tuple[ProbeResult, ...]]:
        """``Runtime.probe``: the health check of ``target``'s deployments, run now."""
        rt = self._runtime
        return self._core.submit(lambda: rt.probe(target))

    def usage(self) -> pykka.Future[UsageSummary]:
        """``Runtime.usage()``: this quota period's usage and every limit."""
        return self._read(self._runtime.usage)

    def performance(self) -> pykka.Future[PerformanceSummary]:
        """``Runtime.performance()``: windows and scores per (task kind, model)."""
        return self._read(self._runtime.performance)

    def statistics(self) -> pykka.Future[RuntimeStatistics]:
        """``Runtime.statistics()``: counters of every part."""
        return self._read(self._runtime.statistics)

    def _read(self, read: Callable[[], T]) -> pykka.Future[T]:
        # The lambda holds the bound method, not self: the loop never keeps the facade
        # alive (its finalizer is what stops a forgotten runtime).
        return self._core.submit(lambda: _now(read))

    def flush_events(self) -> pykka.Future[None]:
        """Resolves once every event recorded so far is committed to the log."""
        return self._core.submit(self._runtime.flush_events)
