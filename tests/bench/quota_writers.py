"""The quota path's added latency, with 1 and with 3 writers on one log.

Run: ``python -m tests.bench.quota_writers [--requests K] [--concurrency C] [--quick]
[--no-postgres]``.

Each writer is a process of its own (``tests.bench._quota_worker``) running a Runtime
against one ChaosServer backend process, on one shared log: a fresh SQLite file per row
and, when PostgreSQL's server binaries are installed, a fresh database of a throw-away
cluster (``tests._postgres``) per row. Every writer warms up, then all start together and
make K ``Runtime.chat`` calls from C workers. Rows come in pairs: without a limit (the
request's events are committed in the background), and with ``quota.daily_requests``
set far above the load, so every request reserves against the limit -- appended with
``expected_version`` on the ledger stream, a conflict (another writer went first) folded
and decided again -- and waits for that commit before the backend is called. Printed:
the latency percentiles over every writer's calls, process CPU per request (the event
loop and the log's threads), conflicts, calls refused with ``QuotaUnavailable`` (a
reservation overtaken too often: ``unavailable``) and what the limit adds at p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import msgspec

from tests._ports import free_port
from tests.bench._quota_worker import MODEL, Result

LIMIT = 1_000_000_000
"""Far above any load: every request reserves, none is refused."""
WRITERS = (1, 3)


class Row(msgspec.Struct, frozen=True):
    log: str
    writers: int
    limited: bool
    requests: int
    p50_ms: float
    p99_ms: float
    cpu_us: float
    throughput: float
    conflicts: int
    refused: int
    unavailable: int


@contextlib.asynccontextmanager
async def backend() -> AsyncIterator[str]:
    """A ChaosServer serving MODEL in a child process; its URL."""
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.testing", "--port", str(port), "--models", MODEL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(600):  # up to 30 s for the child to listen
                try:
                    await probe.get(f"{url}/api/version")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 30)


async def run_writers(
    url: str, log: str, writers: int, requests: int, concurrency: int, limit: int | None
) -> list[Result]:
    """Start ``writers`` worker processes on ``log``, start their load at once, collect."""
    command = [
        sys.executable, "-m", "tests.bench._quota_worker", "--backend", url, "--log", log,
        "--requests", str(requests), "--concurrency", str(concurrency),
    ]  # fmt: skip
    if limit is not None:
        command += ["--limit", str(limit)]
    procs = [
        await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(writers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if line.strip() != b"ready":
                raise RuntimeError(f"a writer did not start: {line!r} {await _errors(proc)}")
        for proc in procs:  # every writer is warm: go
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        results = []
        for proc in procs:
            out, err = await asyncio.wait_for(proc.communicate(), 600)
            if proc.returncode != 0:
                raise RuntimeError(f"a writer failed ({proc.returncode}): {err.decode()}")
            results.append(msgspec.json.decode(out.splitlines()[-1], type=Result))
        return results
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _errors(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.kill()
    _, err = await proc.communicate()
    return err.decode(errors="replace")[-2000:]


def summarize(kind: str, writers: int, limited: bool, results: list[Result]) -> Row:
    latencies = sorted(x for r in results for x in r.latencies)
    count = len(latencies)
    return Row(
        log=kind,
        writers=writers,
        limited=limited,
        requests=count,
        p50_ms=1000 * latencies[count // 2],
        p99_ms=1000 * latencies[min(count - 1, int(count * 0.99))],
        cpu_us=1e6 * sum(r.cpu_s for r in results) / count,
        throughput=count / max(r.wall_s for r in results),
        conflicts=sum(r.conflicts for r in results),
        refused=sum(r.refused for r in results),
        unavailable=sum(r.unavailable for r in results),
    )


def print_table(rows: list[Row]) -> None:
    print(
        f"{'log':<9}{'writers':>8}{'limit':>7}{'requests':>10}{'req/s':>8}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'cpu us/req':>12}{'conflicts':>11}{'refused':>9}{'unavailable':>13}"
    )
    for r in rows:
        print(
            f"{r.log:<9}{r.writers:>8}{'yes' if r.limited else 'no':>7}{r.requests:>10}"
            f"{r.throughput:>8.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.cpu_us:>12.0f}"
            f"{r.conflicts:>11}{r.refused:>9}{r.unavailable:>13}"
        )
    print()
    for free, limited in zip(rows[::2], rows[1::2], strict=True):
        print(
            f"{free.log} with {free.writers} writer(s): the limit adds "
            f"{limited.p50_ms - free.p50_ms:+.2f} ms at p50, "
            f"{limited.p99_ms - free.p99_ms:+.2f} ms at p99, "
            f"{limited.cpu_us - free.cpu_us:+.0f} us CPU per request; "
            f"{limited.conflicts} conflict(s) in {limited.requests} reservations"
        )


@contextlib.contextmanager
def postgres(enabled: bool) -> Iterator[object | None]:
    """A throw-away PostgreSQL cluster, or None (not wanted, or not installed)."""
    if not enabled:
        yield None
        return
    from tests._postgres import PostgresCluster, find_binaries

    binaries = find_binaries()
    if binaries is None:
        print("PostgreSQL: server binaries not found (install Debian's postgresql); skipped")
        yield None
        return
    cluster = PostgresCluster(binaries)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def fresh_database(cluster: object, name: str) -> str:
    """A new database on ``cluster`` with the log's tables created (by opening it once:
    the writers then start together on an existing log)."""
    import asyncpg  # type: ignore[import-untyped]

    from events import PostgresEventLog
    from tests._postgres import PostgresCluster

    assert isinstance(cluster, PostgresCluster)
    admin = await asyncpg.connect(cluster.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    log = await PostgresEventLog.open(cluster.dsn(name))
    await log.close()
    return cluster.dsn(name)


async def main(args: argparse.Namespace) -> int:
    requests = 40 if args.quick else args.requests
    concurrency = 2 if args.quick else args.concurrency
    print(
        f"{requests} Runtime.chat calls per writer from {concurrency} workers each; "
        f"backend: ChaosServer in a child process; {os.cpu_count()} CPU(s)"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, postgres(not args.no_postgres) as cluster:
        async with backend() as url:
            logs = ["sqlite"] + (["postgres"] if cluster is not None else [])
            for kind in logs:
                for writers in WRITERS:
                    for limit in (None, LIMIT):
                        name = f"w{writers}_{'limit' if limit else 'free'}"
                        if kind == "sqlite":
                            log = str(Path(tmp) / f"{name}.sqlite3")
                        else:
                            log = await fresh_database(cluster, name)
                        results = await run_writers(url, log, writers, requests, concurrency, limit)
                        rows.append(summarize(kind, writers, limit is not None, results))
    print_table(rows)
    print(f"median p50 over rows: {statistics.median(r.p50_ms for r in rows):.2f} ms")
    return 0


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.quota_writers")
    parser.add_argument("--requests", type=int, default=1_000, help="calls per writer")
    parser.add_argument("--concurrency", type=int, default=8, help="workers per writer")
    parser.add_argument("--quick", action="store_true", help="a few calls (smoke test)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
