"""``explain`` on logs a real Runtime wrote over chaos backends."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from events import AttemptStarted, RequestFailed, RequestStarted, SqliteEventLog
from runtime import (
    HealthConfig,
    QuotaConfig,
    QuotaExceeded,
    QuotaLimit,
    Runtime,
    RuntimeConfig,
    StreamBroken,
)
from runtime.inspect import main
from runtime.inspect._errors import InspectError
from runtime.inspect._explain import find_request, run_explain
from runtime.inspect._render import Style
from runtime.inspect._when import clock_time
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config
from tests.runtime.inspect._logs import append_events
from tests.runtime.inspect._requests import WALL, explain_json, explain_text, positions_of

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"
QUICK_QUARANTINE = HealthConfig(
    check_interval_seconds=0, failure_threshold=1, quarantine_seconds=30
)


def chain_config(
    tmp_path: Path, servers: Servers, health: HealthConfig | None = None
) -> RuntimeConfig:
    """llama3 on a and b, qwen on a; role ``gen`` = llama3, then qwen."""
    a, b = servers
    return config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("a",)},
        roles={"gen": ("llama3", "qwen")},
        health=health,
    )


async def test_a_fallback_shows_each_failure_the_quarantines_and_the_answer(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    b.set_fault(Fault(kind="http_error", status=503), model="llama3")
    cfg = chain_config(tmp_path, servers, QUICK_QUARANTINE)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        reply = await rt.chat(MESSAGES, role="gen")
    assert (reply.model, reply.endpoint) == ("qwen", "a")

    expl = await explain_json(tmp_path / LOG, reply.request_id)
    assert expl["request_id"] == reply.request_id and expl["role"] == "gen"
    assert expl["chain"] == ["llama3", "qwen"]
    assert [c["deployment"] for c in expl["candidates"]] == ["llama3@a", "llama3@b", "qwen@a"]
    steps = [(s["kind"], s["deployment"]) for s in expl["steps"]]
    assert steps == [
        ("attempt", "llama3@a"),
        ("health", "llama3@a"),  # its failure quarantined it (threshold 1)
        ("attempt", "llama3@b"),
        ("health", "llama3@b"),
        ("fallback", None),
        ("attempt", "qwen@a"),
        ("health", "qwen@a"),  # first success: unknown -> healthy
        ("finished", "qwen@a"),
    ]
    first, _, second = expl["steps"][:3]
    assert (first["data"]["failure"], first["data"]["status"]) == ("server_error", 500)
    assert second["data"]["status"] == 503 and second["data"]["retryable"] is True
    assert expl["outcome"]["status"] == "succeeded" and expl["outcome"]["attempts"] == 3
    assert expl["fallbacks"] == 1

    text = await explain_text(tmp_path / LOG, reply.request_id)
    until = clock_time(WALL + 30)
    assert (
        "attempt 1 on llama3@a: failed after" in text
        and "server_error (retryable), HTTP 500" in text
    )
    assert f"health: llama3@a quarantined for 30s (until {until})" in text
    assert "fell back from llama3 to qwen because its attempts failed" in text
    assert "answered by qwen@a after 3 attempts" in text
    assert (
        "It fell back once: from llama3 to qwen, because llama3@a failed (server_error) and "
        "llama3@b failed (server_error)." in " ".join(text.split())
    )


async def test_a_quarantined_candidate_is_shown_skipped_with_its_deadline(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    _, b = servers
    b.set_fault(Fault(kind="http_error", status=500), model="llama3")
    cfg = chain_config(tmp_path, servers, QUICK_QUARANTINE)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        first = await rt.chat(MESSAGES, model="llama3")  # round-robin: a
        second = await rt.chat(MESSAGES, model="llama3")  # b fails, is quarantined; a answers
        await clock.advance(5.0)
        third = await rt.chat(MESSAGES, model="llama3")  # b is skipped
    assert first.endpoint == second.endpoint == third.endpoint == "a"

    expl = await explain_json(tmp_path / LOG, third.request_id)
    skipped = [s for s in expl["steps"] if s["kind"] == "skipped"]
    assert [(s["deployment"], s["data"]["reason"]) for s in skipped] == [
        ("llama3@b", "quarantined")
    ]
    assert skipped[0]["text"] == f"skipped llama3@b: quarantined (until {clock_time(WALL + 30)})"
    assert [c["deployment"] for c in expl["candidates"]] == ["llama3@a"]
    assert expl["summary"].endswith("Skipped without a call: llama3@b (quarantined).")


async def test_quota_skips_and_refusals_are_explained(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    quota = QuotaConfig(per_model={"llama3": QuotaLimit(daily_requests=1)}, on_exceeded="fallback")
    cfg = msgspec.structs.replace(chain_config(tmp_path, servers), quota=quota)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        await rt.chat(MESSAGES, role="gen")
        await clock.advance(1.0)  # apart in time: the first request's health is not this one's
        moved = await rt.chat(MESSAGES, role="gen")  # llama3 is out of quota: qwen
    assert moved.model == "qwen"
    expl = await explain_json(tmp_path / LOG, moved.request_id)
    kinds = [(s["kind"], s["deployment"]) for s in expl["steps"]]
    assert kinds[:2] == [("skipped", "llama3@b"), ("fallback", None)]
    assert expl["steps"][0]["text"] == "skipped llama3@b: the quota is used up"
    assert expl["steps"][1]["data"]["reason"] == "quota"
    assert (
        "from llama3 to qwen, because llama3@b was skipped (the quota is used up)"
        in (expl["summary"])
    )

    refuse = msgspec.structs.replace(quota, on_exceeded="fail")
    cfg = msgspec.structs.replace(cfg, quota=refuse)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        with pytest.raises(QuotaExceeded):
            await rt.chat(MESSAGES, model="llama3")
    [refused] = await positions_of(tmp_path / LOG, RequestFailed)
    assert isinstance(refused.event, RequestFailed)
    expl = await explain_json(tmp_path / LOG, refused.event.request_id)
    assert expl["outcome"]["status"] == "failed" and expl["outcome"]["attempts"] == 0
    assert expl["outcome"]["error_type"] == "QuotaExceeded"
    assert expl["summary"].startswith("No attempt was made")


async def test_a_stream_and_a_broken_stream(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = chain_config(tmp_path, servers)
    async with Runtime.from_config(cfg) as rt:
        chunks = [c async for c in rt.stream(MESSAGES, model="qwen")]
        a.set_fault(Fault(kind="error_in_stream", after_chunks=3), model="qwen")
        with pytest.raises(StreamBroken) as broken:
            async for _ in rt.stream(MESSAGES, model="qwen"):
                pass
    fine = await explain_json(tmp_path / LOG, chunks[-1].request_id)
    assert fine["stream"] is True and fine["outcome"]["status"] == "succeeded"
    attempt = fine["steps"][0]
    assert attempt["data"]["ttft_s"] is not None and "first token after" in attempt["text"]

    rid = broken.value.request_id
    expl = await explain_json(tmp_path / LOG, rid)
    assert expl["outcome"]["status"] == "interrupted" and expl["outcome"]["partial_chars"] > 0
    assert "the stream broke after" in expl["steps"][0]["text"]
    text = await explain_text(tmp_path / LOG, rid)
    assert "streaming" in text and "a stream cannot fall back once text is delivered" in (
        " ".join(text.split())
    )


async def test_ids_are_found_by_a_unique_prefix_or_refused_clearly(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = chain_config(tmp_path, servers)
    async with Runtime.from_config(cfg) as rt:
        ids = [(await rt.chat(MESSAGES, model="llama3")).request_id for _ in range(3)]
    common = _common_prefix(ids)
    async with await SqliteEventLog.open_readonly(tmp_path / LOG) as log:
        for rid in ids:
            assert await find_request(log, rid) == rid
            assert await find_request(log, _shortest_unique(rid, ids)) == rid
        with pytest.raises(InspectError, match="matches 3 requests") as ambiguous:
            await find_request(log, common)
        assert "give more of the id" in str(ambiguous.value)
        with pytest.raises(InspectError) as missing:
            await find_request(log, "nope")
        assert "no request 'nope'" in str(missing.value)
        assert ids[2] in str(missing.value) and "tail --type RequestStarted" in str(missing.value)
        with pytest.raises(InspectError, match="give a request id"):
            await find_request(log, "  ")


def _common_prefix(ids: list[str]) -> str:
    prefix = ids[0]
    for other in ids[1:]:
        while not other.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def _shortest_unique(rid: str, ids: list[str]) -> str:
    return next(
        rid[:n] for n in range(1, len(rid) + 1) if sum(i.startswith(rid[:n]) for i in ids) == 1
    )


async def test_an_empty_log_says_so(tmp_path: Path) -> None:
    path = tmp_path / LOG
    async with await SqliteEventLog.open(path):
        pass
    async with await SqliteEventLog.open_readonly(path) as log:
        with pytest.raises(InspectError, match="the log is empty"):
            await run_explain(log, "abc", json=False, style=Style(), out=io.StringIO())


@pytest.mark.usefixtures("keep_logging")
async def test_the_cli_runs_explain(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=500, count=1), model="llama3")
    async with Runtime.from_config(chain_config(tmp_path, servers)) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
    out, err = io.StringIO(), io.StringIO()
    argv = [str(tmp_path / LOG), "explain", reply.request_id[:8]]  # the only request
    code = await asyncio.to_thread(main, argv, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert f"Request {reply.request_id}" in out.getvalue()
    assert "answered by llama3@b after 2 attempts" in out.getvalue()
    code = await asyncio.to_thread(
        main, [str(tmp_path / LOG), "explain", "zz"], stdout=out, stderr=err
    )
    assert code == 2 and err.getvalue().startswith("error: no request 'zz'")


async def test_a_request_stream_without_its_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / LOG
    begun = AttemptStarted(
        request_id="abc", at=WALL, attempt=1, deployment="llama3@a", model="llama3", endpoint="a"
    )
    await append_events(path, "request/abc", [begun], now=WALL)
    async with await SqliteEventLog.open_readonly(path) as log:
        with pytest.raises(InspectError, match="request abc cannot be explained"):
            await run_explain(log, "abc", json=True, style=Style(), out=io.StringIO())


async def test_explain_shows_health_of_the_deployments_each_request_reached(
    demo: tuple[Path, dict[str, str]],
) -> None:
    """While b was probed and recovered, requests answered by a at once do not show it."""
    path = demo[0]
    started = await positions_of(path, RequestStarted)
    unreached = 0
    for stored in started:
        assert isinstance(stored.event, RequestStarted)
        found = await explain_json(path, stored.event.request_id)
        reached = {s["deployment"] for s in found["steps"] if s["kind"] in ("attempt", "skipped")}
        assert {s["deployment"] for s in found["steps"] if s["kind"] == "health"} <= reached
        unreached += found["unreached_changes"]
    assert unreached > 0  # the demo has such requests: the filter did something
