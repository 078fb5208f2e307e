"""Retention: ``event_log.retain`` in the config, the running Runtime's background
compaction, and ``python -m runtime.admin compact``."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors import ManualClock
from events import (
    HEALTH_STREAM_PREFIX,
    HealthOutcomeRecorded,
    HealthReset,
    RequestStarted,
    SqliteEventLog,
)
from runtime import EventLogConfig, HealthConfig, Runtime
from runtime._config_load import config_from_raw
from runtime._errors import ConfigError
from runtime._retention import RETENTION_INTERVAL, retention_of
from runtime._retention_policy import parse_duration
from runtime.admin import main
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually

Servers = tuple[ChaosServer, ChaosServer]
DAY = 86_400.0


def _raw(retain: object) -> dict[str, Any]:
    return {
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama3", "deployments": ["a"]}],
        "event_log": {"retain": retain},
    }


# --- the setting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * DAY), ("12h", 43_200.0), ("90m", 5_400.0)]
)
def test_retain_is_a_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert config_from_raw(_raw(text)).event_log.retain == text


def test_retain_is_unset_by_default() -> None:
    raw = _raw(None)
    del raw["event_log"]
    assert config_from_raw(raw).event_log.retain is None
    assert EventLogConfig().retain is None


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("3x", "is not a duration"),
        ("30", "is not a duration"),
        ("-1d", "is not a duration"),
        ("0d", "keeps nothing"),
        ("99999999d", "longer than 36500d"),
        (30, "expected str"),
    ],
)
def test_a_bad_retain_is_refused_naming_its_key(value: object, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_raw(_raw(value))
    assert info.value.paths == ("event_log.retain",)
    assert said in str(info.value)


# --- the running Runtime -------------------------------------------------------------


async def test_the_runtime_compacts_old_events_and_restarts_from_snapshots(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    health = HealthConfig(
        check_interval_seconds=0,
        failure_threshold=2,
        min_calls=10,
        quarantine_seconds=DAY,
        quarantine_max_seconds=DAY,
    )
    base = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, health=health)
    cfg = msgspec.structs.replace(
        base, event_log=msgspec.structs.replace(base.event_log, retain="30m")
    )
    path = Path(cfg.event_log.path)
    log = await SqliteEventLog.open(path, now=clock.time)
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    try:
        async with Runtime(cfg, clock=clock, event_log=log) as rt:
            parts = rt._running()
            retention = retention_of(parts)
            assert retention is not None
            await eventually(lambda: retention.runs >= 1)  # the run at start: nothing old
            assert (await log.bounds()).compacted_through == 0
            for _ in range(4):
                await rt.chat(MESSAGES, model="llama3")
            assert rt.health().deployment("llama3@a").status == "quarantined"
            await log.flush()
            before = await log.last_position()
            await clock.advance(RETENTION_INTERVAL)  # now the requests are an hour old
            await eventually(lambda: retention.runs >= 2)
            bounds = await log.bounds()
            assert bounds.compacted_through >= before
            assert [e async for e in log.read(types=[RequestStarted.__name__])] == []
            summary = rt.health()
        assert retention_of(parts) is None  # stopped at close
        async with Runtime(cfg, clock=clock, event_log=log) as again:
            assert again.health() == summary  # the quarantine survived by snapshot
            assert (await again.chat(MESSAGES, model="llama3")).model == "llama3"
            assert b.requests_for(route="/api/chat") == 5
    finally:
        await log.close()


async def test_without_retain_nothing_is_compacted(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    log = await SqliteEventLog.open(Path(cfg.event_log.path), now=clock.time)
    try:
        async with Runtime(cfg, clock=clock, event_log=log) as rt:
            assert retention_of(rt._running()) is None
            await rt.chat(MESSAGES, model="llama3")
            await clock.advance(RETENTION_INTERVAL)
        assert (await log.bounds()).compacted_through == 0
    finally:
        await log.close()


# --- python -m runtime.admin compact -------------------------------------------------


async def admin(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = await asyncio.to_thread(main, list(argv), stdout=out, stderr=err, environ={})
    return status, out.getvalue(), err.getvalue()


async def old_and_new(path: Path, now: float) -> tuple[int, int]:
    """Health events 3 days old and 1 hour old; (last old position, last position)."""
    stamp = [now - 3 * DAY]
    log = await SqliteEventLog.open(path, now=lambda: stamp[0])
    try:
        did = "llama3@a"
        for ok in (False, False, True):
            event = HealthOutcomeRecorded(deployment=did, at=stamp[0], ok=ok)
            await log.append(HEALTH_STREAM_PREFIX + did, [event])
        old = await log.last_position()
        stamp[0] = now - 3_600.0
        await log.append(HEALTH_STREAM_PREFIX + did, [HealthReset(deployment=did, at=stamp[0])])
        return old, await log.last_position()
    finally:
        await log.close()


async def test_admin_compact_deletes_what_is_older_than_retain(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    old, last = await old_and_new(path, time.time())
    status, out, err = await admin("compact", str(path), "--retain", "1d", "--dry-run")
    assert (status, err) == (0, "")
    assert f"would delete {old} events (positions 1..{old})" in out
    async with await SqliteEventLog.open_readonly(path) as log:
        assert (await log.bounds()).compacted_through == 0
    status, out, err = await admin("compact", str(path), "--retain", "1d")
    assert (status, err) == (0, "")
    assert f"deleted {old} events (positions 1..{old})" in out
    assert f"the log now holds 1 events, positions {last}..{last}" in out
    assert f"1..{old} compacted at" in out
    status, out, _ = await admin("compact", str(path), "--retain", "1d", "--json")
    reply = json.loads(out)
    assert (status, reply["deleted"], reply["through"]) == (0, 0, old)
    assert reply["after"]["first_position"] == last


async def test_admin_compact_through_a_position(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    _, last = await old_and_new(path, 1_800_000_000.0)
    status, out, err = await admin("compact", str(path), "--through", str(last))
    assert (status, err) == (0, "")
    assert f"deleted {last} events (positions 1..{last})" in out
    async with await SqliteEventLog.open_readonly(path) as log:
        bounds = await log.bounds()
        assert (bounds.compacted_through, bounds.first_position) == (last, last + 1)


async def test_a_runtime_starts_on_a_log_compacted_to_its_end(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime(cfg) as rt:
        for _ in range(3):
            await rt.chat(MESSAGES, model="llama3")
        summary = rt.health()
    async with await SqliteEventLog.open_readonly(cfg.event_log.path) as log:
        last = await log.last_position()
    status, _, err = await admin("compact", cfg.event_log.path, "--through", str(last))
    assert (status, err) == (0, "")
    async with Runtime(cfg) as again:  # the start-up check skips the compacted prefix
        assert again.health() == summary
        await again.chat(MESSAGES, model="llama3")
    assert a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat") == 4


@pytest.mark.parametrize(
    ("argv", "status", "said"),
    [
        (("--retain", "3x"), 2, "--retain: '3x' is not a duration"),
        ((), 2, "say what to delete"),
        (("--through", "99"), 2, "past the log's last position"),
        (("--through", "-1"), 2, "--through must be >= 0"),
    ],
)
async def test_admin_compact_refuses_bad_options(
    tmp_path: Path, argv: tuple[str, ...], status: int, said: str
) -> None:
    path = tmp_path / "events.sqlite3"
    await old_and_new(path, 1_800_000_000.0)
    code, out, err = await admin("compact", str(path), *argv)
    assert (code, out) == (status, "")
    assert err.startswith("error: ") and said in err and "Traceback" not in err


async def test_admin_compact_of_a_missing_log(tmp_path: Path) -> None:
    code, _, err = await admin("compact", str(tmp_path / "nope.sqlite3"), "--through", "1")
    assert code == 3 and "no event log at" in err
    assert not (tmp_path / "nope.sqlite3").exists()
