"""The router actor and the request driver over real endpoint actors and chaos backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from actors import ActorSystem, ManualClock
from actors.catalog import Refresh, wait_all
from actors.endpoint import EndpointTransport, Message
from actors.health import RecordOutcome, ReportOutcome
from actors.router import (
    GetRouterState,
    GetRouterStatistics,
    ModelRoute,
    NoCandidates,
    RouteRequest,
    RouterState,
    evolve_router,
)
from events import (
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    RequestStarted,
    RequestSucceeded,
    fold,
)
from runtime.testing import ChaosServer, Fault
from tests.actors.router._world import World, spawn_world

MESSAGES = (Message(role="user", content="hi"),)


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, ChaosServer]]:
    async with ChaosServer(["llama3"]) as a, ChaosServer(["llama3", "qwen"]) as b:
        yield {"a": a, "b": b}


@pytest.fixture
async def transports(
    servers: dict[str, ChaosServer],
) -> AsyncIterator[dict[str, EndpointTransport]]:
    made = {
        name: EndpointTransport(name=name, url=srv.url, api="ollama", max_connections=16)
        for name, srv in servers.items()
    }
    yield made
    for transport in made.values():
        await transport.aclose()


async def world(
    system: ActorSystem,
    clock: ManualClock,
    transports: dict[str, EndpointTransport],
    routes: dict[str, ModelRoute],
) -> World:
    return await spawn_world(system, clock, routes, transports)


async def test_one_batch_of_events_per_request_and_each_published_live(
    system: ActorSystem, clock: ManualClock, transports: dict[str, EndpointTransport]
) -> None:
    w = await world(system, clock, transports, {"llama3": ModelRoute(deployments=("a", "b"))})
    reply = await w.driver.chat(RouteRequest(chain=("llama3",), messages=MESSAGES, model="llama3"))
    [(stream, events)] = [(s, e) for s, e in w.sink.records if s.startswith("request/")]
    assert stream == f"request/{reply.request_id}"
    assert [type(e) for e in events] == [
        RequestStarted,
        AttemptStarted,
        AttemptSucceeded,
        RequestSucceeded,
    ]
    assert [e for e in w.sink.published if e in events] == list(events)
    assert fold(evolve_router, RouterState(), events) == await w.refs.router.ask(GetRouterState())


async def test_weighted_strategy_follows_the_weights(
    system: ActorSystem, clock: ManualClock, transports: dict[str, EndpointTransport]
) -> None:
    route = ModelRoute(deployments=("a", "b"), strategy="weighted", weights={"a": 3.0})
    w = await world(system, clock, transports, {"llama3": route})
    request = RouteRequest(chain=("llama3",), messages=MESSAGES)
    picks = [(await w.driver.chat(request)).endpoint for _ in range(8)]
    assert picks.count("a") == 6 and picks.count("b") == 2


async def test_least_inflight_spreads_concurrent_requests(
    servers: dict[str, ChaosServer],
    system: ActorSystem,
    clock: ManualClock,
    transports: dict[str, EndpointTransport],
) -> None:
    # a's call stays in flight until cancelled (not "for 0.2 s", which a busy machine
    # could spend before the three calls to b are done)
    servers["a"].set_fault(Fault(kind="hang"), model="llama3")
    route = ModelRoute(deployments=("a", "b"), strategy="least_inflight")
    w = await world(system, clock, transports, {"llama3": route})
    request = RouteRequest(chain=("llama3",), messages=MESSAGES)
    slow = asyncio.create_task(w.driver.chat(request))
    async with asyncio.timeout(30):
        # Polling: the call is in flight in another task, over a real socket.
        while (await w.refs.router.ask(GetRouterStatistics())).inflight != {"llama3@a": 1}:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    fast = [(await w.driver.chat(request)).endpoint for _ in range(3)]
    assert fast == ["b", "b", "b"] and not slow.done()
    slow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow
    assert (await w.refs.router.ask(GetRouterStatistics())).inflight == {}


async def test_endpoints_lacking_the_model_are_skipped_with_the_reason(
    system: ActorSystem, clock: ManualClock, transports: dict[str, EndpointTransport]
) -> None:
    w = await world(system, clock, transports, {"qwen": ModelRoute(deployments=("a", "b"))})
    await wait_all(await w.refs.catalog.ask(Refresh(("a", "b"))))
    reply = await w.driver.chat(RouteRequest(chain=("qwen",), messages=MESSAGES))
    skips = [e for e in w.sink.events("request/") if isinstance(e, CandidateSkipped)]
    assert reply.endpoint == "b"
    assert [(s.deployment, s.reason) for s in skips] == [("qwen@a", "unknown_model")]
    assert "does not include 'qwen'" in skips[0].detail


async def test_no_admissible_deployment_is_no_candidates(
    system: ActorSystem, clock: ManualClock, transports: dict[str, EndpointTransport]
) -> None:
    w = await world(system, clock, transports, {"llama3": ModelRoute(deployments=("a",))})
    auth = RecordOutcome(ok=False, failure="auth", permanent=True)
    await w.refs.health.ask(ReportOutcome("llama3@a", auth))
    with pytest.raises(NoCandidates) as caught:
        await w.driver.chat(RouteRequest(chain=("llama3",), messages=MESSAGES))
    assert [s.reason for s in caught.value.skipped] == ["failed"]
    stats = await w.refs.router.ask(GetRouterStatistics())
    batches = [s for s, _ in w.sink.records if s.startswith("request/")]
    assert stats.failed == 1 and len(batches) == 1


async def test_every_actor_answered_the_request_inline(
    system: ActorSystem, clock: ManualClock, transports: dict[str, EndpointTransport]
) -> None:
    w = await world(system, clock, transports, {"llama3": ModelRoute(deployments=("a", "b"))})
    before = {s.name: s.inline for s in system.statistics()}
    for _ in range(5):
        await w.driver.chat(RouteRequest(chain=("llama3",), messages=MESSAGES))
    after = {s.name: (s.inline, s.mailbox_depth) for s in system.statistics()}
    # Nothing queued behind a request, and each actor took its messages inline.
    assert all(depth == 0 for _, depth in after.values())
    for name in ("router", "health", "catalog", "performance"):
        assert after[name][0] > before[name], name
    assert (
        after["endpoint:a"][0] + after["endpoint:b"][0]
        > before["endpoint:a"] + before["endpoint:b"]
    )
