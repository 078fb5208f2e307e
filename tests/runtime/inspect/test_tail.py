"""``tail`` over a log a real Runtime wrote: the last N, every filter, JSON, --follow."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from events import (
    ActorRestarted,
    DeploymentDegraded,
    RequestStarted,
    SqliteEventLog,
    StoredEvent,
)
from runtime.inspect import _tail, main
from runtime.inspect._filters import Filter, Matcher
from runtime.inspect._open import open_log
from runtime.inspect._render import Style
from runtime.inspect._tail import run_tail
from tests.runtime._support import eventually
from tests.runtime.inspect._logs import (
    append_events,
    copy_log,
    set_payload,
    set_type,
)

pytestmark = pytest.mark.usefixtures("keep_logging")


def tail(path: Path, *options: str) -> list[dict[str, Any]]:
    """Run ``tail --json`` through ``main`` and parse its lines."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(path), "tail", "--json", *options], stdout=out, stderr=err)
    assert (code, err.getvalue()) == (0, "")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def positions(records: list[dict[str, Any]]) -> list[int]:
    return [r["position"] for r in records]


def test_default_is_the_last_20_oldest_first(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    last = everything[-1].position
    assert positions(tail(demo[0])) == list(range(last - 19, last + 1))
    assert positions(tail(demo[0], "-n", "5")) == list(range(last - 4, last + 1))
    assert positions(tail(demo[0], "--all")) == [e.position for e in everything]


def test_json_lines_carry_the_envelope_and_the_fields(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    records = tail(demo[0], "--all")
    for record, stored in zip(records, everything, strict=True):
        assert record["stream"] == stored.stream and record["type"] == stored.type
        assert record["stream_version"] == stored.stream_version
        assert record["timestamp"] == stored.timestamp and record["time"].endswith("Z")
        assert record["event"]["type"] == stored.type and "unknown" not in record


def test_terminal_lines_when_piped(demo: tuple[Path, dict[str, str]]) -> None:
    out = io.StringIO()
    assert main([str(demo[0]), "tail", "-n", "7"], stdout=out, stderr=io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 7 and "\x1b[" not in out.getvalue()
    assert [int(line.split()[0]) for line in lines] == positions(tail(demo[0], "-n", "7"))


def test_type_filter_and_a_base_type(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    failed = [e.position for e in everything if e.type == "AttemptFailed"]
    assert positions(tail(demo[0], "--type", "AttemptFailed", "--all")) == failed
    assert positions(tail(demo[0], "--type", "AttemptFailed", "-n", "2")) == failed[-2:]
    both = tail(demo[0], "--type", "HealthEvent", "--type", "FallbackSwitched", "--all")
    assert {r["type"] for r in both} >= {"DeploymentQuarantined", "FallbackSwitched"}
    assert all(r["stream"].startswith("health/") or r["type"] == "FallbackSwitched" for r in both)


def _mentions_endpoint_b(record: dict[str, Any]) -> bool:
    text = record["stream"] + json.dumps(record["event"])
    return "@b" in text or record["event"].get("endpoint") == "b"


def test_model_endpoint_and_deployment_filters(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    qwen = tail(path, "--model", "qwen", "--all")
    assert all("qwen" in r["stream"] + json.dumps(r["event"]) for r in qwen)
    assert any(r["type"] == "FallbackSwitched" for r in qwen)
    assert any(
        r["type"] == "DeploymentQuarantined" and r["stream"] == "health/qwen@a" for r in qwen
    )
    on_b = tail(path, "--endpoint", "b", "--all")
    assert on_b and all(_mentions_endpoint_b(r) for r in on_b)
    assert all("qwen" not in r["stream"] for r in on_b)  # qwen is only on a
    deployment = tail(path, "--deployment", ids["quarantined"], "--type", "HealthEvent", "--all")
    kinds = [r["type"] for r in deployment]
    assert {r["stream"] for r in deployment} == {f"health/{ids['quarantined']}"}
    assert kinds.index("DeploymentQuarantined") < kinds.index("DeploymentProbingStarted")


def _requests_for_role(everything: list[StoredEvent], role: str) -> set[str]:
    return {
        e.event.request_id
        for e in everything
        if isinstance(e.event, RequestStarted) and e.event.role == role
    }


def _belongs_to(stored: StoredEvent, requests: set[str]) -> bool:
    event = stored.event
    if stored.stream.removeprefix("request/") in requests:
        return True
    if getattr(event, "request_id", None) in requests:
        return True
    return str(getattr(event, "reservation_id", "")).partition("#")[0] in requests


def test_role_filter_follows_each_request_to_its_role(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    generator = _requests_for_role(everything, "generator")
    expected = [e.position for e in everything if _belongs_to(e, generator)]
    assert len(generator) == 5 and expected
    assert positions(tail(demo[0], "--role", "generator", "--all")) == expected
    assert tail(demo[0], "--role", "nobody", "--all") == []


def test_role_lookup_when_request_started_is_outside_the_window(
    demo: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    every = positions(tail(demo[0], "--role", "generator", "--all"))
    monkeypatch.setattr(_tail, "_FIRST_WINDOW", 2)  # windows split requests apart
    assert positions(tail(demo[0], "--role", "generator", "-n", "3")) == every[-3:]
    assert positions(tail(demo[0], "--role", "generator", "-n", "1000")) == every


def test_request_filter_takes_an_id_or_a_prefix(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    path, ids = demo
    request = ids["fallback_request"]
    expected = [e.position for e in everything if _belongs_to(e, {request})]
    assert positions(tail(path, "--request", request, "--all")) == expected
    kinds = [r["type"] for r in tail(path, "--request", request, "--all")]
    assert "FallbackSwitched" in kinds and "AttemptFailed" in kinds
    assert set(positions(tail(path, "--request", request[:-1], "--all"))) > set(expected)


def test_stream_and_from_position_filters(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    stream = "health/llama3@b"
    expected = [e.position for e in everything if e.stream == stream]
    assert positions(tail(demo[0], "--stream", stream, "--all")) == expected
    later = tail(demo[0], "--from-position", "100", "--all")
    assert positions(later) == [e.position for e in everything if e.position >= 100]
    assert positions(tail(demo[0], "--from-position", "100", "-n", "3"))[0] > 100


async def _timed_log(path: Path) -> list[float]:
    """Three events appended at three known times, the last one now."""
    now = time.time()
    times = [now - 7200, now - 3600, now]
    for i, moment in enumerate(times, start=1):
        restarted = ActorRestarted(actor="x", restart=i, delay=0.1)
        await append_events(path, "actor/x", [restarted], now=moment)
    return times


def test_since_and_until(tmp_path: Path) -> None:
    path = tmp_path / "timed.sqlite3"
    times = asyncio.run(_timed_log(path))
    restarts = [r["event"]["restart"] for r in tail(path, "--since", "90m", "--all")]
    assert restarts == [2, 3]
    assert [r["event"]["restart"] for r in tail(path, "--until", "90m", "--all")] == [1]
    exact = tail(path, "--since", str(times[1]), "--until", str(times[1]), "--all")
    assert [r["event"]["restart"] for r in exact] == [2]


def test_undecodable_rows_show_as_unknown(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    with sqlite3.connect(path) as conn:
        set_type(conn, 3, "FromTheFuture")
        set_payload(conn, 4, b"{{")
    conn.close()
    records = {r["position"]: r for r in tail(path, "--all")}
    assert records[3]["event"] is None and records[3]["unknown"]["reason"] == "unknown type"
    assert records[3]["unknown"]["type"] == "FromTheFuture"
    assert records[4]["event"] is None and "undecodable" in records[4]["unknown"]["reason"]
    assert tail(path, "--type", "AttemptStarted", "--from-position", "3", "-n", "1")


async def test_follow_sees_what_another_writer_appends(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    out = io.StringIO()
    matcher = Matcher(Filter(types=("DeploymentDegraded",), limit=1))
    async with open_log(path) as reader:
        follower = asyncio.create_task(
            run_tail(reader, matcher, json=True, follow=True, style=Style(), out=out)
        )
        await eventually(lambda: out.getvalue().count("\n") == 1)  # the last one so far
        async with await SqliteEventLog.open(path) as writer:
            await writer.append("actor/x", [ActorRestarted(actor="x", restart=1, delay=0.0)])
            await writer.append(
                "health/m@e", [DeploymentDegraded(deployment="m@e", at=1.0, reason="slow")]
            )
            await eventually(lambda: out.getvalue().count("\n") == 2, within=10.0)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["type"] for r in lines] == ["DeploymentDegraded", "DeploymentDegraded"]
    assert lines[-1]["event"]["reason"] == "slow" and lines[-1]["stream"] == "health/m@e"


async def test_tail_while_a_writer_is_open_and_appending(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    async with await SqliteEventLog.open(path) as writer:
        for i in range(3):
            await writer.append("actor/live", [ActorRestarted(actor="live", restart=i, delay=0.0)])
        first = await asyncio.to_thread(tail, path, "--stream", "actor/live", "--all")
        await writer.append("actor/live", [ActorRestarted(actor="live", restart=3, delay=0.0)])
        second = await asyncio.to_thread(tail, path, "--stream", "actor/live", "--all")
        assert await writer.last_position() == second[-1]["position"]
    assert [r["event"]["restart"] for r in first] == [0, 1, 2]
    assert [r["event"]["restart"] for r in second] == [0, 1, 2, 3]
