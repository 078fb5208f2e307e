"""``python -m runtime.serve`` on asyncio's loop against the same server on uvloop.

Run: ``python -m tests.bench.serve_loop [--requests N] [--rounds R] [--concurrency 1,32]
[--stream]``.

A ChaosServer runs in a child process; two serve processes (``--loop asyncio`` and
``--loop uvloop``), each with its own SQLite log, route ``llama3`` to it. A client in
this process (aiohttp, 64 connections) drives N Ollama ``/api/chat`` requests through
each at every concurrency, alternating the servers round by round; per round it notes
the throughput and the serve process's CPU per request (``utime + stime`` of
``/proc/<pid>/stat`` before and after: every thread of it, the event loop's and
SQLite's). The median of the rounds counts. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec

from tests.bench.runtime_chat import backend

LOOPS = ("asyncio", "uvloop")
_TICK = os.sysconf("SC_CLK_TCK")
_START_S = 120.0


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def _config(folder: Path, backend_url: str, loop: str) -> Path:
    path = folder / f"{loop}.yaml"
    path.write_text(
        f"event_log:\n  path: {folder / f'{loop}-events.sqlite3'}\n"
        f"endpoints:\n  - name: local\n    url: {backend_url}\n    max_concurrency: 64\n"
        "models:\n  - name: llama3\n    deployments: [local]\n"
        "health:\n  check_interval_seconds: 0\n",
        encoding="utf-8",
    )
    return path


@contextlib.asynccontextmanager
async def serving(folder: Path, backend_url: str, loop: str) -> AsyncIterator[tuple[int, str]]:
    """A serve process on ``loop``; yields its pid and URL, and stops it afterwards."""
    environ = {k: v for k, v in os.environ.items() if k != "LLMRT_API_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.serve", "--config", str(_config(folder, backend_url, loop)),
        "--port", "0", "--loop", loop, "--log-level", "warning",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=environ,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), _START_S)).decode()
        if not line.startswith("serving on "):
            raise RuntimeError(f"serve --loop {loop} did not start: {line!r}")
        yield proc.pid, line.removeprefix("serving on ").strip()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 60)


class Round(msgspec.Struct, frozen=True):
    throughput: float
    cpu_us: float
    """The serve process's CPU per request."""


async def one_round(
    session: aiohttp.ClientSession, url: str, pid: int, body: bytes, c: int, n: int
) -> Round:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(f"{url}/api/chat", data=body) as response:
                response.raise_for_status()
                await response.read()

    cpu, began = _cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    elapsed, cpu = time.perf_counter() - began, _cpu_seconds(pid) - cpu
    return Round(throughput=n / elapsed, cpu_us=cpu / n * 1e6)


async def main(args: argparse.Namespace) -> None:
    body = msgspec.json.encode(
        {
            "model": "llama3",
            "messages": [{"role": "user", "content": "say something short"}],
            "stream": args.stream,
        }
    )
    print(
        f"serve --loop asyncio vs --loop uvloop; {args.requests} requests per round, "
        f"{args.rounds} rounds, stream {args.stream}; backend: ChaosServer in a child process"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with (
            backend(in_process=False) as backend_url,
            serving(folder, backend_url, "asyncio") as on_asyncio,
            serving(folder, backend_url, "uvloop") as on_uvloop,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
        ):
            servers = {"asyncio": on_asyncio, "uvloop": on_uvloop}
            for pid, url in servers.values():  # warm up
                await one_round(session, url, pid, body, 8, 200)
            for c in args.concurrency:
                kept: dict[str, list[Round]] = {loop: [] for loop in LOOPS}
                for number in range(args.rounds):
                    for loop in LOOPS if number % 2 == 0 else LOOPS[::-1]:
                        pid, url = servers[loop]
                        kept[loop].append(
                            await one_round(session, url, pid, body, c, args.requests)
                        )
                    print(f"  c={c}: round {number + 1}/{args.rounds}", file=sys.stderr)
                medians = {
                    loop: (
                        statistics.median(r.throughput for r in rounds),
                        statistics.median(r.cpu_us for r in rounds),
                    )
                    for loop, rounds in kept.items()
                }
                (a_rps, a_cpu), (u_rps, u_cpu) = medians["asyncio"], medians["uvloop"]
                print(
                    f"c={c:<3} asyncio {a_rps:6.0f} req/s, serve CPU {a_cpu:5.0f} us/req | "
                    f"uvloop {u_rps:6.0f} req/s, serve CPU {u_cpu:5.0f} us/req | "
                    f"uvloop/asyncio throughput x{u_rps / a_rps:.2f}, CPU x{u_cpu / a_cpu:.2f}"
                )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.serve_loop")
    parser.add_argument("--requests", type=int, default=1_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=lambda text: tuple(int(p) for p in text.split(",")),
        default=(1, 32),
        help="workers, e.g. 1,32",
    )
    parser.add_argument("--stream", action="store_true", help="NDJSON streams, read whole")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_parse()))
