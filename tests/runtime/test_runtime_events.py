"""What the Runtime records, and what it does when the event log cannot record."""

from __future__ import annotations

import asyncio

from events import DeploymentQuarantined, MemoryEventLog, RequestStarted
from runtime._pipeline import Appender
from runtime.testing import ChaosServer

Servers = tuple[ChaosServer, ChaosServer]


async def test_routine_events_linger_but_a_transition_is_committed_at_once() -> None:
    log = MemoryEventLog(linger=3600.0)  # routine events would wait an hour
    appender = Appender(log, lambda event: None, lambda stream, future: None)
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
