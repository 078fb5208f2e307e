"""Log size benchmark: bytes of SQLite log per successful request through ``Runtime.chat``.

Run: ``python -m tests.bench.log_size [--requests N]`` (default 2,000).

One runtime with a real SQLite log, one ChaosServer without faults or quota limits; N
sequential chats. Then the runtime closes, the WAL is checkpointed (TRUNCATE) and the
file measured: ``page_count * page_size`` over N, events per request, and the split by
table and index from ``dbstat``. Target: <= 800 bytes per request (printed with
PASS/MISS; nothing is asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import msgspec

from runtime import EventLogConfig, Runtime
from runtime.testing import ChaosServer
from tests.runtime._support import config

TARGET = 800.0
"""Bytes of log per successful request."""


class Measured(msgspec.Struct, frozen=True, kw_only=True):
    """What one run measured."""

    requests: int
    events: int
    bytes: int
    seconds: float
    split: dict[str, int]
    """Bytes per table or index (``dbstat``; empty if SQLite lacks it)."""

    @property
    def bytes_per_request(self) -> float:
        return self.bytes / self.requests

    @property
    def events_per_request(self) -> float:
        return self.events / self.requests


async def run(requests: int, directory: Path) -> Measured:
    """Make ``requests`` chats against a ChaosServer, logging to a file in ``directory``."""
    path = directory / "log.sqlite3"
    async with ChaosServer() as server:
        cfg = config(directory, {"local": server}, {"llama3": ("local",)})
        cfg = msgspec.structs.replace(cfg, event_log=EventLogConfig(path=str(path)))
        started = time.perf_counter()
        async with Runtime(cfg) as rt:
            for i in range(requests):
                await rt.chat([{"role": "user", "content": f"hello {i}"}], model="llama3")
        seconds = time.perf_counter() - started
    return measure(path, requests, seconds)


def measure(path: Path, requests: int, seconds: float) -> Measured:
    """Checkpoint the WAL into the file, then measure it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        size = conn.execute(
            "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"
        ).fetchone()[0]
        try:
            split = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        except sqlite3.Error:
            split = {}
    finally:
        conn.close()
    return Measured(
        requests=requests, events=int(events), bytes=int(size), seconds=seconds, split=split
    )


def report(measured: Measured) -> str:
    """The lines the benchmark prints."""
    per = measured.bytes_per_request
    verdict = "PASS" if per <= TARGET else "MISS"
    lines = [
        f"requests          {measured.requests:,} in {measured.seconds:.1f} s",
        f"events/request    {measured.events_per_request:.2f}",
        f"bytes/request     {per:,.0f}  (target <= {TARGET:.0f})  {verdict}",
        f"file              {measured.bytes:,} bytes (after a TRUNCATE checkpoint)",
    ]
    if measured.split:
        snapshots = sum(v for k, v in measured.split.items() if "snapshots" in k)
        rest = (measured.bytes - snapshots) / measured.requests
        lines.append(
            f"without snapshots {rest:,.0f} bytes/request (the events alone; the projections' "
            "snapshots stay until a compaction deletes the older ones)"
        )
        lines.append("by table/index    bytes  (per request)")
        for name, size in sorted(measured.split.items(), key=lambda item: -item[1]):
            lines.append(f"  {name:32} {size:>10,}  ({size / measured.requests:,.0f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="log-size-bench-") as directory:
        measured = asyncio.run(run(args.requests, Path(directory)))
    print(report(measured))


if __name__ == "__main__":
    main()
