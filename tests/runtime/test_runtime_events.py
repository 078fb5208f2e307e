"""What the Runtime records, and what it does when the event log cannot record."""

from __future__ import annotations

import asyncio
from pathlib import Path

from events import DeploymentQuarantined, MemoryEventLog, RequestStarted, SqliteEventLog
from runtime import Runtime
from runtime._pipeline import Appender
from runtime.testing import ChaosServer
from tests._logs import capture_logs
from tests.runtime._support import MESSAGES, config

Servers = tuple[ChaosServer, ChaosServer]


async def test_a_full_disk_is_logged_and_counted_and_requests_keep_succeeding(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        log = rt._running().log
        assert isinstance(log, SqliteEventLog)
        await log.set_max_page_count(1)  # SQLite never shrinks: the file is now full
        with capture_logs() as logs:
            replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(20)]
            await rt.flush_events()
        stats = rt.statistics().event_log
    assert len(replies) == 20  # not fail-closed: routing events are best effort
    assert stats.failed_appends >= 1 and stats.last_error is not None
    assert "StorageFull" in stats.last_error
    failed = [entry for entry in logs if entry["event"] == "eventlog.append_nowait.failed"]
    assert failed and failed[0]["log_level"] == "error"


async def test_routine_events_linger_but_a_transition_is_committed_at_once() -> None:
    log = MemoryEventLog(linger=3600.0)  # routine events would wait an hour
    appender = Appender(log)
    started = RequestStarted(
        request_id="r1", at=1.0, role=None, model="m", kind=None, stream=False,
        candidates=("m@a",), prompt_chars=2, prompt_hash="00",
    )  # fmt: skip
    appender.record("request/r1", [started])
    for _ in range(20):
        await asyncio.sleep(0)  # the writer runs, and lingers
    lingering = await log.last_position()
    quarantined = DeploymentQuarantined(deployment="m@a", at=1.0, until=31.0, quarantine_count=1)
    committed = asyncio.Event()
    log.on_commit(lambda batch: committed.set())
    appender.record("health/m@a", [quarantined])
    async with asyncio.timeout(60):  # far less than the hour's linger
        await committed.wait()
    stored = [(e.stream, e.type) async for e in log.read()]
    await log.close()
    assert lingering == 0
    assert stored == [("request/r1", "RequestStarted"), ("health/m@a", "DeploymentQuarantined")]
