"""Web view benchmark: building the index of a 1M-event log, and every page's time over HTTP.

Run: ``python -m tests.bench.web_pages [--events N] [--keep PATH] [--rounds R]``
(default 1,000,000 events, 5 rounds).

1. The log: ``tests.bench._web_log.write_log`` (realistic traffic over six deployments,
   ~5 events per request, outages, flapping, a quota period), written through
   ``SqliteEventLog``. It is cached: ``--keep PATH``, else
   ``/tmp/llmrt-web-bench-<N>.sqlite3``; an existing file is reused (it is only renamed
   into place once complete).
2. The index: ``WebView.start`` on the log opened read-only, as ``inspect LOG web`` does
   (it reads the index's event types and folds them): wall and CPU seconds, events/s.
3. The pages: the real app (``WebView.app``) under uvicorn on 127.0.0.1, asked over HTTP
   with httpx: one warm-up, then ``R`` timed requests per page; the median and the worst
   are printed with PASS/MISS against the target (< 1 s per page). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from events import SqliteEventLog
from runtime.inspect._requests_model import RequestQuery, slowest
from runtime.inspect.web import WebView
from runtime.serve._server import AppServer
from tests.bench._web_log import write_log

__all__ = ["PAGES", "Measured", "Timed", "ensure_log", "main", "report", "run"]

TARGET_S = 1.0
"""Every page of a 1M-event log in under a second."""
PAGES = (
    ("overview", ""),
    ("overview, last hour", "?since=1h"),
    ("latency", "latency"),
    ("slowest requests", "requests?kind=slow"),
    ("failed requests", "requests?kind=failed"),
    ("failed, filtered", "requests?kind=failed&deployment=llama3@b&since=3h"),
    ("one request", "request/{slowest}"),
    ("quotas", "quotas"),
    ("flow", "flow"),
    ("api/position", "api/position"),
)
"""(name, path relative to the app's root); ``{slowest}`` is the slowest request's id."""


@dataclass(frozen=True)
class Timed:
    """One page's timings."""

    name: str
    path: str
    median_s: float
    worst_s: float
    size: int


@dataclass(frozen=True)
class Measured:
    """What one run measured."""

    path: Path
    cached: bool
    write_s: float
    events: int
    indexed: int
    requests: int
    build_s: float
    build_cpu_s: float
    grown: int
    """Bytes the process's resident set grew by while the index was built."""
    pages: tuple[Timed, ...]


def ensure_log(path: Path, events: int) -> tuple[bool, float]:
    """The log at ``path``, written if missing; (reused?, seconds spent writing)."""
    if path.exists():
        return True, 0.0
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, *(Path(f"{partial}{s}") for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    written = asyncio.run(write_log(partial, events))
    partial.rename(path)
    return False, written.seconds


async def run(path: Path, rounds: int, *, cached: bool = True, write_s: float = 0.0) -> Measured:
    """Build the index of the log at ``path``, time every page."""
    async with await SqliteEventLog.open_readonly(path) as log:
        total = await log.last_position()
        view = WebView(log, title=path.name, live=False)
        gc.collect()
        resident = _resident()
        wall, cpu = time.perf_counter(), time.process_time()
        await view.start()
        build_s, build_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        gc.collect()
        grown = _resident() - resident
        try:
            pages = await _time_pages(view, rounds)
        finally:
            await view.aclose()
    return Measured(
        path=path,
        cached=cached,
        write_s=write_s,
        events=total,
        indexed=view.index.events,
        requests=len(view.index.requests),
        build_s=build_s,
        build_cpu_s=build_cpu_s,
        grown=grown,
        pages=pages,
    )


def _resident() -> int:
    """This process's resident set size in bytes (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def _time_pages(view: WebView, rounds: int) -> tuple[Timed, ...]:
    top = slowest(view.index.requests.rows(), RequestQuery(limit=1))
    slowest_id = top[0].request_id if top else "none"
    server = AppServer(view.app, host="127.0.0.1", port=0)
    base = await server.start()
    timed: list[Timed] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120.0) as http:
            for name, template in PAGES:
                path = "/" + template.format(slowest=slowest_id)
                timed.append(await _time_page(http, name, path, rounds))
    finally:
        await server.stop()
    return tuple(timed)


async def _time_page(http: httpx.AsyncClient, name: str, path: str, rounds: int) -> Timed:
    warm = await http.get(path)
    if warm.status_code != 200:
        raise RuntimeError(f"GET {path} answered {warm.status_code}: {warm.text[:300]}")
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await http.get(path)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    return Timed(
        name=name,
        path=path,
        median_s=statistics.median(seconds),
        worst_s=max(seconds),
        size=len(warm.content),
    )


def report(measured: Measured) -> str:
    """The lines the benchmark prints."""
    how = "reused" if measured.cached else f"written in {measured.write_s:.1f} s"
    per_s = measured.events / measured.build_s if measured.build_s else 0.0
    lines = [
        f"log               {measured.path} ({how})",
        f"events            {measured.events:,} ({measured.requests:,} requests)",
        f"index build       {measured.build_s:.2f} s wall, {measured.build_cpu_s:.2f} s CPU: "
        f"{per_s:,.0f} log events/s ({measured.indexed:,} of the index's types)",
        f"index memory      {measured.grown / 1e6:,.0f} MB resident growth: "
        f"{measured.grown / max(measured.requests, 1):,.0f} B/request",
        f"{'page':22} {'median ms':>10} {'worst ms':>9} {'bytes':>9}  target < "
        f"{TARGET_S * 1000:.0f} ms",
    ]
    for page in measured.pages:
        verdict = "PASS" if page.median_s < TARGET_S else "MISS"
        lines.append(
            f"{page.name:22} {page.median_s * 1000:>10.1f} {page.worst_s * 1000:>9.1f} "
            f"{page.size:>9,}  {verdict}  {page.path}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--keep", type=Path, help="the log file to write, or reuse if it exists")
    parser.add_argument("--rounds", type=int, default=5, help="timed requests per page")
    args = parser.parse_args()
    if args.events < 5 or args.rounds < 1:
        parser.error("--events must be >= 5 and --rounds >= 1")
    path = args.keep or Path(f"/tmp/llmrt-web-bench-{args.events}.sqlite3")
    cached, write_s = ensure_log(path, args.events)
    measured = asyncio.run(run(path, args.rounds, cached=cached, write_s=write_s))
    print(report(measured), flush=True)


if __name__ == "__main__":
    main()
