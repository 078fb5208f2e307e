"""``World``: every actor a request talks to, spawned over given transports, plus a
``Driver`` — the router's tests run real requests through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from actors import ActorSystem, Clock
from actors.catalog import CatalogActor, CatalogState, GetCatalogStatistics
from actors.endpoint import (
    Deadlines,
    EndpointActor,
    EndpointTransport,
    GetEndpointStatistics,
    call_list_models,
)
from actors.health import (
    DeploymentHealth,
    GetHealthStatistics,
    HealthActor,
    HealthPolicy,
    NoteListed,
)
from actors.performance import PerformanceActor, PerformanceState
from actors.router import (
    Driver,
    GetRouterStatistics,
    MachineSettings,
    ModelRoute,
    ModelSettings,
    Refs,
    RetryPolicy,
    RouterActor,
    RouterState,
)
from events import Event

DEADLINES = Deadlines(connect=10, first_byte=30, idle=30, total=60)
"""Generous: no router test is about a timeout, and a busy machine must not cause one."""


class Sink:
    """What the driver and the actors record and publish."""

    def __init__(self) -> None:
        self.records: list[tuple[str, tuple[Event, ...]]] = []
        self.published: list[Event] = []

    def record(self, stream: str, events: Sequence[Event]) -> None:
        self.records.append((stream, tuple(events)))

    def events(self, prefix: str = "") -> list[Event]:
        return [e for s, batch in self.records if s.startswith(prefix) for e in batch]


class World(msgspec.Struct, kw_only=True):
    refs: Refs
    driver: Driver
    sink: Sink


async def spawn_world(
    system: ActorSystem,
    clock: Clock,
    routes: Mapping[str, ModelRoute],
    transports: Mapping[str, EndpointTransport],
    *,
    health_policy: HealthPolicy | None = None,
    health_states: dict[str, DeploymentHealth] | None = None,
    policy: RetryPolicy | None = None,
    max_concurrency: int = 16,
) -> World:
    """Spawn the actors (no quota) and a driver; every actor has started on return."""
    sink = Sink()
    policy = policy or RetryPolicy(backoff_base=0.0)
    dids = [f"{m}@{e}" for m, r in routes.items() for e in r.deployments]
    endpoints = {
        name: system.spawn(
            lambda t=transport: EndpointActor(t, max_concurrency=max_concurrency),  # type: ignore[misc]
            name=f"endpoint:{name}",
        )
        for name, transport in transports.items()
    }

    async def fetch(name: str) -> tuple[str, ...]:
        return await call_list_models(endpoints[name])

    async def catalog_restore() -> CatalogState:
        return CatalogState()

    async def health_restore() -> dict[str, DeploymentHealth]:
        return {}

    async def router_restore() -> RouterState:
        return RouterState()

    async def windows_restore() -> PerformanceState:
        return PerformanceState.empty()

    health = system.spawn(
        lambda: HealthActor(
            health_policy or HealthPolicy(), dids, states=health_states or {},
            restore=health_restore, record=sink.record, publish=sink.published.append,
        ),
        name="health",
    )  # fmt: skip

    async def on_listed(served: tuple[str, ...]) -> None:
        await health.ask(NoteListed(served))

    catalog = system.spawn(
        lambda: CatalogActor(
            list(transports), dids, fetch, state=CatalogState(), restore=catalog_restore,
            record=sink.record, publish=sink.published.append, on_listed=on_listed,
        ),
        name="catalog",
    )  # fmt: skip
    performance = system.spawn(
        lambda: PerformanceActor(PerformanceState.empty(), windows_restore), name="performance"
    )
    router = system.spawn(
        lambda: RouterActor(routes, policy, state=RouterState(), restore=router_restore),
        name="router",
    )
    refs = Refs(
        router=router, health=health, catalog=catalog, performance=performance,
        endpoints=endpoints,
    )  # fmt: skip
    models = {
        m: ModelSettings(route=r, deadlines=dict.fromkeys(r.deployments, DEADLINES))
        for m, r in routes.items()
    }
    driver = Driver(
        refs, models, MachineSettings(policy=policy), clock=clock, rng=lambda: 0.0,
        record=sink.record, publish=sink.published.append,
    )  # fmt: skip
    await router.ask(GetRouterStatistics())
    await health.ask(GetHealthStatistics())
    await catalog.ask(GetCatalogStatistics())
    for ref in endpoints.values():
        await ref.ask(GetEndpointStatistics())
    return World(refs=refs, driver=driver, sink=sink)
