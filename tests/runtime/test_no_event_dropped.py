"""No event is ever dropped: requests outrunning the log wait for room (issue 17, point 3).

A Runtime whose real SQLite log is far slower than its client: a queue of 2 appends
and ``durability: full`` (an fsync per commit), driven by 64 concurrent callers
through an in-process transport (``httpx.MockTransport``: no sockets, so requests
finish faster than the log commits). The backpressure path must run (``room_waits >
0``) and every request must be in the log afterwards: its ``RequestStarted`` first, one
terminal event last, no gap in its stream. The waits are in ``statistics().event_log``
and exported on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from events import PipelineStatistics, SqliteEventLog, StoredEvent
from runtime import EndpointConfig, EventLogConfig, ModelConfig, Runtime, RuntimeConfig
from runtime._metrics import RuntimeMetrics
from tests.runtime._support import MESSAGES, read_events

MODEL = "llama3"
CALLERS = 64
QUEUE = 2
"""The log's queue: appends waiting for the writer above which new requests wait."""
TERMINAL = {"RequestSucceeded", "RequestFailed", "RequestCancelled"}

_TAGS = json.dumps({"models": [{"name": MODEL, "model": MODEL}]}).encode()


def _reply(content: str, *, done: bool) -> dict[str, object]:
    reply: dict[str, object] = {
        "model": MODEL,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        reply.update(done_reason="stop", prompt_eval_count=5, eval_count=3)
    return reply


def _answer(request: httpx.Request) -> httpx.Response:
    """An Ollama backend: the model list, and chat replies whole or as an NDJSON stream."""
    if request.url.path == "/api/tags":
        return httpx.Response(200, content=_TAGS, headers={"content-type": "application/json"})
    if json.loads(request.content).get("stream", True):
        pieces = [_reply("a", done=False), _reply(" short", done=False), _reply("", done=True)]
        body = b"".join(json.dumps(p).encode() + b"\n" for p in pieces)
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})
    body = json.dumps(_reply("a short", done=True)).encode()
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def _config(path: Path) -> RuntimeConfig:
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9", max_concurrency=1024),),
        models=(ModelConfig(name=MODEL, deployments=("a",)),),
        event_log=EventLogConfig(path=str(path), acknowledge="background"),
    )


@contextlib.asynccontextmanager
async def slow_log_runtime(path: Path) -> AsyncIterator[Runtime]:
    """A running Runtime over a real SQLite log that commits slower than requests end."""
    log = await SqliteEventLog.open(path, durability="full", queue_size=QUEUE)
    transport = httpx.MockTransport(_answer)
    try:
        async with Runtime.from_config(
            _config(path), event_log=log, transport=lambda name: transport
        ) as rt:
            yield rt
    finally:
        await log.close()  # the runtime does not close a log it was given


async def drive(call: Callable[[], Awaitable[str]], requests: int) -> list[str]:
    """``requests`` calls from ``CALLERS`` concurrent callers; their request ids."""
    ids: list[str] = []
    cursor = iter(range(requests))

    async def caller() -> None:
        for _ in cursor:
            ids.append(await call())

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return ids


def _samples(metrics: RuntimeMetrics) -> dict[str, float]:
    body, _ = metrics.render()
    families = text_string_to_metric_families(body.decode())
    return {s.name: s.value for f in families for s in f.samples if not s.labels}


def _check_every_request_is_logged(events: list[StoredEvent], ids: list[str]) -> None:
    by_stream: dict[str, list[StoredEvent]] = defaultdict(list)
    for stored in events:
        by_stream[stored.stream].append(stored)
    assert len(set(ids)) == len(ids)
    counts = set()
    for request_id in ids:
        stream = by_stream.get(f"request/{request_id}", [])
        types = [e.type for e in stream]
        assert types, f"request {request_id}: no event in the log"
        assert types[0] == "RequestStarted" and types.count("RequestStarted") == 1, types
        assert types[-1] in TERMINAL and sum(t in TERMINAL for t in types) == 1, types
        versions = [e.stream_version for e in stream]
        assert versions == list(range(1, len(stream) + 1)), f"{request_id}: gap {versions}"
        counts.add(len(stream))
    assert len(counts) == 1, f"requests logged unequal event counts: {sorted(counts)}"
    requests_in_log = sum(1 for s in by_stream if s.startswith("request/"))
    assert requests_in_log == len(ids)  # and none the test did not send


def _check_waits_are_shown(stats: PipelineStatistics, samples: dict[str, float]) -> None:
    assert stats.capacity == QUEUE
    assert stats.room_waits > 0, "the log kept up: the backpressure path did not run"
    assert stats.room_wait_seconds > 0 and stats.longest_room_wait > 0
    assert stats.failed_appends == 0 and stats.failed_events == 0, stats.last_error
    assert samples["llmrt_eventlog_room_wait_seconds_total"] == stats.room_wait_seconds > 0
    assert samples["llmrt_eventlog_room_waits_total"] == stats.room_waits
    assert samples["llmrt_eventlog_room_wait_longest_seconds"] == stats.longest_room_wait
    assert samples["llmrt_eventlog_queue_capacity"] == QUEUE
    assert samples["llmrt_eventlog_append_failures_total"] == 0


async def test_chat_faster_than_the_log_waits_for_room_and_logs_every_request(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    async with slow_log_runtime(path) as rt:
        metrics = RuntimeMetrics(rt)

        async def chat() -> str:
            return (await rt.chat(MESSAGES, model=MODEL)).request_id

        ids = await drive(chat, 600)
        await rt.flush_events()
        stats = rt.statistics().event_log
        samples = _samples(metrics)
        metrics.close()
    _check_waits_are_shown(stats, samples)
    _check_every_request_is_logged(await read_events(path), ids)


async def test_streams_faster_than_the_log_wait_for_room_and_log_every_request(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    async with slow_log_runtime(path) as rt:
        metrics = RuntimeMetrics(rt)

        async def stream() -> str:
            request_id, text = "", ""
            async with contextlib.aclosing(rt.stream(MESSAGES, model=MODEL)) as chunks:
                async for chunk in chunks:
                    request_id, text = chunk.request_id, text + chunk.content
            assert text == "a short"
            return request_id

        ids = await drive(stream, 400)
        await rt.flush_events()
        stats = rt.statistics().event_log
        samples = _samples(metrics)
        metrics.close()
    _check_waits_are_shown(stats, samples)
    events = await read_events(path)
    _check_every_request_is_logged(events, ids)
    started = [e.event for e in events if e.type == "RequestStarted"]
    assert all(getattr(e, "stream", False) for e in started)  # they were streams
