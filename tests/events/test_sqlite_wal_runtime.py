"""A full log under a ``Runtime`` with a quota: requests are refused while it is full,
the WAL gives its space back meanwhile, and once space is freed the same runtime serves
again without a restart; so does a restarted one."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from events import ActorFailed, SqliteEventLog, StorageFull
from runtime import EventLogFailing, QuotaConfig, QuotaUnavailable, Runtime, RuntimeConfig
from runtime.testing import ChaosServer
from tests._wait import eventually
from tests.runtime._support import MESSAGES, config


def wal_size(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        return 0


def with_quota(tmp_path: Path, server: ChaosServer) -> RuntimeConfig:
    base = config(tmp_path, {"a": server}, {"llama3": ("a",)})
    quota = QuotaConfig(timezone="Europe/Berlin", reset_hour=6, daily_tokens=1_000_000)
    return msgspec.structs.replace(base, quota=quota)


def sqlite_log(rt: Runtime) -> SqliteEventLog:
    log = rt._running().log
    assert isinstance(log, SqliteEventLog)
    return log


async def fill(log: SqliteEventLog) -> None:
    """Cap the file at its size and fill what is left: every later append fails."""
    await log.set_max_page_count(1)  # SQLite keeps the cap at the current size
    for size in (4_000, 400, 40, 1):
        try:
            while True:
                filler = ActorFailed(
                    actor="f", error_type="E", message="x" * size, failures_in_window=1
                )
                await log.append("filler", [filler])
        except StorageFull:
            continue


async def test_a_runtime_with_a_quota_recovers_from_a_full_log(tmp_path: Path) -> None:
    async with ChaosServer(["llama3"], seed=1) as server:
        cfg = with_quota(tmp_path, server)
        path = Path(cfg.event_log.path)
        async with Runtime.from_config(cfg) as rt:
            assert (await rt.chat(MESSAGES, model="llama3")).content
            log = sqlite_log(rt)
            await fill(log)
            # Refused before any backend call: the reservation cannot be recorded, or
            # the log is already known to be failing (on_log_failure: refuse).
            calls = server.requests_for(route="/api/chat")
            with pytest.raises((QuotaUnavailable, EventLogFailing)):
                await rt.chat(MESSAGES, model="llama3")
            assert server.requests_for(route="/api/chat") == calls
            # While full, the WAL is checkpointed into the file and truncated.
            await eventually(lambda: wal_size(path) == 0)
            await log.set_max_page_count(1_000_000)  # space freed
            # The runtime retries the log every second and resumes by itself.
            await eventually(lambda: rt.statistics().event_log_health.status != "failing")
            for _ in range(30):  # the same runtime, no restart
                assert (await rt.chat(MESSAGES, model="llama3")).content
            usage = rt.usage()
        assert usage.total.requests == 31
        async with Runtime.from_config(cfg) as restarted:
            assert (await restarted.chat(MESSAGES, model="llama3")).content
            assert restarted.usage().total.requests == 32
            await eventually(lambda: wal_size(path) == 0)  # idle: truncated while open
