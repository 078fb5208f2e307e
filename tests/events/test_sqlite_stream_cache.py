"""The writer's stream cache restarts past its size without losing a stream's id.

Found by the 1M-event web benchmark: after ~100,000 streams (one per request), the
restart dropped the ids of the batch's existing streams but kept their versions, so the
next append to such a stream (``health/...``) gave it a new id and every later batch
failed on ``log_streams``' unique name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from events import HealthOutcomeRecorded, SqliteEventLog
from events import _sqlite_writer as writer


async def test_streams_keep_their_ids_across_a_cache_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_STREAM_CACHE_MAX", 20)  # restart often
    event = HealthOutcomeRecorded(deployment="m@e", at=1.0, ok=True)
    async with await SqliteEventLog.open(tmp_path / "log.sqlite3") as log:
        for n in range(120):  # a new stream per round, and one that recurs
            await log.append(f"request/{n}", [event])
            await log.append("health/m@e", [event])
        assert await log.stream_version("health/m@e") == 120
        assert log.pipeline_statistics().failed_appends == 0
        recurring = [e async for e in log.read(stream="health/m@e")]
    assert [e.stream_version for e in recurring] == list(range(1, 121))
