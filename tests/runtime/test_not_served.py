"""A configured model its endpoint does not serve: warned at start, routed the same way
before and after the catalog's first refresh (the start waits for the first lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import ManualClock
from events import CandidateSkipped
from runtime import ModelNotFoundError, ModelNotServed, Runtime
from runtime.testing import ChaosServer
from tests._logs import capture_logs
from tests.runtime._support import MESSAGES, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
LOG = "events.sqlite3"


async def test_a_configured_model_the_endpoint_lacks_is_warned_about_at_start(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"mistral": ("a",), "llama3": ("a", "b")})
    with capture_logs() as lines:
        async with Runtime.from_config(cfg, clock=clock) as rt:
            await rt.flush_events()
            warned = await read_events(tmp_path / LOG, ModelNotServed)
            assert a.requests_for(route="/api/chat") == 0  # before any request
    assert [w.event for w in warned] == [
        ModelNotServed(
            model="mistral", endpoint="a", served=("llama3:latest", "qwen:latest"),
            at=warned[0].event.at,
        )
    ]  # fmt: skip
    assert warned[0].stream == "catalog/a"
    logged = [line for line in lines if line["event"] == "catalog.model_not_served"]
    assert len(logged) == 1 and logged[0]["log_level"] == "warning"
    assert (logged[0]["model"], logged[0]["endpoint"]) == ("mistral", "a")


async def test_not_served_is_skipped_the_same_right_after_start_and_after_a_refresh(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    cfg = config(
        tmp_path, {"a": a, "b": b}, {"mistral": ("a",), "llama3": ("a", "b")},
        roles={"writer": ("mistral", "llama3")},
    )  # fmt: skip
    async with Runtime.from_config(cfg, clock=clock) as rt:
        first = await rt.chat(MESSAGES, role="writer")  # the very first request
        with pytest.raises(ModelNotFoundError):
            await rt.chat(MESSAGES, model="mistral")
        tags = a.requests_for(route="/api/tags")
        await clock.advance(61.0)  # past the TTL: the catalog's timer refreshes every list
        await eventually(lambda: a.requests_for(route="/api/tags") > tags)
        await eventually(lambda: b.requests_for(route="/api/tags") > tags)
        second = await rt.chat(MESSAGES, role="writer")
        with pytest.raises(ModelNotFoundError):
            await rt.chat(MESSAGES, model="mistral")
    skipped = await read_events(tmp_path / LOG, CandidateSkipped)
    warned = await read_events(tmp_path / LOG, ModelNotServed)
    for reply in (first, second):
        assert reply.model == "llama3" and len(reply.attempts) == 1
    assert a.requests_for(route="/api/chat", model="mistral") == 0
    reasons = [(s.event.deployment, s.event.reason) for s in skipped]
    assert reasons == [("mistral@a", "unknown_model")] * 2  # once per request, both moments
    assert tags == 1  # the start fetched each list once, then waited for it
    assert len(warned) == 1  # warned once per process, not at every refresh
