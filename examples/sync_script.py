"""A plain synchronous script using the runtime: no ``async`` anywhere in the user code.

Run it with ``python examples/sync_script.py``. It

1. starts a local fake LLM backend (a chaos server answering like Ollama, 0.3 s per
   reply) — the only asyncio here, and only because the fake backend is asyncio;
2. starts a ``ThreadedRuntime``: the asyncio runtime on its own loop thread, with every
   method returning a pykka future;
3. sends six chats at once and collects them with ``pykka.get_all`` (they run
   concurrently, so together they take about as long as one);
4. prints one streamed reply chunk by chunk, then ``health()`` and ``usage()``;
5. stops: in-flight work is cancelled, the event log is flushed and closed, and the
   loop thread ends.

The event log goes to a temporary directory that is removed at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import pykka

from runtime import (
    EndpointConfig,
    EventLogConfig,
    ModelConfig,
    RoleConfig,
    RuntimeConfig,
    ThreadedRuntime,
    configure_logging,
)
from runtime.testing import ChaosServer, Fault

DELAY = 0.3
"""Seconds the fake backend waits before each reply."""


class FakeBackend:
    """A chaos server on a small thread of its own, for ``with FakeBackend() as url:``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-backend")
        self._server = ChaosServer(["llama3"], seed=1)
        self._server.set_fault(Fault(kind="latency", delay=DELAY), model="llama3")

    def __enter__(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(timeout=10)
        return self._server.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._server.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def make_config(url: str, log: Path) -> RuntimeConfig:
    """One endpoint serving one model, and a role ``generator`` that uses it."""
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="local", url=url),),
        models=(ModelConfig(name="llama3", deployments=("local",)),),
        roles={"generator": RoleConfig(models=("llama3",))},
        event_log=EventLogConfig(path=str(log)),
    )


def parallel_chats(rt: ThreadedRuntime, count: int) -> None:
    """Send ``count`` chats at once; wait for all of them with ``pykka.get_all``."""
    questions = [f"question {n}" for n in range(count)]
    began = time.monotonic()
    futures = [rt.chat([{"role": "user", "content": q}], role="generator") for q in questions]
    replies = pykka.get_all(futures, timeout=30)  # blocks this thread, never the loop
    took = time.monotonic() - began
    print(f"{count} chats in parallel:")
    for question, reply in zip(questions, replies, strict=True):
        print(f"  {question} -> {reply.model}@{reply.endpoint}: {reply.content[:40]!r}")
    print(f"  all {count} answered in {took:.2f} s (one at a time: at least {count * DELAY:.1f} s)")


def one_stream(rt: ThreadedRuntime) -> None:
    """Print a streamed reply as its chunks arrive."""
    print("stream: ", end="", flush=True)
    chunks = 0
    with rt.stream([{"role": "user", "content": "tell me more"}], role="generator") as stream:
        for chunk in stream:
            chunks += 1
            print(chunk.content, end="", flush=True)
            if chunk.done:
                print(f"\n  {chunks} chunks, the last one done={chunk.done}")


def report(rt: ThreadedRuntime) -> None:
    """Health and usage, read through futures like everything else."""
    health = rt.health().get(timeout=10)
    for name, model in health.models.items():
        deployments = ", ".join(f"{d.deployment}: {d.status}" for d in model.deployments)
        print(f"health: {name}: {model.status} ({deployments})")
    usage = rt.usage().get(timeout=10)
    print(
        f"usage today: {usage.total.requests} requests, {usage.total.tokens} tokens; "
        f"by model: { {m: u.requests for m, u in usage.models.items()} }"
    )
    rt.flush_events().get(timeout=10)
    committed = rt.statistics().get(timeout=10).event_log.background_events
    print(f"event log: {committed} events committed")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sync-script-") as tmp, FakeBackend() as url:
        log = Path(tmp) / "events.sqlite3"
        print(f"backend: {url} (fake Ollama, {DELAY} s per reply); event log: {log}")
        with ThreadedRuntime.start(make_config(url, log)) as rt:
            parallel_chats(rt, 6)
            one_stream(rt)
            report(rt)
        print(f"stopped: loop thread alive={rt.loop_thread.is_alive()}, running={rt.running}")


if __name__ == "__main__":
    # The script narrates for itself; the runtime's own info lines would repeat it.
    configure_logging(level="error")
    main()
