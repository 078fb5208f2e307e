"""Runtime.chat against a plain httpx client on the same loopback backend.

Run: ``python -m tests.bench.runtime_chat [--requests N] [--quick] [--in-process]
[--profile]``.

Both sides post the same Ollama ``/api/chat`` request to the same ChaosServer and decode
the JSON reply; the plain side is an ``httpx.AsyncClient`` with the same connection
limit, the runtime side is ``Runtime.chat(messages, model=...)`` with everything on:
model validation, planning, health, one event batch per request into a real SQLite log.
Measured side by side in one run, alternating rounds (the median round counts), at
concurrency 1 and 32: throughput ratio (target >= 0.9) and the latency the runtime adds
at p50 and p99. Also prints the cost of a cached model validation (target < 0.1 ms)
and of refusing a model the backend does not serve (no target).

By default the backend runs in its own process (as a real LLM server would), so the
measured loop does only client work and the ratio is the strict one; ``--in-process``
shares one event loop between server and clients. ``--profile`` runs the runtime side
at concurrency 32 under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec

from actors.catalog import ensure_served
from actors.endpoint import ChatRequest, Message, call_chat
from actors.router import GetRouterState
from runtime import (
    EndpointConfig,
    EventLogConfig,
    ModelConfig,
    ModelNotFoundError,
    Runtime,
    RuntimeConfig,
    configure_logging,
)
from runtime.testing import ChaosServer
from tests._ports import free_port

MODEL = "llama3"
MESSAGES = [{"role": "user", "content": "say something short"}]
BODY = msgspec.json.encode({"model": MODEL, "messages": MESSAGES, "stream": False})
CONCURRENCY = (1, 32)
TARGET_RATIO = 0.9
VALIDATION_TARGET_MS = 0.1
INLINE_ASK_TARGET_US = 5.0
ROUNDS = 5

Call = Callable[[], Awaitable[object]]


class Round(msgspec.Struct, frozen=True):
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    """Process CPU time (all threads: the event loop and SQLite's) per request."""


@asynccontextmanager
async def backend(in_process: bool) -> AsyncIterator[str]:
    """A ChaosServer serving MODEL: in this process, or in a child process."""
    if in_process:
        async with ChaosServer([MODEL]) as server:
            yield server.url
        return
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime.testing",
        "--port",
        str(port),
        "--models",
        MODEL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(200):
                try:
                    await probe.get(f"{url}/api/version")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 10)


async def measure(call: Call, concurrency: int, requests: int) -> Round:
    """Run ``requests`` calls from ``concurrency`` workers; throughput and latencies."""
    latencies: list[float] = []
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    began, cpu_began = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    ordered = sorted(latencies)
    return Round(
        cpu_us=1e6 * cpu / len(ordered),
        throughput=len(ordered) / elapsed,
        p50_ms=1000 * ordered[len(ordered) // 2],
        p99_ms=1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )


def _median(rounds: list[Round]) -> Round:
    by_throughput = sorted(rounds, key=lambda r: r.throughput)
    middle = by_throughput[len(by_throughput) // 2]
    return Round(
        throughput=middle.throughput,
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        cpu_us=statistics.median(r.cpu_us for r in rounds),
    )


def _config(url: str, folder: Path) -> RuntimeConfig:
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="local", url=url, max_concurrency=64),),
        models=(ModelConfig(name=MODEL, deployments=("local",)),),
        event_log=EventLogConfig(path=str(folder / "events.sqlite3")),
    )


async def compare(url: str, folder: Path, requests: int, rounds: int) -> bool:
    decoder = msgspec.json.Decoder()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    ok = True
    async with (
        httpx.AsyncClient(base_url=url, limits=limits, trust_env=False) as plain,
        Runtime.from_config(_config(url, folder)) as rt,
    ):

        async def plain_call() -> object:
            response = await plain.post("/api/chat", content=BODY)
            response.raise_for_status()
            return decoder.decode(response.content)["message"]["content"]

        async def runtime_call() -> object:
            return (await rt.chat(MESSAGES, model=MODEL)).content

        # The endpoint actor and its transport alone, for the breakdown.
        endpoint = rt._running().refs.endpoints["local"]
        request = ChatRequest(
            model=MODEL, messages=(Message(role="user", content=MESSAGES[0]["content"]),)
        )

        async def transport_call() -> object:
            return (await call_chat(endpoint, request)).result.content

        calls = (plain_call, transport_call, runtime_call)
        for call in calls:  # warm up connections and caches
            await measure(call, 32, 200)
        for concurrency in CONCURRENCY:
            ok &= await _compare_at(calls, concurrency, requests, rounds)
        await rt.flush_events()
        stats = rt.statistics()
        print(
            f"events committed in the background: {stats.event_log.background_events} in "
            f"{stats.event_log.background_appends} appends, failures: "
            f"{stats.event_log.failed_appends}, waits for room: {stats.event_log.room_waits}"
        )
        ok &= await inline_ask_cost(rt)
        ok &= await validation_cost(rt)
        await refusal_cost(rt)
    return ok


