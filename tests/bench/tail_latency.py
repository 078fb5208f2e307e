"""How soon another process's event reaches this runtime's log hooks (the tail).

Run: ``python -m tests.bench.tail_latency [--events N] [--postgres]``.

A writer *process* appends one ``HealthReset`` every 30 ms (its ``at`` is the wall
clock at the append) to a shared log; this process has the same log open with a
commit hook, as a runtime does, and notes when each foreign event arrives: the delay
from the writer's append call to the hook, which covers the writer's commit and this
side's tail (SQLite: a ``PRAGMA data_version`` check every ``tail_interval``, 20 ms by
default; PostgreSQL: LISTEN/NOTIFY). Target on SQLite: p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from events import CommittedBatch, HealthReset, SqliteEventLog
from tests._postgres import PostgresCluster, find_binaries

GAP = 0.03
TARGET = 0.100


async def open_log(target: str) -> Any:
    if target.startswith("postgresql://"):
        from events import PostgresEventLog

        return await PostgresEventLog.open(target)
    return await SqliteEventLog.open(Path(target))


async def write(target: str, count: int) -> None:
    """The writer process: ``count`` appends, ``GAP`` apart."""
    log = await open_log(target)
    try:
        for n in range(count):
            event = HealthReset(deployment=f"m@e{n}", at=time.time(), reason="bench")
            await log.append("health/m@bench", [event])
            await asyncio.sleep(GAP)
    finally:
        await log.close()


async def measure(target: str, count: int) -> list[float]:
    """Delays (seconds) from each foreign append to this side's hook."""
    log = await open_log(target)
    delays: list[float] = []
    done = asyncio.Event()

    def hook(batch: CommittedBatch) -> None:
        now = time.time()
        for stored in batch.events:
            if batch.foreign and isinstance(stored.event, HealthReset):
                delays.append(now - stored.event.at)
        if len(delays) >= count:
            done.set()

    log.on_commit(hook)
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.tail_latency", "--writer", target, str(count)
    )
    try:
        await asyncio.wait_for(done.wait(), timeout=60 + count * GAP * 4)
    finally:
        await asyncio.wait_for(writer.wait(), timeout=60)
        await log.close()
    return delays


def report(name: str, delays: list[float]) -> None:
    ordered = sorted(delays)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    verdict = "PASS" if p99 / 1000 < TARGET else "MISS"
    worst = ordered[-1] * 1000
    print(
        f"{name:<11} events {len(ordered):>5}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
        f"max {worst:6.1f} ms   target p99 < {TARGET * 1000:.0f} ms: {verdict}"
    )


async def main(count: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "shared.sqlite3")
        await (await SqliteEventLog.open(Path(path))).close()  # created before the writer
        report("sqlite", await measure(path, count))
    if postgres:
        binaries = find_binaries()
        if binaries is None:
            print("postgresql: no initdb/postgres binaries found (apt-get install postgresql)")
            return
        cluster = PostgresCluster(binaries)
        await asyncio.to_thread(cluster.start)
        try:
            report("postgresql", await measure(cluster.dsn(), count))
        finally:
            await asyncio.to_thread(cluster.stop)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away cluster")
    parser.add_argument("--writer", nargs=2, metavar=("LOG", "COUNT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.writer:
        asyncio.run(write(args.writer[0], int(args.writer[1])))
    else:
        asyncio.run(main(args.events, args.postgres))
