"""The Runtime end to end against REAL llama.cpp servers (xllamacpp, tiny model, ctx 256).

What the chaos backend cannot prove: that the runtime's OpenAI client, classifier and
health machinery work against the bytes a real llama.cpp server sends, and against a
real process that is ``kill -9``-ed and restarted on the same port.

Real clock throughout (the servers are real); durations are kept short
(``quarantine_seconds`` of about a second) so the module stays well under 20 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from events import AttemptFailed, AttemptStarted, DeploymentQuarantined, DeploymentRecovered
from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    RequestRejected,
    RetryConfig,
    RoleConfig,
    Runtime,
    RuntimeConfig,
    Timeouts,
)
from tests.real_backend.server import LlamaServer, LlamaServerFactory
from tests.runtime._support import read_events

pytestmark = pytest.mark.real_backend

MODEL = "tiny"  # the alias every LlamaServer serves
MESSAGES = [{"role": "user", "content": "hello world"}]
# llama.cpp answers in milliseconds here; generous but finite deadlines.
TIMEOUTS = Timeouts(connect=1.0, first_byte=5.0, idle=5.0, total=10.0)
NO_BACKOFF = RetryConfig(backoff_base=0.0, backoff_cap=0.0)


def llama_config(
    tmp_path: Path,
    servers: Sequence[LlamaServer],
    *,
    health: HealthConfig | None = None,
    log_name: str = "events.sqlite3",
) -> RuntimeConfig:
    """One ``api: openai`` endpoint per server (l1, l2, ...), one model over all of them."""
    names = [f"l{i + 1}" for i in range(len(servers))]
    return RuntimeConfig(
        endpoints=tuple(
            EndpointConfig(name=name, url=server.url, api="openai", timeouts=TIMEOUTS)
            for name, server in zip(names, servers, strict=True)
        ),
        models=(ModelConfig(name=MODEL, deployments=tuple(names)),),
        roles={"gen": RoleConfig(models=(MODEL,))},
        event_log=EventLogConfig(path=str(tmp_path / log_name)),
        health=health or HealthConfig(check_interval_seconds=0),
        retry=NO_BACKOFF,
    )


async def test_chat_and_stream_against_llama_cpp(tmp_path: Path, llama_server: LlamaServer) -> None:
    cfg = llama_config(tmp_path, [llama_server])
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, model=MODEL, max_tokens=5)
        by_role = await rt.chat(MESSAGES, role="gen", max_tokens=3)
        chunks = [c async for c in rt.stream(MESSAGES, model=MODEL, max_tokens=6)]
        health = rt.health().deployment("tiny@l1")

    assert reply.content and (reply.model, reply.endpoint) == (MODEL, "l1")
    assert reply.usage is not None and reply.usage.completion_tokens == 5  # never samples EOS
    assert reply.usage.prompt_tokens > 0 and reply.finish_reason == "length"
    assert [r.ok for r in reply.attempts] == [True]
    assert by_role.role == "gen" and by_role.usage is not None
    assert by_role.usage.completion_tokens == 3

    *body, final = chunks
    assert body and all(c.content and not c.done for c in body)
    assert final.done and final.finish_reason == "length"
    # The runtime asks for stream_options.include_usage; llama.cpp then sends usage.
    assert final.usage is not None and final.usage.completion_tokens == 6
    assert {(c.model, c.endpoint) for c in chunks} == {(MODEL, "l1")}
    assert health.status == "healthy"


async def test_context_overflow_is_the_requests_fault_sent_once_and_not_penalised(
    tmp_path: Path, llama_server_factory: LlamaServerFactory
) -> None:
    # Two deployments: a retry storm or a "fallback" to the second would show up there.
    servers = [llama_server_factory(), llama_server_factory()]
    health = HealthConfig(check_interval_seconds=0, failure_threshold=1)  # 1 strike = out
    cfg = llama_config(tmp_path, servers, health=health)
    # One token per "x" here: ~600 tokens, far beyond ctx 256, while the router's
    # estimate (characters / 4 = 150) fits the discovered window, so the backend is
    # asked and answers the overflow (a larger estimate is skipped before any call,
    # see test_context_windows_llama.py); l2 has no larger window: not tried.
    prompt = "x" * 600
    async with Runtime.from_config(cfg) as rt:
        for call in ("chat", "stream"):
            with pytest.raises(RequestRejected) as caught:
                if call == "chat":
                    await rt.chat([{"role": "user", "content": prompt}], model=MODEL)
                else:
                    async for _ in rt.stream([{"role": "user", "content": prompt}], model=MODEL):
                        pass
            error = caught.value
            assert error.failure == "context_overflow", call
            assert len(error.attempts) == 1 and error.attempts[0].status == 400, call
            assert "exceeds the available context size" in error.attempts[0].message, call
        summary = rt.health()
        after = await rt.chat(MESSAGES, model=MODEL, max_tokens=2)  # both still serve
        after2 = await rt.chat(MESSAGES, model=MODEL, max_tokens=2)
    assert {d.status for d in summary.models[MODEL].deployments} == {"unknown"}
    assert all(d.consecutive_failures == 0 for d in summary.models[MODEL].deployments)
    assert {after.endpoint, after2.endpoint} == {"l1", "l2"}
    started = await read_events(tmp_path / "events.sqlite3", AttemptStarted)
    quarantined = await read_events(tmp_path / "events.sqlite3", DeploymentQuarantined)
    assert len(started) == 2 + 2  # one attempt per rejected request, then the two good ones
    assert quarantined == []


async def test_kill_9_one_of_two_servers_fails_nothing_then_it_recovers(
    tmp_path: Path, llama_server_factory: LlamaServerFactory
) -> None:
    l1, l2 = llama_server_factory(), llama_server_factory()
    health = HealthConfig(
        check_interval_seconds=0,
        failure_threshold=2,
        quarantine_seconds=1.0,
        quarantine_max_seconds=1.0,
        half_open_probes=1,
    )
    cfg = llama_config(tmp_path, [l1, l2], health=health)
    async with Runtime.from_config(cfg) as rt:
        warm = [(await rt.chat(MESSAGES, model=MODEL, max_tokens=2)).endpoint for _ in range(4)]
        l1.kill()  # SIGKILL: connection refused from now on
        during = [await rt.chat(MESSAGES, model=MODEL, max_tokens=2) for _ in range(10)]
        quarantined = rt.health().deployment("tiny@l1")
        until = quarantined.quarantined_until
        # Quarantined: l1 is no longer even tried.
        skipped = [await rt.chat(MESSAGES, model=MODEL, max_tokens=2) for _ in range(4)]

        await asyncio.to_thread(l1.start)  # same port
        assert until is not None
        await asyncio.sleep(max(0.0, until - time.time()) + 0.05)  # past the deadline
        recovered = [
            (await rt.chat(MESSAGES, model=MODEL, max_tokens=2)).endpoint for _ in range(6)
        ]
        healed = rt.health().deployment("tiny@l1")

    assert sorted(warm) == ["l1", "l1", "l2", "l2"]
    # Zero user-visible failures, every answer from the survivor.
    assert [r.endpoint for r in during] == ["l2"] * 10
    failed_attempts = [a for r in during for a in r.attempts if not a.ok]
    assert len(failed_attempts) == 2  # the threshold, then l1 is skipped
    assert {(a.deployment, a.failure) for a in failed_attempts} == {("tiny@l1", "connection")}
    assert quarantined.status == "quarantined" and quarantined.last_failure == "connection"
    assert all(len(r.attempts) == 1 and r.endpoint == "l2" for r in skipped)
    # After the deadline the next request probes l1, the probe passes, traffic returns.
    assert recovered.count("l1") >= 2 and recovered.count("l2") >= 2
    assert healed.status == "healthy" and healed.consecutive_failures == 0
    log = tmp_path / "events.sqlite3"
    [q] = await read_events(log, DeploymentQuarantined)
    # unknown -> healthy is a DeploymentRecovered too: the one that counts is after q.
    recoveries = [
        e for e in await read_events(log, DeploymentRecovered) if e.stream == "health/tiny@l1"
    ]
    assert q.stream == "health/tiny@l1" and recoveries[-1].position > q.position
    failures = [e.event for e in await read_events(log, AttemptFailed)]
    assert [(f.deployment, f.failure) for f in failures if isinstance(f, AttemptFailed)] == [
        ("tiny@l1", "connection"),
        ("tiny@l1", "connection"),
    ]


async def test_a_restarted_runtime_keeps_the_quarantine_of_a_dead_server(
    tmp_path: Path, llama_server_factory: LlamaServerFactory
) -> None:
    l1, l2 = llama_server_factory(), llama_server_factory()
    health = HealthConfig(check_interval_seconds=0, failure_threshold=1, quarantine_seconds=60)
    cfg = llama_config(tmp_path, [l1, l2], health=health)
    l1.kill()
    async with Runtime.from_config(cfg) as rt:
        first = await rt.chat(MESSAGES, model=MODEL, max_tokens=2)  # l1 refuses, l2 answers
        before = rt.health().deployment("tiny@l1")
    await asyncio.to_thread(l1.start)  # back up, but the quarantine has 60 s to run
    async with Runtime.from_config(cfg) as rt:
        after = rt.health().deployment("tiny@l1")
        replies = [await rt.chat(MESSAGES, model=MODEL, max_tokens=2) for _ in range(4)]
    assert [(a.deployment, a.failure) for a in first.attempts] == [
        ("tiny@l1", "connection"),
        ("tiny@l2", None),
    ]
    assert before.status == after.status == "quarantined"
    assert after.quarantined_until == pytest.approx(before.quarantined_until)
    assert [r.endpoint for r in replies] == ["l2"] * 4
    assert all(len(r.attempts) == 1 for r in replies)  # l1 was not even tried
