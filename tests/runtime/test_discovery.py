"""Models discovered on endpoints with ``models: auto`` or glob patterns, end to end."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors import ManualClock
from actors.catalog import CatalogState, evolve
from runtime import (
    ListedModel,
    ModelNotFoundError,
    ModelsDiscovered,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, read_events

LOG = "events.sqlite3"


def discovering(cfg: RuntimeConfig, **rules: str | tuple[str, ...]) -> RuntimeConfig:
    """``cfg`` with ``models:`` rules on the endpoints named."""
    endpoints = tuple(
        msgspec.structs.replace(e, models=rules[e.name]) if e.name in rules else e
        for e in cfg.endpoints
    )
    return msgspec.structs.replace(cfg, endpoints=endpoints)


async def test_a_model_only_the_backends_know_routes_by_name_over_every_endpoint_listing_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with (
        ChaosServer(["llama3", "qwen2.5:7b", "phi3"], seed=1) as a,
        ChaosServer(["qwen2.5:7b"], seed=2) as b,
    ):
        cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a",)})
        cfg = discovering(cfg, a="auto", b=("qwen*",))
        async with Runtime.from_config(cfg, clock=clock) as rt:
            replies = [await rt.chat(MESSAGES, model="qwen2.5:7b") for _ in range(4)]
            listed = rt.list_models()
        found = await read_events(tmp_path / LOG, ModelsDiscovered)
    assert [r.endpoint for r in replies] == ["a", "b", "a", "b"]  # round robin, both
    assert {r.model for r in replies} == {"qwen2.5:7b"}
    assert a.requests_for(route="/api/chat") == b.requests_for(route="/api/chat") == 2
    discovered = [m for m in listed if m.type == "discovered"]
    # llama3 is configured (its "llama3:latest" listing is not repeated as discovered)
    assert discovered == [
        ListedModel(name="phi3:latest", type="discovered", endpoints=("a",)),
        ListedModel(name="qwen2.5:7b", type="discovered", endpoints=("a", "b")),
    ]
    assert ListedModel(name="llama3", type="model", endpoints=("a",)) in listed
    by_endpoint = {
        e.event.endpoint: e.event for e in found if isinstance(e.event, ModelsDiscovered)
    }
    assert set(by_endpoint["a"].added) == {"llama3:latest", "qwen2.5:7b", "phi3:latest"}
    assert by_endpoint["b"].added == ("qwen2.5:7b",)


async def test_a_configured_model_of_the_same_name_wins(tmp_path: Path, clock: ManualClock) -> None:
    async with (
        ChaosServer(["qwen2.5:7b"], seed=1) as a,
        ChaosServer(["qwen2.5:7b"], seed=2) as b,
    ):
        cfg = discovering(config(tmp_path, {"a": a, "b": b}, {"qwen2.5:7b": ("a",)}), b="auto")
        async with Runtime.from_config(cfg, clock=clock) as rt:
            for _ in range(3):
                assert (await rt.chat(MESSAGES, model="qwen2.5:7b")).endpoint == "a"
            listed = rt.list_models()
    assert b.requests_for(route="/api/chat") == 0
    assert [m.type for m in listed if m.name == "qwen2.5:7b"] == ["model"]


async def test_a_model_loaded_later_is_found_without_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with ChaosServer(["llama3"], seed=1) as a:
        cfg = discovering(config(tmp_path, {"a": a}, {"llama3": ("a",)}), a="auto")
        async with Runtime.from_config(cfg, clock=clock) as rt:
            with pytest.raises(ModelNotFoundError):
                await rt.chat(MESSAGES, model="qwen3:8b")
            await a.stop_listening()
            # The same server comes back with another model loaded.
            async with ChaosServer(["llama3", "qwen3:8b"], seed=1, port=a.port) as again:
                await clock.advance(2.0)  # past the catalog's miss interval
                reply = await rt.chat(MESSAGES, model="qwen3:8b")
                listed = {m.name: m.type for m in rt.list_models()}
    assert (reply.model, reply.endpoint) == ("qwen3:8b", "a")
    assert again.requests_for(route="/api/chat", model="qwen3:8b") == 1
    assert listed["qwen3:8b"] == "discovered"


async def test_an_unknown_name_lists_what_the_backends_serve_and_what_is_configured(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with ChaosServer(["llama3", "qwen2.5:7b"], seed=1) as a:
        cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
        cfg = msgspec.structs.replace(
            cfg, models=(msgspec.structs.replace(cfg.models[0], alias="small"),)
        )
        async with Runtime.from_config(cfg, clock=clock) as rt:
            with pytest.raises(ModelNotFoundError) as missing:
                await rt.chat(MESSAGES, model="qwen2.5-7b")
    error = missing.value
    assert error.available == ("llama3:latest", "qwen2.5:7b")  # what a serves
    assert error.configured == ("llama3", "small")
    assert "did you mean 'qwen2.5:7b'?" in str(error)
    assert a.requests_for(route="/api/chat") == 0


async def test_a_restart_knows_the_discovered_models_from_the_log(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with ChaosServer(["llama3", "qwen2.5:7b"], seed=1) as a:
        cfg = discovering(config(tmp_path, {"a": a}, {"llama3": ("a",)}), a=("qwen*",))
        async with Runtime.from_config(cfg, clock=clock) as rt:
            await rt.chat(MESSAGES, model="qwen2.5:7b")
            live = [m for m in rt.list_models() if m.type == "discovered"]
    # The backend is gone: the second start fetches nothing, it replays.
    async with Runtime.from_config(cfg, clock=clock) as rt:
        replayed = [m for m in rt.list_models() if m.type == "discovered"]
    events = await read_events(tmp_path / LOG, ModelsDiscovered)
    folded = CatalogState()
    for stored in events:
        folded = evolve(folded, stored.event)
    assert replayed == live == [ListedModel(name="qwen2.5:7b", type="discovered", endpoints=("a",))]
    assert folded.discovered == {"a": ("qwen2.5:7b",)}
    assert len(events) == 1  # a list that did not change records nothing again


async def test_turning_discovery_off_forgets_the_discovered_models_at_the_next_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with ChaosServer(["llama3", "qwen2.5:7b"], seed=1) as a:
        plain = config(tmp_path, {"a": a}, {"llama3": ("a",)})
        async with Runtime.from_config(discovering(plain, a="auto"), clock=clock) as rt:
            await rt.chat(MESSAGES, model="qwen2.5:7b")
        async with Runtime.from_config(plain, clock=clock) as rt:
            with pytest.raises(ModelNotFoundError):
                await rt.chat(MESSAGES, model="qwen2.5:7b")
            assert all(m.type != "discovered" for m in rt.list_models())
    events = [e.event for e in await read_events(tmp_path / LOG, ModelsDiscovered)]
    assert isinstance(events[-1], ModelsDiscovered)
    assert set(events[-1].removed) == {"llama3:latest", "qwen2.5:7b"}


async def test_reset_health_and_probe_take_a_discovered_model_once_it_was_used(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with (
        ChaosServer(["llama3", "qwen2.5:7b"], seed=1) as a,
        ChaosServer(["qwen2.5:7b"], seed=2) as b,
    ):
        cfg = discovering(
            config(tmp_path, {"a": a, "b": b}, {"llama3": ("a",)}), a="auto", b="auto"
        )
        async with Runtime.from_config(cfg, clock=clock) as rt:
            await rt.chat(MESSAGES, model="qwen2.5:7b")
            reset = await rt.reset_health("qwen2.5:7b", reason="test")
            probed = await rt.probe("qwen2.5:7b@b")
    assert reset == ("qwen2.5:7b@a", "qwen2.5:7b@b")
    assert [p.deployment for p in probed] == ["qwen2.5:7b@b"] and probed[0].ok