async def _compare_at(
    calls: tuple[Call, Call, Call], concurrency: int, requests: int, rounds: int
) -> bool:
    results: tuple[list[Round], list[Round], list[Round]] = ([], [], [])
    for _ in range(rounds):
        for call, kept in zip(calls, results, strict=True):
            kept.append(await measure(call, concurrency, requests))
    plain, transport, ours = (_median(r) for r in results)
    ratio = ours.throughput / plain.throughput
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(
        f"concurrency {concurrency:>2}: httpx {plain.throughput:8.0f} req/s "
        f"(p50 {plain.p50_ms:.2f} ms, p99 {plain.p99_ms:.2f} ms) | Runtime.chat "
        f"{ours.throughput:8.0f} req/s (p50 {ours.p50_ms:.2f} ms, p99 {ours.p99_ms:.2f} ms)"
    )
    print(
        f"  added latency p50 {ours.p50_ms - plain.p50_ms:+.3f} ms, "
        f"p99 {ours.p99_ms - plain.p99_ms:+.3f} ms; throughput ratio {ratio:.3f} "
        f"(target >= {TARGET_RATIO}) {verdict}"
    )
    print(
        f"  breakdown: endpoint actor + transport alone {transport.throughput:8.0f} req/s = "
        f"{transport.throughput / plain.throughput:.3f} of httpx; Runtime.chat = "
        f"{ours.throughput / transport.throughput:.3f} of that"
    )
    print(
        f"  CPU per request: httpx {plain.cpu_us:.0f} us, Runtime.chat {ours.cpu_us:.0f} us "
        f"(+{ours.cpu_us - plain.cpu_us:.0f} us, x{ours.cpu_us / plain.cpu_us:.2f})"
    )
    return ratio >= TARGET_RATIO


async def inline_ask_cost(rt: Runtime) -> bool:
    """Cost of one ask to an idle actor with a synchronous handler (runs inline)."""
    router = rt._running().refs.router  # the bench may look inside; users never need to
    message = GetRouterState()
    n = 100_000
    before = router.statistics().inline
    began = time.perf_counter()
    for _ in range(n):
        await router.ask(message)
    per_ask_us = (time.perf_counter() - began) / n * 1e6
    inline = router.statistics().inline - before
    verdict = "PASS" if per_ask_us <= INLINE_ASK_TARGET_US and inline == n else "MISS"
    print(
        f"inline ask (RouterActor, GetRouterState): {per_ask_us:.2f} us per ask, "
        f"{inline} of {n} inline (target <= {INLINE_ASK_TARGET_US:g} us) {verdict}"
    )
    return verdict == "PASS"


async def validation_cost(rt: Runtime) -> bool:
    """Cost of the cached check that the model is served (the hit path, no I/O)."""
    catalog = rt._running().refs.catalog
    endpoints = {"local": rt.config.endpoint("local").url}
    n = 100_000
    began = time.perf_counter()
    for _ in range(n):
        await ensure_served(catalog, MODEL, endpoints)
    per_call_ms = (time.perf_counter() - began) / n * 1000
    verdict = "PASS" if per_call_ms < VALIDATION_TARGET_MS else "MISS"
    print(
        f"cached model validation: {per_call_ms * 1000:.2f} us per call "
        f"(target < {VALIDATION_TARGET_MS} ms) {verdict}"
    )
    return per_call_ms < VALIDATION_TARGET_MS


async def refusal_cost(rt: Runtime) -> None:
    """Cost of refusing a model the endpoint does not serve, from its cached list.

    Informational (no verdict): the tests check that the refusal sends no chat request;
    how fast it is, on this machine, is printed here rather than asserted there.
    """
    catalog = rt._running().refs.catalog
    endpoints = {"local": rt.config.endpoint("local").url}
    n = 10_000
    began = time.perf_counter()
    for _ in range(n):
        try:
            await ensure_served(catalog, "not-served", endpoints)
        except ModelNotFoundError:
            pass
        else:  # pragma: no cover - the backend serves only MODEL
            raise AssertionError("'not-served' was found")
    per_call_us = (time.perf_counter() - began) / n * 1e6
    print(f"unknown model refused from the cached list: {per_call_us:.2f} us per call")


async def profile(url: str, folder: Path, requests: int) -> None:
    async with Runtime.from_config(_config(url, folder / "profile")) as rt:

        async def call() -> object:
            return await rt.chat(MESSAGES, model=MODEL)

        await measure(call, 32, 200)
        profiler = cProfile.Profile()
        profiler.enable()
        await measure(call, 32, requests)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


async def main(args: argparse.Namespace) -> int:
    configure_logging(level="warning")
    requests = 300 if args.quick else args.requests
    rounds = 1 if args.quick else ROUNDS
    where = "in this process" if args.in_process else "in a child process"
    print(f"backend: ChaosServer {where}; {requests} requests per round, {rounds} round(s)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "profile").mkdir()
        async with backend(args.in_process) as url:
            ok = await compare(url, folder, requests, rounds)
            if args.profile:
                await profile(url, folder, requests)
    return 0 if ok or args.quick else 1


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.runtime_chat")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per round")
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    parser.add_argument("--in-process", action="store_true", help="server in this loop")
    parser.add_argument("--profile", action="store_true", help="cProfile the runtime side")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
