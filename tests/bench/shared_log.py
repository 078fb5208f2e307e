"""Append and replay throughput of the PostgreSQL log next to the SQLite log, one run.

Run: ``python -m tests.bench.shared_log [--events N] [--no-sync]``.

Starts its own throw-away PostgreSQL cluster (``tests._postgres``, the fixture's helper)
and measures, on the same machine, for ``SqliteEventLog`` (durability ``normal``) and
``PostgresEventLog``:

- awaited ``append`` of one event from 1 task, and from 32 concurrent tasks (group
  commit shares one transaction among the appends waiting together);
- background ``append_nowait`` (routine, 50 ms linger) then ``flush``;
- replay: ``read()`` of everything, decoded.

By default the cluster runs with PostgreSQL's defaults (``fsync=on``,
``synchronous_commit=on``: a commit is flushed to disk before it is acknowledged, as
SQLite ``full`` would); ``--no-sync`` turns fsync and synchronous commits off.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from events import Event, EventRegistry, PostgresEventLog, SqliteEventLog
from tests._postgres import PostgresCluster, find_binaries

CONCURRENCY = 32


class Tick(Event, frozen=True, kw_only=True, tag="bench.Tick"):
    """A small event, like a request's routine events."""

    n: int
    deployment: str = "llama3@local"
    latency: float = 0.123


REGISTRY = EventRegistry([Tick])


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure(open_log: Callable[[], Awaitable[Any]], events: int) -> dict[str, float]:
    """Events per second for each workload on a fresh log from ``open_log``."""
    log = await open_log()
    results: dict[str, float] = {}
    try:
        single = max(events // 10, 100)

        async def one_task() -> None:
            for n in range(single):
                await log.append("single", [Tick(n=n)])

        results["append, 1 task"] = single / await _timed(one_task)

        async def many_tasks() -> None:
            per_task = events // CONCURRENCY

            async def task(t: int) -> None:
                for n in range(per_task):
                    await log.append(f"s{t}", [Tick(n=n)])

            await asyncio.gather(*(task(t) for t in range(CONCURRENCY)))

        per = events // CONCURRENCY * CONCURRENCY
        results[f"append, {CONCURRENCY} tasks"] = per / await _timed(many_tasks)

        async def background() -> None:
            for n in range(events):
                if n % 1000 == 0:
                    await log.wait_for_room()
                log.append_nowait(f"b{n % 50}", [Tick(n=n)])
            await log.flush()

        results["append_nowait + flush"] = events / await _timed(background)
        total = await log.last_position()

        async def replay() -> None:
            count = 0
            async for _ in log.read():
                count += 1
            assert count == total, (count, total)

        results[f"replay ({total} events, decoded)"] = total / await _timed(replay)
    finally:
        await log.close()
    return results


async def run(events: int, sync: bool) -> None:
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("PostgreSQL binaries not found; install Debian's postgresql package")
    settings = {} if sync else {"fsync": "off", "synchronous_commit": "off"}
    cluster = PostgresCluster(binaries, settings)
    await asyncio.to_thread(cluster.start)
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "events.sqlite3"
            sqlite = await measure(
                lambda: SqliteEventLog.open(path, registry=REGISTRY, durability="normal"), events
            )
        postgres = await measure(
            lambda: PostgresEventLog.open(cluster.dsn(), registry=REGISTRY), events
        )
    finally:
        await asyncio.to_thread(cluster.stop)
    mode = "fsync on, synchronous_commit on" if sync else "fsync off"
    print(f"events per second ({events} events a workload; PostgreSQL: {mode})")
    print(f"{'workload':<36} {'SQLite (normal)':>16} {'PostgreSQL':>12} {'PG/SQLite':>10}")
    for name, value in sqlite.items():
        other = postgres[name]
        print(f"{name:<36} {value:>16,.0f} {other:>12,.0f} {other / value:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--no-sync", dest="sync", action="store_false")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.sync))


if __name__ == "__main__":
    main()
