"""``state`` on logs a real Runtime wrote: it must show what the live runtime reported."""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events import DeploymentQuarantined, SqliteEventLog
from runtime import HealthConfig, QuotaConfig, Runtime, RuntimeConfig
from runtime.inspect._errors import InspectError
from runtime.inspect._render import Style, dumps_json
from runtime.inspect._state import run_state
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config
from tests.runtime.inspect._logs import copy_log
from tests.runtime.inspect._requests import positions_of, state_json, state_text

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"
HEALTH = HealthConfig(check_interval_seconds=0, failure_threshold=3, quarantine_seconds=30.0)


def two_models(tmp_path: Path, servers: Servers, quota: QuotaConfig | None = None) -> RuntimeConfig:
    """llama3 on a and b, qwen on a; a quota so that warnings are issued."""
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "qwen": ("a",)}, health=HEALTH)
    return msgspec.structs.replace(
        cfg, quota=quota or QuotaConfig(daily_requests=12, warn_ratio=0.5)
    )


async def run_traffic(tmp_path: Path, servers: Servers) -> tuple[Any, Any, Any]:
    """b fails llama3 until quarantined; returns what the live runtime reported."""
    _, b = servers
    b.set_fault(Fault(kind="http_error", status=500), model="llama3")
    async with Runtime.from_config(two_models(tmp_path, servers)) as rt:
        for _ in range(8):
            await rt.chat(MESSAGES, model="llama3")
        await rt.chat(MESSAGES, model="qwen")
        health, usage, performance = rt.health(), rt.usage(), rt.performance()
    return health, usage, performance


def replayed_health(state: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        row["deployment"]: (
            row["status"],
            row["quarantined_until"],
            row["consecutive_failures"],
            row["failure_rate"],
            row["last_failure"],
            row["reason"],
            row["last_change"],
        )
        for row in state["health"]
    }


def live_health(summary: Any) -> dict[str, tuple[Any, ...]]:
    return {
        entry.deployment: (
            entry.status,
            entry.quarantined_until,
            entry.consecutive_failures,
            entry.failure_rate,
            entry.last_failure,
            entry.reason,
            entry.last_change,
        )
        for model in summary.models.values()
        for entry in model.deployments
        if entry.status != "unknown"  # never used: no health event, so not in the log
    }


def check_matches_live(state: dict[str, Any], health: Any, usage: Any, performance: Any) -> None:
    assert replayed_health(state) == live_health(health)
    assert {m["model"]: m["status"] for m in state["models"]} == {
        name: health.status(name) for name in ("llama3", "qwen")
    }
    rows = {(u["scope"], u["name"]): (u["requests"], u["tokens"]) for u in state["usage"]["usage"]}
    assert rows[("all", "all models")] == (usage.total.requests, usage.total.tokens)
    for name, used in usage.models.items():
        assert rows[("model", name)] == (used.requests, used.tokens)
    for name, used in usage.endpoints.items():
        assert rows[("endpoint", name)] == (used.requests, used.tokens)
    assert state["usage"]["period"] == usage.period
    assert state["usage"]["resets_at"] == usage.resets_at
    assert state["performance"] == json.loads(dumps_json(performance))


async def test_the_replayed_state_matches_what_the_live_runtime_reported(
    tmp_path: Path, servers: Servers
) -> None:
    health, usage, performance = await run_traffic(tmp_path, servers)
    assert health.deployment("llama3@b").status == "quarantined"  # the run moved health
    assert health.deployment("llama3@a").status == "healthy"

    state = await state_json(tmp_path / LOG)  # latest snapshot (saved at close) + tail
    check_matches_live(state, health, usage, performance)
    assert state["asked"] == "now" and state["position"] == state["last_position"]
    warnings = state["usage"]["warnings"]
    assert [(w["limit"], w["limit_value"]) for w in warnings] == [("global.requests", 12)]
    assert warnings[0]["used"] >= 6

    # Without snapshots the same state must come from a full replay of the events.
    (tmp_path / "bare").mkdir()
    bare = copy_log(tmp_path / LOG, tmp_path / "bare")
    with sqlite3.connect(bare) as db:
        assert db.execute("DELETE FROM snapshots").rowcount > 0
    db.close()
    check_matches_live(await state_json(bare), health, usage, performance)


