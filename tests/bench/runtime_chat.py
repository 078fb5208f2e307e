"""Runtime.chat and Runtime.stream against direct httpx and aiohttp on one loopback backend.

Run: ``python -m tests.bench.runtime_chat [--requests N] [--rounds R] [--concurrency
1,8,32,128] [--modes plain,stream] [--loop asyncio|uvloop] [--transport aiohttp|httpx]
[--markdown] [--quick] [--in-process] [--profile]``.

Four sides post the same Ollama ``/api/chat`` request to the same ChaosServer and decode
the reply (``tests.bench._chat_sides``): direct httpx, direct aiohttp, the runtime's
endpoint actor with its transport alone, and ``Runtime.chat`` / ``Runtime.stream`` with
everything on (model validation, planning, health, quota, one event batch per request
into a real SQLite log). For each mode (``"stream": false`` / ``true``, every NDJSON line
read) and concurrency, rounds alternate the sides and the median round counts
(``tests.bench._chat_table``): req/s and process CPU us per request of each side, the
ratios Runtime/httpx and Runtime/aiohttp, and the runtime's own CPU (Runtime minus its
transport alone), with the targets of issue 17 marked PASS or MISS. Then the event log:
its counters (background appends, failures, waits for room) and, read back from the
file after the run, whether every runtime request has its ``RequestStarted`` and its
terminal event (``tests.bench._chat_log``): 0 events dropped. Also the cost of an inline
ask, of a cached model validation and of refusing an unknown model.

By default the backend runs in its own process (as a real LLM server would), so the
measured loop does only client work; ``--in-process`` shares one event loop between
server and clients. ``--profile`` runs the runtime side at concurrency 1 and 32 under
cProfile (CPU time) and prints where it goes, by area (``tests.bench._profile_areas``).
``--markdown`` also prints the table in Markdown.
Progress goes to stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from actors.catalog import ensure_served
from actors.router import GetRouterState
from runtime import ModelNotFoundError, Runtime, configure_logging
from runtime.testing import ChaosServer
from tests._ports import free_port
from tests.bench._chat_log import check_log, print_log_check
from tests.bench._chat_sides import MESSAGES, MODEL, open_sides, runtime_config, transport_in_force
from tests.bench._chat_table import Row, markdown_table, measure, measure_row, print_row
from tests.bench._profile_areas import print_areas

CONCURRENCY = (1, 8, 32, 128)
MODES = ("plain", "stream")
VALIDATION_TARGET_MS = 0.1
INLINE_ASK_TARGET_US = 5.0
ROUNDS = 3
WARM_UP = 200


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


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def compare(url: str, folder: Path, args: argparse.Namespace) -> tuple[bool, bool]:
    """Every mode and concurrency, the log check and the small costs; (timing, log) ok."""
    log_path = folder / "events.sqlite3"
    rows: list[Row] = []
    ok = True
    async with Runtime.from_config(runtime_config(url, log_path, args.transport)) as rt:
        print(f"runtime endpoint transport: {transport_in_force(rt)}")
        async with open_sides(rt, url) as sides_of:
            for mode in args.modes:
                sides = sides_of(mode == "stream")
                for call in sides.calls.values():  # warm up connections and caches
                    await measure(call, 32, WARM_UP)
                for concurrency in args.concurrency:
                    row = await measure_row(
                        mode, sides.calls, concurrency, args.requests, args.rounds, _progress
                    )
                    print_row(row)
                    ok &= all(row.verdicts().values())
                    rows.append(row)
            request_ids = sides.request_ids
        await rt.flush_events()
        pipeline = rt.statistics().event_log
        writer = getattr(rt._running().log, "statistics", None)
        committed = getattr(writer(), "events_committed", None) if writer else None
        ok &= await inline_ask_cost(rt)
        ok &= await validation_cost(rt)
        await refusal_cost(rt)
        transport = transport_in_force(rt)
    log_ok = print_log_check(pipeline, committed, check_log(log_path, request_ids))
    if args.markdown:
        print()
        print(markdown_table(rows, _note(args, transport)))
    return ok, log_ok


def _note(args: argparse.Namespace, transport: str) -> str:
    where = "in this process" if args.in_process else "in a child process"
    return (
        f"Median of {args.rounds} alternating rounds of {args.requests} requests per side "
        f"on a 2-core machine, loop {args.loop}, backend (ChaosServer) {where}, the "
        f"runtime's endpoint transport {transport}. CPU is this process's (all threads) "
        "per request; the runtime's own CPU is Runtime minus its transport alone (clearest "
        "at low concurrency: where the connection pool is congested, the two sides queue in "
        "different places and the difference is noise)."
    )


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


async def profile(url: str, folder: Path, requests: int, transport: str | None) -> None:
    """The runtime side under cProfile at concurrency 1 and 32: the top functions and
    the own time by area (our packages, each library), per request."""
    config = runtime_config(url, folder / "profile" / "events.sqlite3", transport)
    async with Runtime.from_config(config) as rt:

        async def call() -> object:
            return await rt.chat(MESSAGES, model=MODEL)

        await measure(call, 32, 200)
        for concurrency in (1, 32):
            profiler = cProfile.Profile(time.process_time)  # CPU, not waits
            profiler.enable()
            await measure(call, concurrency, requests)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            print(f"profile of Runtime.chat at concurrency {concurrency}:")
            print_areas(stats, requests)
            print(out.getvalue())


async def main(args: argparse.Namespace) -> int:
    configure_logging(level="warning")
    where = "in this process" if args.in_process else "in a child process"
    print(
        f"backend: ChaosServer {where}; loop {args.loop}; {args.requests} requests per round, "
        f"{args.rounds} round(s); modes {','.join(args.modes)}; concurrency "
        f"{','.join(map(str, args.concurrency))}"
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "profile").mkdir()
        async with backend(args.in_process) as url:
            ok, log_ok = await compare(url, folder, args)
            if args.profile:
                await profile(url, folder, args.requests, args.transport)
    print(f"run took {time.perf_counter() - began:.0f} s")
    if not log_ok:
        return 1
    return 0 if ok or args.quick else 1


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1,8,32,128")
    return values


def _modes(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    if not values or set(values) - set(MODES):
        raise argparse.ArgumentTypeError(f"{text!r}: give plain, stream or plain,stream")
    return values


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.runtime_chat")
    parser.add_argument("--requests", type=int, help="requests per round (1000; --quick 200)")
    parser.add_argument("--rounds", type=int, help=f"rounds per side ({ROUNDS}; --quick 1)")
    parser.add_argument(
        "--concurrency", type=_ints, default=CONCURRENCY, help="workers, e.g. 1,8,32,128"
    )
    parser.add_argument("--modes", type=_modes, default=MODES, help="plain,stream (both)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--transport",
        choices=("aiohttp", "httpx"),
        help="the endpoint transport (where EndpointConfig has that setting)",
    )
    parser.add_argument("--markdown", action="store_true", help="also a Markdown table")
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    parser.add_argument("--in-process", action="store_true", help="server in this loop")
    parser.add_argument("--profile", action="store_true", help="cProfile the runtime side")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 200 if args.quick else 1_000
    if args.rounds is None:
        args.rounds = 1 if args.quick else ROUNDS
    return args


def run(args: argparse.Namespace, main_: Coroutine[Any, Any, int]) -> int:
    """Run ``main_`` on the loop ``args.loop`` names."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main_)


if __name__ == "__main__":
    arguments = _parse()
    sys.exit(run(arguments, main(arguments)))
