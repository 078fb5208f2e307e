"""``timeline`` on a log where a real Runtime saw a backend flap."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from actors import ManualClock
from events import (
    DeploymentProbingStarted,
    DeploymentQuarantined,
    Event,
    RequestStarted,
    SqliteEventLog,
)
from runtime import HealthConfig, Runtime
from runtime.inspect._errors import InspectError
from runtime.inspect._render import Style
from runtime.inspect._timeline import run_timeline
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config
from tests.runtime.inspect._logs import append_events
from tests.runtime.inspect._requests import WALL, timeline_json, timeline_text

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"
TWITCHY = HealthConfig(check_interval_seconds=0, failure_threshold=1, quarantine_seconds=10.0)


async def flap(tmp_path: Path, servers: Servers, clock: ManualClock, cycles: int) -> None:
    """b breaks, is quarantined, comes back and recovers, ``cycles`` times."""
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "qwen": ("a",)}, health=TWITCHY)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, model="qwen")
        for n in range(cycles):
            b.set_fault(Fault(kind="http_error", status=500), model="llama3")
            for _ in range(4):
                await rt.chat(MESSAGES, model="llama3")
            assert rt.health().deployment("llama3@b").status == "quarantined"
            b.clear_faults()
            await clock.advance(10.0 * 2**n + 1.0)  # quarantines double: 10 s, 20 s, 40 s
            for _ in range(4):
                await rt.chat(MESSAGES, model="llama3")
                await clock.advance(1.0)
            assert rt.health().deployment("llama3@b").status == "healthy"


async def test_a_backend_that_keeps_coming_back_is_flapping(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    await flap(tmp_path, servers, clock, cycles=3)
    timeline = await timeline_json(tmp_path / LOG)
    by_name = {d["deployment"]: d for d in timeline["deployments"]}
    assert list(by_name) == ["llama3@a", "llama3@b", "qwen@a"]
    b = by_name["llama3@b"]
    assert (b["quarantines"], b["cycles"], b["flap_score"], b["flapping"]) == (3, 3, 3, True)
    assert b["status"] == "healthy"
    quarantines = [c for c in b["changes"] if c["event"] == "DeploymentQuarantined"]
    assert [c["until"] - c["at"] for c in quarantines] == [10.0, 20.0, 40.0]
    assert [e["ended_by"] for e in b["episodes"]] == ["recovered"] * 3
    assert all(e["lasted_s"] >= q for e, q in zip(b["episodes"], (10, 20, 40), strict=True))
    assert [c["status"] for c in b["changes"]] == ["quarantined", "probing", "healthy"] * 3
    a = by_name["llama3@a"]
    assert (a["quarantines"], a["flapping"], a["status"]) == (0, False, "healthy")
    assert timeline["flap_cycles"] == 3 and timeline["flap_window_s"] == 3600.0

    text = await timeline_text(tmp_path / LOG)
    assert "llama3@b: now healthy; 3 quarantines, 3 recoveries; FLAPPING" in text
    assert "quarantined for 40s (until " in text


async def test_two_cycles_are_not_flapping_and_a_model_can_be_picked(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    await flap(tmp_path, servers, clock, cycles=2)
    only = await timeline_json(tmp_path / LOG, "llama3")
    assert [d["deployment"] for d in only["deployments"]] == ["llama3@a", "llama3@b"]
    b = only["deployments"][1]
    assert (b["cycles"], b["flapping"]) == (2, False)
    one = await timeline_json(tmp_path / LOG, "llama3@b")
    assert [d["deployment"] for d in one["deployments"]] == ["llama3@b"]
    text = await timeline_text(tmp_path / LOG, "qwen")
    assert "qwen@a: now healthy; 0 quarantines, 0 recoveries" in text and "llama3@b" not in text
    with pytest.raises(InspectError) as unknown:
        await timeline_json(tmp_path / LOG, "mistral")
    assert "no health changes recorded for 'mistral'" in str(unknown.value)
    assert "models with changes: llama3, qwen" in str(unknown.value)


async def test_an_empty_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / LOG
    async with await SqliteEventLog.open(path):
        pass
    async with await SqliteEventLog.open_readonly(path) as log:
        with pytest.raises(InspectError, match="the log is empty"):
            await run_timeline(log, None, json=True, style=Style(), out=io.StringIO())


async def test_an_outage_going_on_at_the_end_of_a_real_log_is_counted_so_far(
    tmp_path: Path,
) -> None:
    path, did = tmp_path / LOG, "llama3@b"
    down: list[Event] = [
        DeploymentQuarantined(deployment=did, at=WALL, until=WALL + 30, quarantine_count=1),
        DeploymentProbingStarted(deployment=did, at=WALL + 30, probe_round=1),
        DeploymentQuarantined(deployment=did, at=WALL + 31, until=WALL + 91, quarantine_count=2),
    ]
    await append_events(path, "health/" + did, down, now=WALL + 31)
    later = RequestStarted(  # the log's last event: 10 minutes after the outage began
        request_id="r1",
        at=WALL + 600,
        role=None,
        model="llama3",
        kind=None,
        stream=False,
        candidates=("llama3@a",),
        prompt_chars=5,
        prompt_hash="00",
    )
    await append_events(path, "request/r1", [later], now=WALL + 600)
    [b] = (await timeline_json(path))["deployments"]
    assert (b["longest_s"], b["out_of_rotation_s"]) == (None, 0.0)  # finished ones only
    assert (b["ongoing_s"], b["longest_so_far_s"], b["out_so_far_s"]) == (600.0, 600.0, 600.0)
    text = await timeline_text(path)
    row = next(line for line in text.splitlines() if line.startswith(did))
    assert row.split()[1] == "quarantined" and "10m00s so far (ongoing)" in row
    assert "out for 10m00s so far" in text
