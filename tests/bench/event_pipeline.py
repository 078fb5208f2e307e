"""How much of a heavy run reaches the event log, and what it costs per request.

Run: ``python -m tests.bench.event_pipeline [--requests N] [--concurrency C]
[--durability normal|full] [--acknowledge after_commit|background]``.

A ``Runtime`` with a real SQLite log sends N chat requests through an in-process
transport (``httpx.MockTransport``: no sockets, so requests finish faster than any
real backend and the event pipeline is the bottleneck), C at a time. After ``aclose``
the log is read back with ``sqlite3`` and the script prints: throughput and CPU per
request; how many requests' events reached the log (each request writes a
``RequestStarted``); events and bytes of log per request; and, where the runtime has
them, the waits for room in the log's queue. Nothing is dropped when every request's
events are in the log.

Uses only the public API, so the same script measures an older checkout (run it from
that checkout's directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from runtime import EndpointConfig, EventLogConfig, ModelConfig, Runtime, RuntimeConfig

MODEL = "llama3"
MESSAGES = [{"role": "user", "content": "say something short"}]
_TAGS = json.dumps({"models": [{"name": MODEL, "model": MODEL}]}).encode()
_CHAT = json.dumps(
    {
        "model": MODEL,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "short"},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 5,
        "eval_count": 1,
    }
).encode()


def _answer(request: httpx.Request) -> httpx.Response:
    body = _TAGS if request.url.path == "/api/tags" else _CHAT
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def _config(path: Path, log_options: dict[str, str]) -> RuntimeConfig:
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9", max_concurrency=1024),),
        models=(ModelConfig(name=MODEL, deployments=("a",)),),
        event_log=EventLogConfig(path=str(path), **log_options),  # type: ignore[arg-type]
    )


async def run(
    requests: int, concurrency: int, path: Path, log_options: dict[str, str]
) -> dict[str, float]:
    transport = httpx.MockTransport(_answer)
    rt = Runtime(_config(path, log_options), transport=lambda name: transport)
    failed = 0
    cursor = iter(range(requests))

    async def worker() -> None:
        nonlocal failed
        for _ in cursor:
            try:
                await rt.chat(MESSAGES, model=MODEL)
            except Exception:
                failed += 1

    await rt.start()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pipeline = getattr(rt.statistics(), "event_log", None)
    await rt.aclose()
    figures = {
        "requests_per_second": requests / elapsed,
        "cpu_us_per_request": cpu / requests * 1e6,
        "failed": float(failed),
    }
    if pipeline is not None:
        figures["room_waits"] = float(pipeline.room_waits)
        figures["room_wait_seconds"] = pipeline.room_wait_seconds
        figures["longest_room_wait"] = pipeline.longest_room_wait
    return figures


def _read_back(path: Path, requests: int) -> dict[str, float]:
    with sqlite3.connect(path) as db:
        events = db.execute("SELECT count(*) FROM events WHERE stream LIKE 'request/%'").fetchone()
        started = db.execute("SELECT count(*) FROM events WHERE type = 'RequestStarted'").fetchone()
        total = db.execute("SELECT count(*) FROM events").fetchone()
    size = sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if os.path.exists(p))
    return {
        "requests_in_log": float(started[0]),
        "share_in_log": started[0] / requests,
        "request_events_per_request": events[0] / requests,
        "events_per_request": total[0] / requests,
        "log_bytes_per_request": size / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--durability", choices=("normal", "full"))
    parser.add_argument("--acknowledge", choices=("after_commit", "background"))
    args = parser.parse_args()
    log_options = {
        name: value
        for name, value in (("durability", args.durability), ("acknowledge", args.acknowledge))
        if value is not None
    }
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        path = Path(tmp) / "events.sqlite3"
        figures = asyncio.run(run(args.requests, args.concurrency, path, log_options))
        figures.update(_read_back(path, args.requests))
    shown = ", ".join(f"{k} {v}" for k, v in log_options.items()) or "default log settings"
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, in-process transport, {shown}"
    )
    for name, value in figures.items():
        print(f"  {name:28} {value:,.3f}")
    verdict = "nothing dropped" if figures["share_in_log"] == 1.0 else "EVENTS DROPPED"
    print(f"  {verdict}")


if __name__ == "__main__":
    main()
