"""One writer of the quota benchmark: a Runtime of its own, in a process of its own.

``python -m tests.bench._quota_worker --backend URL --log PATH_OR_URL --requests K
--concurrency C [--limit N]`` starts a Runtime on the shared log, warms it up, prints
``ready``, waits for a line on stdin (so every writer starts its load at once), runs K
``Runtime.chat`` calls from C workers and prints one JSON line: every latency (seconds),
the process CPU time of the run, and the quota actor's counters (``conflicts``: its
reservations another writer's commit overtook).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import msgspec

from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    QuotaConfig,
    QuotaUnavailable,
    Runtime,
    RuntimeConfig,
    configure_logging,
)

MODEL = "llama3"
MESSAGES = [{"role": "user", "content": "say something short"}]
WARM_UP = 20


class Result(msgspec.Struct, frozen=True):
    """What one writer measured."""

    latencies: list[float]
    cpu_s: float
    wall_s: float
    conflicts: int
    reserved: int
    refused: int
    unavailable: int
    """Calls refused with ``QuotaUnavailable`` (the shared ledger too contended)."""


def config(backend: str, log: str, limit: int | None) -> RuntimeConfig:
    """One endpoint, one model, the shared log; a daily request limit if ``limit``."""
    where = EventLogConfig(url=log) if log.startswith("postgresql://") else EventLogConfig(path=log)
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="local", url=backend, max_concurrency=64),),
        models=(ModelConfig(name=MODEL, deployments=("local",)),),
        event_log=where,
        health=HealthConfig(check_interval_seconds=0),
        quota=QuotaConfig(daily_requests=limit),
    )


async def run(args: argparse.Namespace) -> Result:
    """Start, warm up, say ready, wait for the go, measure; the result."""
    loop = asyncio.get_running_loop()
    async with Runtime.from_config(config(args.backend, args.log, args.limit)) as rt:
        for _ in range(WARM_UP):
            await rt.chat(MESSAGES, model=MODEL)
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        latencies: list[float] = []
        left, unavailable = args.requests, 0

        async def worker() -> None:
            nonlocal left, unavailable
            while left > 0:
                left -= 1
                started = time.perf_counter()
                try:
                    await rt.chat(MESSAGES, model=MODEL)
                except QuotaUnavailable:
                    unavailable += 1
                latencies.append(time.perf_counter() - started)

        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        await rt.flush_events()
        quota = rt.statistics().quota
    return Result(
        latencies=latencies,
        cpu_s=cpu,
        wall_s=wall,
        conflicts=quota.conflicts,
        reserved=quota.reserved,
        refused=quota.refused,
        unavailable=unavailable,
    )


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench._quota_worker")
    parser.add_argument("--backend", required=True, help="the ChaosServer URL")
    parser.add_argument("--log", required=True, help="SQLite path or postgresql:// URL")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--limit", type=int, default=None, help="daily request limit")
    return parser.parse_args(argv)


def main() -> int:
    configure_logging(level="warning")
    result = asyncio.run(run(_parse()))
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
