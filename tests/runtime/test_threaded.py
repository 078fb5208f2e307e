"""``ThreadedRuntime``: the Runtime on its own loop thread, called from synchronous code.

These tests are synchronous on purpose: they call the runtime as a threaded service
would. The chaos backends run on a loop thread of their own (``Backends``).
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pykka
import pytest

from events import InvalidLogFile, RequestCancelled, RequestSucceeded
from runtime import (
    CheckResult,
    ConfigError,
    InvalidRequest,
    LLMRuntimeError,
    ModelNotFoundError,
    RoleConfig,
    Runtime,
    RuntimeConfig,
    RuntimeNotRunning,
    StreamBroken,
    ThreadedRuntime,
    Timeouts,
    WouldDeadlock,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PATIENT = Timeouts(connect=1.0, first_byte=30.0, idle=30.0, total=60.0)
"""Deadlines long enough that a hanging backend is still in flight when a test stops."""


class Backends:
    """Chaos servers on a loop thread of their own: the tests are synchronous."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-loop")
        self._thread.start()
        self._servers: list[ChaosServer] = []

    def serve(self, *models: str) -> ChaosServer:
        server = ChaosServer(models, seed=1)
        self.run(server.start())
        self._servers.append(server)
        return server

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def call(self, func: Callable[[], T]) -> T:
        """``func()`` on the servers' loop (their state belongs to it)."""

        async def call() -> T:
            return func()

        return self.run(call())

    def close(self) -> None:
        for server in self._servers:
            self.run(server.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting HTTP calls in flight and the peak."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.inflight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self.inflight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def backends() -> Iterator[Backends]:
    backends = Backends()
    yield backends
    backends.close()


@pytest.fixture
def server(backends: Backends) -> ChaosServer:
    return backends.serve("llama3", "qwen")


def make_config(
    tmp_path: Path, server: ChaosServer, timeouts: Timeouts | None = None
) -> RuntimeConfig:
    cfg = config(
        tmp_path, {"a": server}, {"llama3": ("a",), "qwen": ("a",)}, roles={"gen": ("llama3",)}
    )
    if timeouts is None:
        return cfg
    endpoints = tuple(msgspec.structs.replace(e, timeouts=timeouts) for e in cfg.endpoints)
    return msgspec.structs.replace(cfg, endpoints=endpoints)


def wait_until(check: Callable[[], bool], within: float = 30.0) -> None:
    """Poll ``check()`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llmrt-loop")]


# --- lifecycle -----------------------------------------------------------------------


def test_tools_and_embeddings_from_synchronous_code(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    backends.call(lambda: server.script_tool_round_trip("llama3", "get_weather", {"city": "Oslo"}))
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        reply = rt.chat(MESSAGES, model="llama3", tools=tools, seed=3).get(timeout=10)
        vectors = rt.embed(["a", "b"], model="llama3").get(timeout=10).vectors
        with rt.stream(MESSAGES, model="llama3", tools=tools) as chunks:
            final = list(chunks)[-1]
    assert reply.tool_calls[0].name == "get_weather" and len(vectors) == 2
    assert final.tool_calls[0].parsed_arguments() == {"city": "Oslo"}
    sent = backends.call(lambda: server.received(route="/api/chat"))
    assert sent[0]["options"]["seed"] == 3 and sent[0]["tools"] == tools


def test_start_serves_calls_and_stop_leaves_no_thread(tmp_path: Path, server: ChaosServer) -> None:
    before = set(threading.enumerate())
    rt = ThreadedRuntime.start(make_config(tmp_path, server), thread_name="llmrt-loop-test")
    assert rt.running and rt.loop_thread.name == "llmrt-loop-test" and rt.loop_thread.is_alive()
    assert not rt.loop_thread.daemon  # events must not be cut off at interpreter exit
    reply = rt.chat(MESSAGES, role="gen").get(timeout=10)
    assert (reply.model, reply.endpoint) == ("llama3", "a") and reply.content
    assert rt.health().get(timeout=10).status("llama3") == "healthy"
    assert rt.usage().get(timeout=10).total.requests == 1
    assert rt.performance().get(timeout=10) is not None
    assert rt.statistics().get(timeout=10).router.succeeded == 1
    assert rt.reset_health("llama3").get(timeout=10) == ("llama3@a",)
    (probed,) = rt.probe("llama3@a").get(timeout=10)
    assert probed.ok and probed.deployment == "llama3@a"
    rt.flush_events().get(timeout=10)
    rt.stop()
    assert not rt.running and not rt.loop_thread.is_alive()
    assert set(threading.enumerate()) <= before  # nothing left: loop, sqlite, executor
    [done] = asyncio.run(read_events(tmp_path / "events.sqlite3", RequestSucceeded))
    assert isinstance(done.event, RequestSucceeded)


def test_stop_is_idempotent_and_the_context_manager_stops(
    tmp_path: Path, server: ChaosServer
) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        assert rt.chat(MESSAGES, model="qwen").get(timeout=10).model == "qwen"
    assert not rt.loop_thread.is_alive() and "stopped" in repr(rt)
    rt.stop()
    rt.stop(timeout=0)
    assert loop_threads() == []


def test_a_bad_config_path_raises_config_error_before_any_thread(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ThreadedRuntime.start(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(caught.value)
    assert loop_threads() == []


def test_a_start_up_failure_is_re_raised_with_its_type(tmp_path: Path, server: ChaosServer) -> None:
    (tmp_path / "events.sqlite3").write_bytes(b"this is not an event log " * 100)
    before = set(threading.enumerate())
    with pytest.raises(InvalidLogFile):
        ThreadedRuntime.start(make_config(tmp_path, server))
    # aiosqlite's worker thread answers close() just before it returns: let it finish.
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
    assert set(threading.enumerate()) <= before


def test_a_start_that_takes_too_long_raises_timeout_error(
    tmp_path: Path, server: ChaosServer
) -> None:
    before = set(threading.enumerate())
    with pytest.raises(TimeoutError, match=r"did not start within 0\.0 s"):
        ThreadedRuntime.start(make_config(tmp_path, server), start_timeout=0.0)
    assert set(threading.enumerate()) <= before


# --- calls and their errors ------------------------------------------------------------


def test_errors_arrive_through_the_future_with_their_original_types(
    tmp_path: Path, server: ChaosServer
) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        unknown = rt.chat(MESSAGES, model="mistral")
        both = rt.chat(MESSAGES, model="llama3", role="gen")
        contents = rt.chat(MESSAGES, model="llama3").map(lambda reply: reply.content)
        with pytest.raises(ModelNotFoundError) as caught:
            unknown.get(timeout=10)
        with pytest.raises(InvalidRequest):
            both.get(timeout=10)
        with pytest.raises(LLMRuntimeError):  # a future raises every time it is asked
            unknown.get(timeout=10)
        text = contents.get(timeout=10)
    assert "'mistral' is not served" in str(caught.value)
    assert isinstance(text, str) and text
    assert server.requests_for(model="mistral") == 0  # refused before any request


def test_get_all_collects_parallel_chats(tmp_path: Path, server: ChaosServer) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        futures = [rt.chat([{"role": "user", "content": f"q{i}"}], role="gen") for i in range(8)]
        replies = list(pykka.get_all(futures, timeout=10))
        joined = futures[0].join(futures[1]).get(timeout=10)
    assert len({r.request_id for r in replies}) == 8
    assert list(joined) == replies[:2]


def test_calls_after_stop_raise_at_once(tmp_path: Path, server: ChaosServer) -> None:
    rt = ThreadedRuntime.start(make_config(tmp_path, server))
    rt.stop()
    calls: list[Callable[[], object]] = [
        lambda: rt.chat(MESSAGES, role="gen"),
        lambda: rt.stream(MESSAGES, role="gen"),
        rt.health,
        rt.usage,
        rt.flush_events,
        lambda: rt.submit(lambda r: r.flush_events()),
    ]
    for call in calls:
        with pytest.raises(RuntimeNotRunning, match="stopped"):
            call()


def test_stop_fails_a_request_in_flight_and_records_its_cancellation(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    backends.call(lambda: server.set_fault(Fault(kind="hang"), model="llama3"))
    rt = ThreadedRuntime.start(make_config(tmp_path, server, PATIENT))
    hanging = rt.chat(MESSAGES, model="llama3")
    wait_until(lambda: rt.statistics().get(timeout=10).router.inflight == {"llama3@a": 1})
    rt.stop()
    with pytest.raises(RuntimeNotRunning, match="in flight"):
        hanging.get(timeout=10)
    assert loop_threads() == []
    [cancelled] = asyncio.run(read_events(tmp_path / "events.sqlite3", RequestCancelled))
    assert isinstance(cancelled.event, RequestCancelled)


# --- streams ---------------------------------------------------------------------------


def test_a_stream_is_a_synchronous_iterator(tmp_path: Path, server: ChaosServer) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        chunks = list(rt.stream(MESSAGES, role="gen", buffer=1))
        stream = rt.stream(MESSAGES, model="mistral")
        with pytest.raises(ModelNotFoundError):
            next(stream)
        assert list(stream) == [] and stream.closed
    *body, final = chunks
    assert body and all(c.content and not c.done for c in body)
    assert final.done and final.usage is not None
    assert final.usage.completion_tokens == len(body)


def test_a_broken_stream_raises_stream_interrupted_with_the_partial_text(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    fault = Fault(kind="error_in_stream", after_chunks=3)
    backends.call(lambda: server.set_fault(fault, model="llama3"))
    received: list[str] = []
    with (
        ThreadedRuntime.start(make_config(tmp_path, server)) as rt,
        pytest.raises(StreamBroken) as caught,
    ):
        for chunk in rt.stream(MESSAGES, model="llama3"):
            received.append(chunk.content)
    assert received and caught.value.partial == "".join(received)


def test_closing_a_stream_early_cancels_the_upstream_request(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    trickle = Fault(kind="slow_trickle", delay=0.05)  # a long stream: 20 chunks x 50 ms
    backends.call(lambda: server.set_fault(trickle, model="llama3"))
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        with rt.stream(MESSAGES, model="llama3") as stream:
            first = next(stream)
        stats = rt.statistics().get(timeout=10).router
        assert list(stream) == []
    assert first.content and stream.closed
    assert stats.cancelled == 1 and stats.inflight == {} and stats.succeeded == 0
    [cancelled] = asyncio.run(read_events(tmp_path / "events.sqlite3", RequestCancelled))
    assert isinstance(cancelled.event, RequestCancelled)


def test_a_dropped_stream_is_cancelled_without_a_close(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    trickle = Fault(kind="slow_trickle", delay=0.05)
    backends.call(lambda: server.set_fault(trickle, model="llama3"))
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        stream = rt.stream(MESSAGES, model="llama3")
        assert next(stream).content
        del stream
        gc.collect()
        wait_until(lambda: rt.statistics().get(timeout=10).router.cancelled == 1)
        assert rt.statistics().get(timeout=10).router.inflight == {}


# --- threads -------------------------------------------------------------------------


def test_calls_from_many_threads_run_concurrently_on_the_loop(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    backends.call(lambda: server.set_fault(Fault(kind="latency", delay=0.2), model="llama3"))
    transports: list[CountingTransport] = []

    def transport(endpoint: str) -> CountingTransport:
        transports.append(CountingTransport())  # called on the loop thread at start
        return transports[-1]

    barrier = threading.Barrier(20)
    answers: dict[int, str] = {}
    with ThreadedRuntime.start(make_config(tmp_path, server), transport=transport) as rt:

        def caller(n: int) -> None:
            barrier.wait()
            answers[n] = (
                rt.chat([{"role": "user", "content": f"{n}"}], model="llama3").get(timeout=30).model
            )

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == dict.fromkeys(range(20), "llama3")
    [counting] = transports
    assert counting.peak > 1 and counting.inflight == 0
    assert server.requests_for(model="llama3", route="/api/chat") == 20


class Asker(pykka.ThreadingActor):
    """A pykka actor that asks the runtime from its own thread."""

    def __init__(self, rt: ThreadedRuntime) -> None:
        super().__init__()
        self.rt = rt

    def ask(self, question: str) -> tuple[str, str]:
        reply = self.rt.chat([{"role": "user", "content": question}], role="gen").get(timeout=10)
        return threading.current_thread().name, reply.content


def test_a_pykka_actor_calls_the_runtime_from_its_thread(
    tmp_path: Path, server: ChaosServer
) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        actors = [Asker.start(rt) for _ in range(3)]
        try:
            futures = [ref.proxy().ask(f"question {n}") for n, ref in enumerate(actors)]
            answers = list(pykka.get_all(futures, timeout=10))
        finally:
            for ref in actors:
                ref.stop()
    assert len({thread for thread, _ in answers}) == 3
    assert all(thread.startswith("Asker-") and text for thread, text in answers)


def test_a_blocking_call_on_the_loop_thread_raises_would_deadlock(
    tmp_path: Path, server: ChaosServer
) -> None:
    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:

        async def blocks_on_the_loop(_: Runtime) -> None:
            rt.health().get(timeout=1)

        async def stops_on_the_loop(_: Runtime) -> None:
            rt.stop()

        with pytest.raises(WouldDeadlock, match="loop thread"):
            rt.submit(blocks_on_the_loop).get(timeout=10)
        with pytest.raises(WouldDeadlock, match="stop"):
            rt.submit(stops_on_the_loop).get(timeout=10)
        assert rt.running  # neither hung nor stopped the loop


def test_the_loop_keeps_running_while_callers_block(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    backends.call(lambda: server.set_fault(Fault(kind="latency", delay=0.2), model="llama3"))
    finished = threading.Event()
    ticks_in_flight = 0

    async def heartbeat(rt: Runtime) -> None:
        nonlocal ticks_in_flight
        while not finished.is_set():
            if rt.statistics().router.inflight:
                ticks_in_flight += 1
            await asyncio.sleep(0.005)

    with ThreadedRuntime.start(make_config(tmp_path, server)) as rt:
        beating = rt.submit(heartbeat)
        reply = rt.chat(MESSAGES, model="llama3").get(timeout=10)  # blocks this thread
        finished.set()
        beating.get(timeout=10)
    assert reply.model == "llama3"
    assert ticks_in_flight > 0  # the loop ran the heartbeat while the caller waited


def test_escalate_runs_a_synchronous_check_off_the_loop(
    tmp_path: Path, backends: Backends, server: ChaosServer
) -> None:
    backends.call(lambda: server.script("llama3", ["def add(a, b) return a + b"]))
    backends.call(lambda: server.script("qwen", ["def add(a, b): return a + b"]))
    cfg = msgspec.structs.replace(
        make_config(tmp_path, server),
        roles={
            "generator": RoleConfig(models=("llama3",)),
            "escalation": RoleConfig(models=("qwen",)),
        },
    )
    checked_on: list[str] = []

    def compiles(code: str) -> CheckResult:
        checked_on.append(threading.current_thread().name)
        try:
            compile(code, "<candidate>", "exec")
        except SyntaxError as exc:
            return CheckResult(ok=False, error=f"SyntaxError: {exc.msg}")
        return CheckResult(ok=True)

    with ThreadedRuntime.start(cfg) as rt:
        result = rt.escalate(goal="write add(a, b)", check=compiles, max_attempts=2).get(timeout=10)
        loop_name = rt.loop_thread.name
    assert result.ok and result.succeeded_on == 1
    assert len(checked_on) == 2 and loop_name not in checked_on


# --- forgotten runtimes ----------------------------------------------------------------


def test_a_dropped_runtime_stops_its_loop_thread(tmp_path: Path, server: ChaosServer) -> None:
    rt = ThreadedRuntime.start(make_config(tmp_path, server))
    thread = rt.loop_thread
    del rt
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


FORGETFUL = """
import asyncio, sys, threading
from runtime import EndpointConfig, EventLogConfig, ModelConfig, RuntimeConfig, ThreadedRuntime
from runtime import configure_logging
from runtime.testing import ChaosServer

configure_logging(stream=sys.stdout, json=True)  # the library alone prints nothing
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
server = ChaosServer(["llama3"])
asyncio.run_coroutine_threadsafe(server.start(), loop).result()
cfg = RuntimeConfig(
    endpoints=(EndpointConfig(name="a", url=server.url),),
    models=(ModelConfig(name="llama3", deployments=("a",)),),
    event_log=EventLogConfig(path=sys.argv[1]),
)
RT = ThreadedRuntime.start(cfg)  # a module global, never stopped
MESSAGES = [{"role": "user", "content": "hi"}]

def say(who):  # one write per line, on stderr: the log lines go to stdout
    sys.stderr.write(f"{who} {RT.chat(MESSAGES, model='llama3').get(timeout=10).model}\\n")

def worker():
    say("worker")
    threading.main_thread().join()  # outlive the main thread, then call again
    say("after main")

threading.Thread(target=worker).start()
say("main")
"""


def test_a_forgotten_runtime_serves_its_threads_then_lets_the_process_exit(
    tmp_path: Path,
) -> None:
    log = tmp_path / "forgotten.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", FORGETFUL, str(log)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    printed = sorted(done.stderr.splitlines())
    assert printed == ["after main llama3", "main llama3", "worker llama3"]
    assert "runtime.threaded.stopped_at_exit" in done.stdout  # configured in FORGETFUL
    succeeded = asyncio.run(read_events(log, RequestSucceeded))  # flushed on the way out
    assert len(succeeded) == 3
