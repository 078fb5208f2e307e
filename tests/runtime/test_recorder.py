"""``Recorder.on_append`` (append-latency observers) and the log writer's queue depth."""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from events import HealthReset, MemoryEventLog, SqliteEventLog
from runtime._recorder import Recorder

AT = 1_700_000_000.0


def reset(n: int) -> list[HealthReset]:
    return [HealthReset(deployment=f"m@e{i}", at=AT, reason="test") for i in range(n)]


async def test_observers_see_each_committed_append_until_removed() -> None:
    log = await MemoryEventLog.open()
    recorder = Recorder(log, linger=0)
    recorder.start()
    seen: list[tuple[float, int]] = []
    undo = recorder.on_append(lambda seconds, events: seen.append((seconds, events)))
    recorder.record("health/a", reset(2))
    recorder.record("health/b", reset(1))
    await recorder.flush()
    undo()
    undo()  # idempotent
    recorder.record("health/c", reset(3))
    await recorder.flush()
    await recorder.aclose()
    assert sorted(events for _, events in seen) == [1, 2]  # not the append after the undo
    assert all(seconds >= 0 for seconds, _ in seen)
    assert recorder.statistics().appended == 6


async def test_a_failing_observer_is_logged_and_the_recorder_goes_on() -> None:
    log = await MemoryEventLog.open()
    recorder = Recorder(log, linger=0)
    recorder.start()

    def broken(seconds: float, events: int) -> None:
        raise RuntimeError("observer bug")

    recorder.on_append(broken)
    with capture_logs() as captured:
        recorder.record("health/a", reset(1))
        await recorder.flush()
        recorder.record("health/a", reset(1))
        await recorder.flush()
    await recorder.aclose()
    assert recorder.statistics().appended == 2 and recorder.statistics().failures == 0
    errors = [e for e in captured if e["event"] == "runtime.events.observer_failed"]
    assert len(errors) == 2 and "observer bug" in errors[0]["error"]


async def test_statistics_include_the_sqlite_writer_queue(tmp_path: Path) -> None:
    log = await SqliteEventLog.open(tmp_path / "events.sqlite3")
    recorder = Recorder(log, linger=0)
    # Appends handed to the log by someone else wait in its writer queue: one loop turn
    # lets them enqueue, and the writer has not taken them yet.
    appends = [asyncio.ensure_future(log.append(f"s/{i}", reset(1))) for i in range(20)]
    await asyncio.sleep(0)
    waiting = recorder.statistics().log_queued
    assert waiting == log.statistics().queue_depth > 0
    await asyncio.gather(*appends)
    assert recorder.statistics().log_queued == 0
    await log.close()
    memory = Recorder(await MemoryEventLog.open())
    assert memory.statistics().log_queued == 0  # logs without a writer queue report 0
