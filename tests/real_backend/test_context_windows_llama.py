"""Context windows against REAL llama.cpp servers: the window discovered from
``/props`` keeps a prompt away from the 256-token server, and the server's own
overflow error moves the request to one with a larger context.

The tiny model's tokenizer makes one token of each ``x`` (checked with ``/tokenize``),
four times the router's estimate (characters / 4): ``"x" * 600`` passes the pre-check
of a 256-token window (estimate 150) and still overflows it for real (~600 tokens),
while ``"x" * 1200`` (estimate 300) is skipped before any call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from events import AttemptFailed, CandidateSkipped, ModelListRefreshed
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

TIMEOUTS = Timeouts(connect=1.0, first_byte=10.0, idle=10.0, total=20.0)
BIG_CTX = 2048


def windows_config(tmp_path: Path, small: LlamaServer, big: LlamaServer) -> RuntimeConfig:
    """Role ``gen`` = [tiny on the 256-token server, tiny-big on the 2048-token one];
    no ``context_length`` configured: the windows are discovered."""
    return RuntimeConfig(
        endpoints=(
            EndpointConfig(name="small", url=small.url, api="openai", timeouts=TIMEOUTS),
            EndpointConfig(name="big", url=big.url, api="openai", timeouts=TIMEOUTS),
        ),
        models=(
            ModelConfig(name="tiny", deployments=("small",)),
            ModelConfig(name="tiny-big", deployments=("big",)),
        ),
        roles={"gen": RoleConfig(models=("tiny", "tiny-big"))},
        event_log=EventLogConfig(path=str(tmp_path / "events.sqlite3")),
        health=HealthConfig(check_interval_seconds=0, failure_threshold=1),
        retry=RetryConfig(backoff_base=0.0, backoff_cap=0.0),
    )


@pytest.fixture
def big_server(llama_server_factory: LlamaServerFactory) -> LlamaServer:
    return llama_server_factory(ctx=BIG_CTX, alias="tiny-big")


async def test_the_props_window_skips_the_small_server_before_any_call(
    tmp_path: Path, llama_server: LlamaServer, big_server: LlamaServer
) -> None:
    prompt = [{"role": "user", "content": "x" * 1200}]  # estimate 300 > 256
    async with Runtime.from_config(windows_config(tmp_path, llama_server, big_server)) as rt:
        reply = await rt.chat(prompt, role="gen")
        short = await rt.chat([{"role": "user", "content": "hi"}], role="gen", max_tokens=2)
    assert reply.model == "tiny-big" and [r.deployment for r in reply.attempts] == ["tiny-big@big"]
    assert short.model == "tiny"  # what fits still goes to the first model
    log = tmp_path / "events.sqlite3"
    [skip] = await read_events(log, CandidateSkipped)
    assert isinstance(skip.event, CandidateSkipped)
    assert (skip.event.deployment, skip.event.reason) == ("tiny@small", "context_window")
    assert "~300 tokens" in skip.event.detail and "context window of 256" in skip.event.detail
    listed = {
        e.event.endpoint: e.event.context_lengths
        for e in await read_events(log, ModelListRefreshed)
        if isinstance(e.event, ModelListRefreshed)
    }
    assert listed == {"small": {"tiny": 256}, "big": {"tiny-big": BIG_CTX}}  # from /props


async def test_a_real_overflow_moves_to_the_server_with_the_larger_context(
    tmp_path: Path, llama_server: LlamaServer, big_server: LlamaServer
) -> None:
    prompt = [{"role": "user", "content": "x" * 600}]  # estimate 150 fits; ~600 real tokens
    async with Runtime.from_config(windows_config(tmp_path, llama_server, big_server)) as rt:
        reply = await rt.chat(prompt, role="gen")
        health = rt.health().deployment("tiny@small")
    assert [(r.deployment, r.failure, r.status) for r in reply.attempts] == [
        ("tiny@small", "context_overflow", 400),
        ("tiny-big@big", None, None),
    ]
    assert "exceeds the available context size" in reply.attempts[0].message
    assert health.status == "unknown" and health.consecutive_failures == 0  # no penalty
    [failed] = await read_events(tmp_path / "events.sqlite3", AttemptFailed)
    assert isinstance(failed.event, AttemptFailed)
    assert failed.event.failure == "context_overflow"


async def test_a_prompt_too_long_for_every_server_is_rejected_without_a_call(
    tmp_path: Path, llama_server: LlamaServer, big_server: LlamaServer
) -> None:
    prompt = [{"role": "user", "content": "x" * 12_000}]  # estimate 3000 > 2048
    async with Runtime.from_config(windows_config(tmp_path, llama_server, big_server)) as rt:
        with pytest.raises(RequestRejected) as caught:
            await rt.chat(prompt, role="gen")
    assert caught.value.failure == "context_overflow" and caught.value.attempts == ()
    assert f"largest known context window is {BIG_CTX} tokens (tiny-big@big)" in str(caught.value)
