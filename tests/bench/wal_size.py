"""WAL size benchmark: the ``-wal`` file's high-water mark and the append throughput
under sustained load.

Run: ``python -m tests.bench.wal_size [--seconds S] [--appenders N] [--quick]``.

Two workloads, each for ``--seconds`` on a fresh log in one temporary directory:

1. concurrent: ``--appenders`` tasks (200) each appending single events of ~400 bytes
   to a fresh stream in a loop (the runtime's pattern under load: group commits of up
   to 200 rows).
2. one commit per append: one task appending and awaiting each event (the runtime's
   pattern at low traffic: every request its own small commit, each rewriting a few
   whole 4 KiB pages in the WAL).

For each it prints events/s, the process CPU seconds per 10,000 events, the WAL's
high-water mark (sampled every 5 ms and after every append round) and its size one
``CHECKPOINT_IDLE`` after the load stopped, with PASS/MISS against a 16 MiB target for
the high-water mark. Nothing is asserted; ``tests/bench/test_wal_size_smoke.py`` runs it
for a moment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from events._codec import EventRegistry
from events._sqlite import SqliteEventLog
from events._system import ActorFailed

TARGET_BYTES = 16 * 1024 * 1024
"""The WAL's high-water mark should stay under this (SQLite's own default lets it reach
~40 MB: ``WAL_AUTOCHECKPOINT_PAGES``)."""
SETTLE = 1.5
"""Seconds after the load before the WAL's size is read again (an idle log truncates it)."""

REGISTRY = EventRegistry([ActorFailed])


def event(n: int) -> ActorFailed:
    """~400 bytes that do not compress (the log's codec packs repetitive payloads)."""
    noise = random.Random(n).randbytes(200).hex()
    return ActorFailed(actor=f"a{n % 997}", error_type="E", message=noise, failures_in_window=1)


def wal_size(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        return 0


@dataclass
class Result:
    label: str
    events: int
    seconds: float
    cpu: float
    high: int
    settled: int

    def lines(self) -> list[str]:
        mib = 1024 * 1024
        verdict = "PASS" if self.high <= TARGET_BYTES else "MISS"
        return [
            f"{self.label}",
            f"  events/s            {self.events / self.seconds:>12,.0f}  ({self.events:,} events)",
            f"  CPU s / 10k events  {self.cpu / self.events * 10_000:>12.3f}",
            f"  WAL high-water      {self.high / mib:>12.2f} MiB  "
            f"(target <= {TARGET_BYTES / mib:.0f} MiB) {verdict}",
            f"  WAL after {SETTLE} s idle {self.settled / mib:>10.2f} MiB",
        ]


class Sampler:
    """Samples the WAL's size every 5 ms (and whenever ``sample()`` is called)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.high = 0

    def sample(self) -> None:
        self.high = max(self.high, wal_size(self.path))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.005)


async def measure(
    label: str,
    path: Path,
    seconds: float,
    load: Callable[[SqliteEventLog, float, Sampler], Awaitable[int]],
) -> Result:
    log = await SqliteEventLog.open(path, registry=REGISTRY)
    sampler = Sampler(path)
    sampling = asyncio.get_running_loop().create_task(sampler.run())
    try:
        cpu, started = time.process_time(), time.perf_counter()
        events = await load(log, time.perf_counter() + seconds, sampler)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await asyncio.sleep(SETTLE)  # a benchmark of the idle behaviour: wall time is the point
        sampler.sample()
        settled = wal_size(path)
    finally:
        sampling.cancel()
        await log.close()
    return Result(label, events, elapsed, cpu, sampler.high, settled)


def concurrent(appenders: int) -> Callable[[SqliteEventLog, float, Sampler], Awaitable[int]]:
    async def load(log: SqliteEventLog, until: float, sampler: Sampler) -> int:
        counts = [0] * appenders

        async def appender(k: int) -> None:
            n = k
            while time.perf_counter() < until:
                await log.append(f"request/{n:012x}", [event(n)])
                counts[k] += 1
                n += appenders
            sampler.sample()

        await asyncio.gather(*(appender(k) for k in range(appenders)))
        return sum(counts)

    return load


async def sequential(log: SqliteEventLog, until: float, sampler: Sampler) -> int:
    n = 0
    while time.perf_counter() < until:
        await log.append(f"request/{n:012x}", [event(n)])
        n += 1
        sampler.sample()
    return n


async def main(seconds: float, appenders: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            await measure(
                f"1. concurrent: {appenders} appenders, {seconds:g} s",
                Path(tmp) / "concurrent.sqlite3",
                seconds,
                concurrent(appenders),
            ),
            await measure(
                f"2. one commit per append, {seconds:g} s",
                Path(tmp) / "sequential.sqlite3",
                seconds,
                sequential,
            ),
        ]
    for result in results:
        print("\n".join(result.lines()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load per workload")
    parser.add_argument("--appenders", type=int, default=200, help="concurrent appenders")
    parser.add_argument("--quick", action="store_true", help="a moment of load: a smoke test")
    args = parser.parse_args()
    asyncio.run(main(0.5 if args.quick else args.seconds, args.appenders))
