"""The catalog actor against a real chaos backend: cache, refresh, validation, timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from actors import ActorRef, ActorSystem, ManualClock
from actors.catalog import (
    CatalogActor,
    CatalogMessage,
    CatalogState,
    FindUnlisted,
    GetCatalog,
    GetCatalogStatistics,
    ModelNotFoundError,
    Refresh,
    ensure_served,
    wait_all,
)
from actors.endpoint import BackendError
from events import Event, ModelListFailed, ModelListRefreshed
from runtime.testing import ChaosServer
from tests.actors.endpoint._endpoint import Endpoint, shut_down_all


@pytest.fixture
async def server() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(["llama3", "qwen"]) as srv:
        yield srv


@pytest.fixture
async def endpoint(server: ChaosServer) -> AsyncIterator[Endpoint]:
    yield Endpoint(name="a", url=server.url, api="ollama")
    await shut_down_all()


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[str, tuple[Event, ...]]] = []
        self.listed: list[tuple[str, ...]] = []

    def record(self, stream: str, events: Sequence[Event]) -> None:
        self.records.append((stream, tuple(events)))

    async def on_listed(self, served: tuple[str, ...]) -> None:
        self.listed.append(served)


async def catalog(
    system: ActorSystem, endpoint: Endpoint, sink: Sink, *, interval: float = 0.0
) -> ActorRef[CatalogMessage]:
    async def fetch(name: str) -> tuple[str, ...]:
        return await endpoint.list_models()

    async def restore() -> CatalogState:
        return CatalogState()

    ref = system.spawn(
        lambda: CatalogActor(
            ["a"], ["llama3@a", "mistral@a"], fetch, state=CatalogState(), restore=restore,
            record=sink.record, publish=lambda e: None, on_listed=sink.on_listed,
            refresh_interval=interval,
        ),
        name="catalog",
    )  # fmt: skip
    await ref.ask(GetCatalogStatistics())
    return ref


async def refresh(ref: ActorRef[CatalogMessage]) -> BackendError | None:
    (error,) = await wait_all(await ref.ask(Refresh(("a",))))
    return error


async def test_lists_are_recorded_when_they_change(
    server: ChaosServer, endpoint: Endpoint, system: ActorSystem
) -> None:
    sink = Sink()
    cat = await catalog(system, endpoint, sink)
    assert await refresh(cat) is None
    assert await refresh(cat) is None  # same list: nothing new to record
    await server.stop_listening()
    error = await refresh(cat)
    await refresh(cat)  # the same error again: recorded once
    await server.resume_listening()
    await refresh(cat)  # back: recorded, the error is cleared
    kinds = [(stream, type(events[0])) for stream, events in sink.records]
    assert kinds == [
        ("catalog/a", ModelListRefreshed),
        ("catalog/a", ModelListFailed),
        ("catalog/a", ModelListRefreshed),
    ]
    assert error is not None and error.failure.value == "connection"
    unlisted = await cat.ask(FindUnlisted(("llama3@a", "mistral@a")))
    assert unlisted.deployments == {"mistral@a"}
    assert sink.listed == [("llama3@a",)] * 3  # every fetched list, for health


async def test_a_failed_fetch_keeps_the_known_list(
    server: ChaosServer, endpoint: Endpoint, system: ActorSystem, clock: ManualClock
) -> None:
    cat = await catalog(system, endpoint, Sink())
    await refresh(cat)
    await server.stop_listening()
    await clock.advance(120)
    await refresh(cat)
    assert (await cat.ask(GetCatalog())).endpoints["a"].error is not None
    await ensure_served(cat, "llama3", {"a": endpoint.url})  # answered from the kept list


async def test_concurrent_refreshes_share_one_request(
    server: ChaosServer, endpoint: Endpoint, system: ActorSystem
) -> None:
    cat = await catalog(system, endpoint, Sink())
    fetches = [await cat.ask(Refresh(("a",))) for _ in range(10)]
    for fetch in fetches:
        await wait_all(fetch)
    assert server.requests_for(route="/api/tags") == 1
    assert (await cat.ask(GetCatalogStatistics())).fetches == 1


async def test_ensure_fetches_unknown_lists_and_refetches_once_on_a_miss(
    server: ChaosServer, endpoint: Endpoint, system: ActorSystem, clock: ManualClock
) -> None:
    cat = await catalog(system, endpoint, Sink())
    endpoints = {"a": endpoint.url}
    await ensure_served(cat, "qwen", endpoints)  # never fetched: fetched first
    assert server.requests_for(route="/api/tags") == 1
    with pytest.raises(ModelNotFoundError, match="available: llama3:latest, qwen:latest"):
        await ensure_served(cat, "mistral", endpoints)  # fetched < 1 s ago: no second fetch
    assert server.requests_for(route="/api/tags") == 1
    await clock.advance(5)
    with pytest.raises(ModelNotFoundError):
        await ensure_served(cat, "mistral", endpoints)  # older now: one more fetch, then error
    assert server.requests_for(route="/api/tags") == 2
    before = cat.statistics().inline
    for _ in range(1000):
        await ensure_served(cat, "llama3", endpoints)  # cached: no I/O at all
    assert server.requests_for(route="/api/tags") == 2
    assert cat.statistics().inline - before == 1000  # each answered inline


async def _until(predicate: Callable[[], bool]) -> None:
    # Polling: the fetch is real I/O against the chaos server (a generous bound).
    async with asyncio.timeout(30):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_its_timer_fills_the_cache_at_start_and_refreshes_stale_lists(
    server: ChaosServer, endpoint: Endpoint, system: ActorSystem, clock: ManualClock
) -> None:
    await catalog(system, endpoint, Sink(), interval=30.0)
    await _until(lambda: server.requests_for(route="/api/tags") == 1)
    await clock.advance(30)  # still fresh (ttl 60): nothing to do
    assert server.requests_for(route="/api/tags") == 1
    await clock.advance(30)
    await _until(lambda: server.requests_for(route="/api/tags") == 2)
