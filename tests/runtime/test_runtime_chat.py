"""Runtime.chat end to end against chaos backends: the public API, routing, fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events import (
    AttemptStarted,
    AttemptSucceeded,
    FallbackSwitched,
    RequestStarted,
    RequestSucceeded,
)
from runtime import (
    AllCandidatesFailed,
    ConfigError,
    HealthConfig,
    InvalidRequest,
    LLMRuntimeError,
    ModelNotFoundError,
    NoCandidates,
    Runtime,
    RuntimeNotRunning,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events

Servers = tuple[ChaosServer, ChaosServer]


async def test_public_api_from_a_yaml_file(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    path = tmp_path / "llm.yaml"
    path.write_text(
        f"""
event_log: {{path: {tmp_path / "events.sqlite3"}}}
endpoints:
  - {{name: a, url: "{a.url}"}}
  - {{name: b, url: "{b.url}"}}
models:
  - {{name: llama3, deployments: [a, b]}}
  - {{name: qwen, alias: small, deployments: [b]}}
roles:
  generator: [llama3, small]
health: {{check_interval_seconds: 0}}
"""
    )
    async with Runtime.from_config(path) as rt:
        reply = await rt.chat(MESSAGES, role="generator")
        by_model = await rt.chat(MESSAGES, model="small", max_tokens=3, temperature=0.1)
    assert reply.content and reply.model == "llama3" and reply.endpoint in ("a", "b")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert [r.ok for r in reply.attempts] == [True] and reply.role == "generator"
    assert (by_model.model, by_model.endpoint) == ("qwen", "b")
    assert len(by_model.content.split()) <= 3  # max_tokens reached the backend
    stream = [
        e
        for e in await read_events(tmp_path / "events.sqlite3")
        if e.stream == f"request/{reply.request_id}"
    ]
    assert [type(e.event) for e in stream] == [
        RequestStarted,
        AttemptStarted,
        AttemptSucceeded,
        RequestSucceeded,
    ]


async def test_invalid_config_is_rejected_whole_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        f'event_log = {{path = "{tmp_path / "never.sqlite3"}"}}\n'
        '[[endpoints]]\nname = "a"\nurl = "file:///etc"\n'
        '[[models]]\nname = "m"\ndeployments = ["a"]\n'
        '[roles]\ngen = ["missing"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        Runtime.from_config(path)
    assert {"endpoints[0].url", "roles.gen[0]"} <= set(caught.value.paths)
    assert not (tmp_path / "never.sqlite3").exists()


async def test_round_robin_alternates_exactly(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        sequential = [(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(20)]
        concurrent = await asyncio.gather(*(rt.chat(MESSAGES, model="llama3") for _ in range(80)))
    assert sequential == ["a", "b"] * 10
    endpoints = [r.endpoint for r in concurrent]
    assert endpoints.count("a") == endpoints.count("b") == 40
    assert a.requests_for(model="llama3", route="/api/chat") == 50
    assert b.requests_for(model="llama3", route="/api/chat") == 50


async def test_fallback_to_the_next_model_of_the_role(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    for server in servers:
        server.set_fault(Fault(kind="http_error", status=500), model="llama3")
    cfg = config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("b",)},
        roles={"generator": ("llama3", "qwen")},
    )
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, role="generator")
    assert (reply.model, reply.endpoint) == ("qwen", "b")
    assert [(r.deployment, r.failure) for r in reply.attempts] == [
        ("llama3@a", "server_error"),
        ("llama3@b", "server_error"),
        ("qwen@b", None),
    ]
    [switch] = await read_events(tmp_path / "events.sqlite3", FallbackSwitched)
    assert isinstance(switch.event, FallbackSwitched)
    assert (switch.event.from_model, switch.event.to_model) == ("llama3", "qwen")
    assert switch.event.reason == "failure" and switch.event.candidates == ("qwen@b",)


async def test_all_candidates_failed_lists_every_attempt(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=503))
    b.set_fault(Fault(kind="http_error", status=500), model="llama3")
    b.set_fault(Fault(kind="out_of_memory"), model="qwen")
    cfg = config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("b",)},
        roles={"generator": ("llama3", "qwen")},
        health=HealthConfig(check_interval_seconds=0, failure_threshold=10, min_calls=10),
    )
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(AllCandidatesFailed) as caught:
            await rt.chat(MESSAGES, role="generator")
    error = caught.value
    assert isinstance(error, LLMRuntimeError)
    assert [(r.attempt, r.deployment, r.failure) for r in error.attempts] == [
        (1, "llama3@a", "server_error"),
        (2, "llama3@b", "server_error"),
        (3, "qwen@b", "out_of_memory"),
    ]
    assert "limit of 3 attempts" in error.reason
    text = str(error)
    assert all(d in text for d in ("llama3@a", "llama3@b", "qwen@b", "out_of_memory"))
    assert "HTTP 503" in error.attempts[0].message


async def test_everything_quarantined_raises_no_candidates(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=500, count=1), model="llama3")
    cfg = config(
        tmp_path,
        {"a": a},
        {"llama3": ("a",)},
        # Without panic probes: with them, the next request would try a (test_panic.py).
        health=HealthConfig(check_interval_seconds=0, failure_threshold=1, panic_probe=False),
        retry=None,
    )
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(AllCandidatesFailed):
            await rt.chat(MESSAGES, model="llama3")
        with pytest.raises(NoCandidates) as caught:
            await rt.chat(MESSAGES, model="llama3")
    assert caught.value.attempts == ()
    [skip] = caught.value.skipped
    assert (skip.deployment, skip.reason) == ("llama3@a", "quarantined")
    assert "llama3@a: quarantined" in str(caught.value)
    assert a.requests_for(route="/api/chat") == 1


async def test_unknown_model_is_refused_fast_without_any_request(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "mistral": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")  # fills the catalog
        with pytest.raises(ModelNotFoundError) as missing:
            await rt.chat(MESSAGES, model="mistral")
        with pytest.raises(ModelNotFoundError) as unconfigured:
            await rt.chat(MESSAGES, model="gpt-17")
        health = rt.health()
    # "fast" means: from the catalog, no chat request (the refusal's latency is measured
    # by ``python -m tests.bench.runtime_chat``, not asserted here)
    listed = ("llama3:latest", "qwen:latest")  # as Ollama's /api/tags lists them
    assert missing.value.model == "mistral" and missing.value.available == listed
    assert f"'mistral' is not served by a ({a.url}); available: llama3:latest" in str(missing.value)
    assert "gpt-17" in str(unconfigured.value) and "llama3" in str(unconfigured.value)
    assert a.requests_for(model="mistral") == 0
    assert a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat") == 1
    assert health.deployment("mistral@a").status == "unknown"  # no health penalty


async def test_bad_calls_say_what_to_fix(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, roles={"generator": ("llama3",)})
    rt = Runtime.from_config(cfg)
    with pytest.raises(RuntimeNotRunning, match="not started"):
        await rt.chat(MESSAGES, role="generator")
    async with rt:
        with pytest.raises(InvalidRequest, match=r"unknown role 'coder'; configured roles: gen"):
            await rt.chat(MESSAGES, role="coder")
        with pytest.raises(InvalidRequest, match="exactly one of role= or model="):
            await rt.chat(MESSAGES)
        with pytest.raises(InvalidRequest, match="not a string"):
            await rt.chat("hi", role="generator")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest, match=r"messages\[0\]"):
            await rt.chat([{"role": "user"}], role="generator")
    with pytest.raises(RuntimeNotRunning, match="closed"):
        await rt.chat(MESSAGES, role="generator")