async def test_state_before_and_after_the_quarantine(tmp_path: Path, servers: Servers) -> None:
    await run_traffic(tmp_path, servers)
    [quarantine] = await positions_of(tmp_path / LOG, DeploymentQuarantined)
    assert isinstance(quarantine.event, DeploymentQuarantined)
    until = quarantine.event.until

    def status(state: dict[str, Any]) -> str:
        return str(next(r["status"] for r in state["health"] if r["deployment"] == "llama3@b"))

    before = await state_json(tmp_path / LOG, str(quarantine.position - 1))
    after = await state_json(tmp_path / LOG, str(quarantine.position))
    assert status(before) == "degraded" and status(after) == "quarantined"
    assert after["position"] == quarantine.position and after["moment"] == quarantine.timestamp
    b = next(r for r in after["health"] if r["deployment"] == "llama3@b")
    assert b["quarantined_until"] == until
    assert b["quarantine_left_s"] == pytest.approx(until - quarantine.timestamp)
    assert 0 < b["quarantine_left_s"] <= 30

    # The same by time: the quarantine's own timestamp, an ISO time, and one batch earlier.
    by_time = await state_json(tmp_path / LOG, repr(quarantine.timestamp))
    assert status(by_time) == "quarantined" and by_time["position"] >= quarantine.position
    iso = dt.datetime.fromtimestamp(quarantine.timestamp + 0.001, dt.UTC).isoformat()
    assert status(await state_json(tmp_path / LOG, iso)) == "quarantined"
    earlier = [e async for e in _read(tmp_path / LOG) if e.timestamp < quarantine.timestamp]
    assert earlier
    before_by_time = await state_json(tmp_path / LOG, repr(earlier[-1].timestamp))
    assert before_by_time["position"] == earlier[-1].position
    assert status(before_by_time) != "quarantined"

    text = await state_text(tmp_path / LOG, str(quarantine.position))
    line = next(x for x in text.splitlines() if x.startswith("llama3@b "))
    assert line.split()[1] == "quarantined" and "(in " in line
    assert f"State after event {quarantine.position} of " in text
    assert "llama3@b is quarantined: 3 consecutive failures" in text


async def _read(path: Path) -> Any:
    async with await SqliteEventLog.open_readonly(path) as log:
        async for stored in log.read():
            yield stored


async def test_the_text_has_every_section(tmp_path: Path, servers: Servers) -> None:
    await run_traffic(tmp_path, servers)
    text = await state_text(tmp_path / LOG)
    for title in (
        "Health per deployment",
        "Health per model (the best of its deployments)",
        "Quota usage in period ",
        "Quota warnings issued in the period",
        "Performance per task kind and model (last 100 attempts each)",
        "Performance per deployment (all kinds)",
    ):
        assert title in text
    assert text.startswith("State now (")
    small = await state_text(tmp_path / LOG, window=2)
    assert "(last 2 attempts each)" in small


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("0", "log positions start at 1"),
        ("99999", "past the end of the log"),
        ("2001-01-01T00:00:00Z", "before the first event"),
        ("soon", "is neither a position"),
    ],
)
async def test_bad_moments_are_refused(
    tmp_path: Path, servers: Servers, at: str, message: str
) -> None:
    async with Runtime.from_config(two_models(tmp_path, servers)) as rt:
        await rt.chat(MESSAGES, model="llama3")
    with pytest.raises(InspectError, match=message):
        await state_json(tmp_path / LOG, at)


async def test_an_empty_log_and_a_bad_window_are_refused(tmp_path: Path) -> None:
    path = tmp_path / LOG
    async with await SqliteEventLog.open(path):
        pass
    async with await SqliteEventLog.open_readonly(path) as log:
        out = io.StringIO()
        with pytest.raises(InspectError, match="the log is empty"):
            await run_state(log, at=None, json=False, style=Style(), out=out, window=100)
        with pytest.raises(InspectError, match="--window must be >= 1"):
            await run_state(log, at=None, json=False, style=Style(), out=out, window=0)
        assert out.getvalue() == ""
