"""Per-model ``fallbacks``: ``model=`` calls and role chains fall back to them, on two
chaos backends; the config refuses fallbacks that name nothing it knows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from events import AttemptStarted, FallbackSwitched, RequestStarted
from runtime import (
    AllCandidatesFailed,
    ConfigError,
    EndpointConfig,
    ModelConfig,
    RoleConfig,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, read_events
from tests.runtime.inspect._requests import explain_json, explain_text

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"


@pytest.fixture
async def three() -> AsyncIterator[Servers]:
    """Two backends ``a`` and ``b``, both serving llama3, qwen and tiny."""
    async with (
        ChaosServer(["llama3", "qwen", "tiny"], seed=3) as a,
        ChaosServer(["llama3", "qwen", "tiny"], seed=4) as b,
    ):
        yield a, b


def with_models(
    tmp_path: Path,
    servers: Servers,
    models: tuple[ModelConfig, ...],
    roles: dict[str, tuple[str, ...]] | None = None,
) -> RuntimeConfig:
    """Endpoints a and b over ``servers``, with ``models`` (and ``roles``) as given."""
    a, b = servers
    base = config(tmp_path, {"a": a, "b": b}, {m.name: m.deployments for m in models})
    role_configs = {name: RoleConfig(models=chain) for name, chain in (roles or {}).items()}
    return msgspec.structs.replace(base, models=models, roles=role_configs)


def llama3_then_qwen(tmp_path: Path, servers: Servers) -> RuntimeConfig:
    """llama3 on a (falls back to qwen), qwen on b."""
    return with_models(
        tmp_path,
        servers,
        (
            ModelConfig(name="llama3", deployments=("a",), fallbacks=("qwen",)),
            ModelConfig(name="qwen", deployments=("b",)),
        ),
    )


async def test_a_failing_model_falls_back_to_its_fallback_and_explain_shows_it(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    async with Runtime.from_config(llama3_then_qwen(tmp_path, servers)) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
    assert (reply.model, reply.endpoint) == ("qwen", "b")
    assert [r.deployment for r in reply.attempts] == ["llama3@a", "qwen@b"]  # one try, not 3
    assert a.requests_for(model="llama3", route="/api/chat") == 1
    assert b.requests_for(model="qwen", route="/api/chat") == 1
    [started] = [e.event for e in await read_events(tmp_path / LOG, RequestStarted)]
    assert isinstance(started, RequestStarted)
    assert started.model == "llama3" and started.chain == ("llama3", "qwen")
    [switched] = [e.event for e in await read_events(tmp_path / LOG, FallbackSwitched)]
    assert isinstance(switched, FallbackSwitched)
    assert (switched.from_model, switched.to_model, switched.reason) == (
        "llama3",
        "qwen",
        "failure",
    )
    text = await explain_text(tmp_path / LOG, reply.request_id)
    assert "llama3 -> qwen" in text
    assert "fell back from llama3 to qwen" in text
    assert "answered by qwen@b after 2 attempts, 1 fallback" in text


async def test_a_healthy_model_does_not_touch_its_fallback(
    tmp_path: Path, servers: Servers
) -> None:
    _, b = servers
    async with Runtime.from_config(llama3_then_qwen(tmp_path, servers)) as rt:
        replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(3)]
    assert {(r.model, r.endpoint) for r in replies} == {("llama3", "a")}
    assert b.requests_for(model="qwen", route="/api/chat") == 0
    assert await read_events(tmp_path / LOG, FallbackSwitched) == []


async def test_fallbacks_are_tried_in_order_and_named_by_alias(
    tmp_path: Path, three: Servers
) -> None:
    a, b = servers = three
    a.set_fault(Fault(kind="http_error", status=503), model="llama3")
    b.set_fault(Fault(kind="http_error", status=503), model="qwen")
    cfg = with_models(
        tmp_path,
        servers,
        (
            ModelConfig(name="llama3", deployments=("a",), fallbacks=("quick", "llama3-b")),
            ModelConfig(name="qwen", alias="quick", deployments=("b",)),
            ModelConfig(name="tiny", alias="llama3-b", deployments=("b",)),
        ),
    )
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
    assert (reply.model, reply.endpoint) == ("tiny", "b")
    switches = [e.event for e in await read_events(tmp_path / LOG, FallbackSwitched)]
    assert [(s.from_model, s.to_model) for s in switches if isinstance(s, FallbackSwitched)] == [
        ("llama3", "qwen"),
        ("qwen", "tiny"),
    ]


async def test_every_model_failing_lists_the_attempts_on_the_whole_chain(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500))
    b.set_fault(Fault(kind="http_error", status=500))
    async with Runtime.from_config(llama3_then_qwen(tmp_path, servers)) as rt:
        with pytest.raises(AllCandidatesFailed) as info:
            await rt.chat(MESSAGES, model="llama3")
    attempts = [e.event for e in await read_events(tmp_path / LOG, AttemptStarted)]
    tried = [e.deployment for e in attempts if isinstance(e, AttemptStarted)]
    assert tried[:2] == ["llama3@a", "qwen@b"]
    assert "qwen@b" in str(info.value)


async def test_a_role_tries_a_models_fallbacks_right_after_it(
    tmp_path: Path, three: Servers
) -> None:
    """Role [llama3, tiny] with llama3.fallbacks [qwen]: llama3, qwen, tiny."""
    a, b = servers = three
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    b.set_fault(Fault(kind="http_error", status=500), model="qwen")
    cfg = with_models(
        tmp_path,
        servers,
        (
            ModelConfig(name="llama3", deployments=("a",), fallbacks=("qwen",)),
            ModelConfig(name="qwen", deployments=("b",), fallbacks=("llama3",)),
            ModelConfig(name="tiny", deployments=("b",)),
        ),
        roles={"gen": ("llama3", "tiny")},
    )
    assert cfg.role_chain("gen") == ("llama3", "qwen", "tiny")
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, role="gen")
    assert (reply.model, reply.endpoint) == ("tiny", "b")
    switches = [e.event for e in await read_events(tmp_path / LOG, FallbackSwitched)]
    assert [(s.from_model, s.to_model) for s in switches if isinstance(s, FallbackSwitched)] == [
        ("llama3", "qwen"),
        ("qwen", "tiny"),  # qwen's own fallback (llama3) is not followed: one level
    ]
    [started] = [e.event for e in await read_events(tmp_path / LOG, RequestStarted)]
    assert isinstance(started, RequestStarted) and started.chain == ("llama3", "qwen", "tiny")
    explained = await explain_json(tmp_path / LOG, reply.request_id)
    assert explained["chain"] == ["llama3", "qwen", "tiny"]


def test_fallbacks_of_fallbacks_are_not_followed() -> None:
    cfg = RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9"),),
        models=(
            ModelConfig(name="m1", deployments=("a",), fallbacks=("m2",)),
            ModelConfig(name="m2", deployments=("a",), fallbacks=("m3", "m1")),
            ModelConfig(name="m3", deployments=("a",)),
        ),
        roles={"r": RoleConfig(models=("m1", "m3"))},
    )
    assert cfg.model_chain("m1") == ("m1", "m2")  # one level: m2's fallbacks are not added
    assert cfg.model_chain("m2") == ("m2", "m3", "m1")  # mutual fallbacks are no cycle
    assert cfg.role_chain("r") == ("m1", "m2", "m3")


def test_fallbacks_naming_nothing_configured_are_refused_at_load() -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(
            endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9"),),
            models=(
                ModelConfig(name="m1", alias="one", deployments=("a",), fallbacks=("one",)),
                ModelConfig(name="m2", alias="two", deployments=("a",), fallbacks=("m1", "nope")),
                ModelConfig(name="m3", deployments=("a",), fallbacks=("m2", "two")),
            ),
        )
    problems = {p.path: p.message for p in info.value.problems}
    assert problems.keys() == {
        "models[0].fallbacks[0]",
        "models[1].fallbacks[1]",
        "models[2].fallbacks[1]",
    }
    assert "is this model itself" in problems["models[0].fallbacks[0]"]
    assert "unknown model 'nope'" in problems["models[1].fallbacks[1]"]
    assert "m1, m2, m3, one, two" in problems["models[1].fallbacks[1]"]
    assert "duplicate fallback 'two'" in problems["models[2].fallbacks[1]"]
