"""Context windows through ``rt.chat`` over chaos backends: a request too long for a
small model goes to a bigger one (planned skip or the backend's overflow error), and
only when nothing fits is it rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from events import CandidateSkipped, ModelListRefreshed, RequestStarted
from runtime import ConfigError, RequestRejected, Runtime, RuntimeConfig
from runtime._config_load import config_from_raw
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import config, read_events
from tests.runtime.inspect._requests import explain_text

Servers = tuple[ChaosServer, ChaosServer]

LONG = [{"role": "user", "content": "word " * 80}]  # 400 characters: ~100 tokens


def chain(tmp_path: Path, servers: Servers, **lengths: int | None) -> RuntimeConfig:
    """Role ``chat`` = [llama3 on a, qwen on b], with the given ``context_length``s."""
    a, b = servers
    cfg = config(
        tmp_path, {"a": a, "b": b}, {"llama3": ("a",), "qwen": ("b",)},
        roles={"chat": ("llama3", "qwen")},
    )  # fmt: skip
    models = tuple(
        msgspec.structs.replace(m, context_length=lengths.get(m.name.split(":")[0]))
        for m in cfg.models
    )
    return msgspec.structs.replace(cfg, models=models)


async def test_a_prompt_too_long_for_the_small_model_skips_it_for_the_big_one(
    tmp_path: Path, servers: Servers
) -> None:
    a = servers[0]
    async with Runtime.from_config(chain(tmp_path, servers, llama3=64, qwen=32768)) as rt:
        reply = await rt.chat(LONG, role="chat", max_tokens=16)
    assert reply.model == "qwen" and [r.deployment for r in reply.attempts] == ["qwen@b"]
    assert a.requests_for(route="/api/chat") == 0  # never sent to the small one
    [skip] = await read_events(tmp_path / "events.sqlite3", CandidateSkipped)
    assert isinstance(skip.event, CandidateSkipped)
    assert (skip.event.deployment, skip.event.reason) == ("llama3@a", "context_window")
    assert "~116 tokens" in skip.event.detail and "context window of 64" in skip.event.detail
    [started] = await read_events(tmp_path / "events.sqlite3", RequestStarted)
    assert isinstance(started.event, RequestStarted)
    assert started.event.candidates == ("qwen@b",)  # the small one was never planned


async def test_a_short_prompt_still_goes_to_the_small_model(
    tmp_path: Path, servers: Servers
) -> None:
    async with Runtime.from_config(chain(tmp_path, servers, llama3=64, qwen=32768)) as rt:
        reply = await rt.chat([{"role": "user", "content": "hi"}], role="chat", max_tokens=16)
    assert reply.model == "llama3"


async def test_a_backend_overflow_moves_to_the_larger_model_without_a_health_penalty(
    tmp_path: Path, servers: Servers
) -> None:
    a = servers[0]
    a.set_fault(Fault(kind="context_overflow", flavor="llamacpp"), model="llama3")
    async with Runtime.from_config(chain(tmp_path, servers, qwen=32768)) as rt:
        reply = await rt.chat(LONG, role="chat")
        health = rt.health().deployment("llama3@a")
    assert reply.model == "qwen"
    assert [(r.deployment, r.failure) for r in reply.attempts] == [
        ("llama3@a", "context_overflow"),
        ("qwen@b", None),
    ]
    assert health.status == "unknown"  # the request's fault, not the backend's


async def test_an_overflow_skips_a_model_whose_window_is_not_larger(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="context_overflow"), model="llama3")
    cfg = chain(tmp_path, servers, llama3=4096, qwen=4096)
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(RequestRejected) as caught:
            await rt.chat(LONG, role="chat")
    assert caught.value.failure == "context_overflow"
    assert [r.deployment for r in caught.value.attempts] == ["llama3@a"]
    assert "largest known context window is 4096 tokens" in str(caught.value)
    assert b.requests_for(route="/api/chat") == 0
    skips = await read_events(tmp_path / "events.sqlite3", CandidateSkipped)
    details = [(s.event.deployment, s.event.reason, s.event.detail) for s in skips
               if isinstance(s.event, CandidateSkipped)]  # fmt: skip
    assert details == [
        (
            "qwen@b",
            "context_window",
            "llama3@a overflowed with a window of 4096; this one's is 4096",
        )
    ]


async def test_when_nothing_fits_the_request_is_rejected_with_the_numbers(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    async with Runtime.from_config(chain(tmp_path, servers, llama3=32, qwen=64)) as rt:
        with pytest.raises(RequestRejected) as caught:
            await rt.chat(LONG, role="chat", max_tokens=16)
    text = str(caught.value)
    assert (
        "needs ~116 tokens" in text and "largest known context window is 64 tokens (qwen@b)" in text
    )
    assert caught.value.attempts == ()
    assert a.requests_for(route="/api/chat") == b.requests_for(route="/api/chat") == 0


async def test_ollama_windows_are_not_discovered_so_nothing_is_skipped(
    tmp_path: Path, servers: Servers
) -> None:
    # Ollama truncates a prompt beyond num_ctx rather than failing, and reports only the
    # training context: without context_length or num_ctx, the window is unknown.
    a = servers[0]
    huge = [{"role": "user", "content": "x" * 40_000}]  # ~10000 tokens
    async with Runtime.from_config(chain(tmp_path, servers)) as rt:
        reply = await rt.chat(huge, role="chat")
    assert reply.model == "llama3"
    assert a.requests_for(route="/api/show") == 0  # no metadata traffic
    assert await read_events(tmp_path / "events.sqlite3", CandidateSkipped) == []
    lists = await read_events(tmp_path / "events.sqlite3", ModelListRefreshed)
    assert lists and all(
        isinstance(e.event, ModelListRefreshed) and e.event.context_lengths == {} for e in lists
    )


async def test_options_num_ctx_is_the_window_of_an_ollama_model(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = chain(tmp_path, servers)
    llama3 = msgspec.structs.replace(cfg.models[0], options={"num_ctx": 64})
    cfg = msgspec.structs.replace(cfg, models=(llama3, *cfg.models[1:]))
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(LONG, role="chat")
    assert reply.model == "qwen"
    [skip] = await read_events(tmp_path / "events.sqlite3", CandidateSkipped)
    assert isinstance(skip.event, CandidateSkipped)
    assert "context window of 64" in skip.event.detail


def test_context_length_must_be_a_positive_count() -> None:
    raw: dict[str, Any] = {
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama3", "deployments": ["a"], "context_length": 2048}],
    }
    assert config_from_raw(raw).models[0].context_length == 2048
    raw["models"][0]["context_length"] = 0
    with pytest.raises(ConfigError) as caught:
        config_from_raw(raw)
    assert caught.value.paths == ("models[0].context_length",)


async def test_explain_shows_the_skip_and_the_overflow(tmp_path: Path, servers: Servers) -> None:
    a = servers[0]
    async with Runtime.from_config(chain(tmp_path, servers, llama3=64, qwen=32768)) as rt:
        skipped = await rt.chat(LONG, role="chat", max_tokens=16)
    text = " ".join((await explain_text(tmp_path / "events.sqlite3", skipped.request_id)).split())
    assert "skipped llama3@a: the request does not fit its context window" in text
    assert "needs ~116 tokens" in text

    a.set_fault(Fault(kind="context_overflow", flavor="openai"), model="llama3")
    cfg = chain(tmp_path, servers, qwen=32768)
    async with Runtime.from_config(cfg) as rt:
        moved = await rt.chat(LONG, role="chat")
    text = " ".join((await explain_text(tmp_path / "events.sqlite3", moved.request_id)).split())
    assert "context_overflow (not retryable), HTTP 400" in text
    assert "too long for this context window: a larger one is tried next" in text
