"""Start-up and shutdown of a Runtime's parts, in order.

Start-up: open the log; rebuild health, cursors, model lists, the quota ledger and
the performance windows with ``Projector``s (latest snapshot + tail replay), so a
quarantine recorded before a restart still holds until its wall-clock deadline and a
restart mid-day continues the day's counts; feed them from the log's commits (the log
is the only event queue: ``runtime._pipeline``); spawn the actors —
one ``EndpointActor`` per endpoint, then the ``CatalogActor``, ``HealthActor``,
``QuotaActor``, ``PerformanceActor`` and ``RouterActor``, each from its replayed
state and under supervision (a restarted actor rebuilds its state from the log);
settle quota reservations a crashed process left open. The request ``Driver`` holds
only the actors' refs. Last, the start waits (at most ``FIRST_LISTS_WAIT`` seconds) for
the first model list of every endpoint (and, in parallel, for the slot counts llama.cpp
reports: ``runtime._concurrency``). Why: an endpoint whose list is unknown is assumed
to serve every model (the attempt will tell), one whose list is known serves what it
lists. Without the wait, a configured model its endpoint does not serve would
be routed to (and fail there) before the first refresh and be skipped
(``NoCandidates``) after it: routing would depend on timing. With it, every reachable
endpoint's list is known before the first request, so "not served" is decided by the
list from the first request on (and warned about at start: ``ModelNotServed``), and the
one rule for an unknown list (an endpoint unreachable or slow at start) is the same
before and after.

Shutdown, in reverse: stop the actors (their background fetches and checks with
them), flush the log's queue, snapshot the projections (the next start replays only
what follows), close the transports and the log. A failure of one step is logged and the
others still run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from actors import ActorRef, ActorSystem, Clock, RealClock, SupervisionPolicy
from actors.catalog import (
    CatalogActor,
    CatalogMessage,
    CatalogState,
    GetCatalogStatistics,
    Refresh,
    wait_all,
)
from actors.endpoint import (
    EndpointMessage,
    EndpointTransport,
    GetEndpointStatistics,
    call_list_models,
)
from actors.health import GetHealthStatistics, HealthActor, HealthMessage, NoteListed
from actors.performance import (
    GetPerformanceView,
    PerformanceActor,
    PerformanceMessage,
    PerformanceState,
)
from actors.quota import LedgerState, QuotaActor, QuotaMessage, SettleOrphans
from actors.router import (
    Driver,
    GetRouterStatistics,
    Refs,
    RouterActor,
    RouterMessage,
    RouterState,
)
from events import EventLog, Projection, Projector, get_logger
from runtime._build import (
    CATALOG_PROJECTION,
    HEALTH_PROJECTION,
    QUOTA_PROJECTION,
    ROUTER_PROJECTION,
    deployment_ids,
    discovered_settings,
    discovery_rules,
    health_checks,
    health_policy,
    machine_settings,
    model_settings,
    performance_projection,
    quota_limits,
    retry_policy,
)
from runtime._concurrency import endpoint_factory, initial_limits, tune_concurrency
from runtime._config import RuntimeConfig
from runtime._config_check import config_notes
from runtime._log_check import check_at_start, problems_at_start
from runtime._log_guard import LogGuard
from runtime._notify import Notifier
from runtime._open_log import open_event_log
from runtime._pipeline import Appender, feed_projectors
from runtime._quota_usage import counting_record
from runtime._redaction import redact_text
from runtime._retention import Running, runtime_projections, start_retention, stop_retention
from runtime._sharing import ForeignFolds, LedgerVersion
from runtime._transports import endpoint_transports
from runtime._windows import windows_fetcher

__all__ = ["Options", "Parts", "assemble", "dismantle"]

log = get_logger(__name__)

CATALOG_TTL = 60.0
"""Seconds a fetched model list counts as fresh (the issue's default)."""
SUPERVISION = SupervisionPolicy(max_restarts=10, window=60.0, backoff_base=0.05, backoff_cap=2.0)
"""How the domain actors are restarted: soon (requests wait for them), at most 10 a
minute before one is given up."""
LOG_STALL = 2.0
"""Seconds shutdown waits for the log's queue to commit before closing it anyway."""
FIRST_LISTS_WAIT = 5.0
"""Seconds the start waits at most for the first model list of every endpoint (a list
still unknown then counts as serving everything, as it would have anyway)."""
MAILBOX = 100_000
"""Mailbox capacity of the domain actors (only queued when busy or restarting)."""

S = TypeVar("S")


@dataclass(frozen=True, kw_only=True)
class Options:
    """What tests and embedders may inject instead of the defaults."""

    clock: Clock | None = None
    rng: Callable[[], float] | None = None
    event_log: EventLog | None = None
    """Use this log (not closed by the runtime) instead of opening ``event_log.path``."""
    transport: Callable[[str], httpx.AsyncBaseTransport | None] | None = None
    """Endpoint name -> an httpx transport (None: the default network transport)."""


@dataclass(kw_only=True)
class Parts:
    """Everything a running Runtime owns: resources, and refs to its actors."""

    config: RuntimeConfig
    clock: Clock
    log: EventLog
    owns_log: bool
    owns_clock: bool
    projectors: tuple[Projector[Any], ...]
    notifier: Notifier
    appender: Appender
    guard: LogGuard
    unfeed: Callable[[], None]
    """Stops feeding the projections from the log's commits."""
    transports: dict[str, EndpointTransport]
    system: ActorSystem
    refs: Refs
    driver: Driver
    deployments: tuple[str, ...]
    retention: Running | None = None
    """The background compaction (``event_log.retain``), while open."""


async def assemble(
    config: RuntimeConfig, api_keys: Mapping[str, str | None], options: Options
) -> Parts:
    """Open, replay and start everything (see the module docstring)."""
    clock: Clock = options.clock or RealClock()
    event_log = options.event_log
    if event_log is None:
        event_log = await open_event_log(config.event_log)
    try:
        ledger_version = await LedgerVersion.read(event_log)  # before the replay
        projections = runtime_projections(config.performance.window)
        every = config.event_log.snapshot_every
        projectors = tuple(
            [await Projector.start(event_log, p, snapshot_every=every) for p in projections]
        )
        problems = await problems_at_start(event_log, projectors, tail=options.event_log is None)
        check_at_start(config.event_log.path, problems, config.event_log.on_damage)
    except BaseException:
        if options.event_log is None:
            await event_log.close()
        raise
    notifier = Notifier()
    guard = LogGuard(event_log, clock, policy=config.event_log.on_log_failure)
    appender = Appender(event_log, notifier.publish, guard.watch)
    folds = ForeignFolds.of(projections)
    unfeed = feed_projectors(event_log, projectors, folds)
    system = ActorSystem(clock=clock, log=event_log, default_supervision=SUPERVISION)
    transports = endpoint_transports(config, options.transport, api_keys)
    wiring = _Wiring(config, clock, event_log, appender, notifier, system, projectors)
    refs = wiring.spawn(transports, ledger_version)
    folds.attach(refs)
    assert refs.quota is not None
    limited = quota_limits(config).any_limit  # else usage is counted from request events
    driver = Driver(
        refs, model_settings(config), machine_settings(config, quota=limited), clock=clock,
        rng=options.rng or random.random, record=counting_record(appender.record, refs.quota),
        publish=notifier.publish,
        mask=redact_text if config.event_log.store_bodies else None,
        discovered=discovered_settings(config),
    )  # fmt: skip
    parts = Parts(
        config=config, clock=clock, log=event_log, owns_log=options.event_log is None,
        owns_clock=options.clock is None, projectors=projectors, notifier=notifier,
        appender=appender, guard=guard, unfeed=unfeed, transports=transports, system=system,
        refs=refs, driver=driver, deployments=deployment_ids(config),
    )  # fmt: skip
    await refs.quota.ask(SettleOrphans(), timeout=None)
    await _started(refs)
    for note in config_notes(config):
        log.info("runtime.endpoint.url", note=note)
    slots = tune_concurrency(config, transports, refs.endpoints, wiring.limits)
    await asyncio.gather(_first_lists(refs.catalog, tuple(transports)), slots)
    await event_log.flush()
    parts.retention = start_retention(parts)  # event_log.retain: now, then every hour
    log.info("runtime.started", endpoints=len(transports), deployments=len(parts.deployments))
    return parts


class _Wiring:
    """Spawns the actors, each from its replayed state, with a way to rebuild it."""

    def __init__(
        self,
        config: RuntimeConfig,
        clock: Clock,
        event_log: EventLog,
        appender: Appender,
        notifier: Notifier,
        system: ActorSystem,
        projectors: tuple[Projector[Any], ...],
    ) -> None:
        self.config, self.clock, self.log, self.system = config, clock, event_log, system
        self.appender, self.notifier = appender, notifier
        self.limits = initial_limits(config)  # endpoint -> slots (discovery updates it)
        self.states = {p.projection.name: p.state for p in projectors}
        self.projections = {p.projection.name: p.projection for p in projectors}

    def restore(self, projection: Projection[S]) -> Callable[[], Awaitable[S]]:
        """Rebuild ``projection`` from the log: commit what is queued, then snapshot + tail."""

        async def restore() -> S:
            await self.log.flush()
            every = self.config.event_log.snapshot_every
            projector = await Projector.start(self.log, projection, snapshot_every=every)
            return projector.state

        return restore

    def first(self, projection: Projection[S], kind: type[S]) -> Callable[[], S | None]:
        """The replayed state for the first incarnation only (later ones restore)."""
        given: list[S] = [_typed(self.states[projection.name], kind)]
        return lambda: given.pop() if given else None

    def spawn(self, transports: Mapping[str, EndpointTransport], versions: LedgerVersion) -> Refs:
        config, system, appender = self.config, self.system, self.appender
        record, publish = appender.record, self.notifier.publish
        endpoints: dict[str, ActorRef[EndpointMessage]] = {}
        for name, transport in transports.items():
            endpoints[name] = system.spawn(
                endpoint_factory(transport, self.limits, name),
                name=f"endpoint:{name}", mailbox_size=MAILBOX,
            )  # fmt: skip
        dids = deployment_ids(config)
        late: dict[str, ActorRef[Any]] = {}

        async def fetch(endpoint: str) -> tuple[str, ...]:
            return await call_list_models(endpoints[endpoint])

        async def on_listed(served: tuple[str, ...]) -> None:
            await late["health"].ask(NoteListed(served), timeout=None)

        catalog_state = self.first(CATALOG_PROJECTION, CatalogState)
        catalog: ActorRef[CatalogMessage] = system.spawn(
            lambda: CatalogActor(
                tuple(transports), dids, fetch, state=catalog_state(),
                restore=self.restore(CATALOG_PROJECTION), record=record, publish=publish,
                on_listed=on_listed, ttl=CATALOG_TTL, refresh_interval=CATALOG_TTL / 2,
                discovery=discovery_rules(config),
                fetch_windows=windows_fetcher(config, transports),
            ),
            name="catalog", mailbox_size=MAILBOX,
        )  # fmt: skip
        health_section = config.health
        probe, liveness = health_checks(catalog, endpoints, config)
        health_state = self.first(HEALTH_PROJECTION, dict)
        health: ActorRef[HealthMessage] = system.spawn(
            lambda: HealthActor(
                health_policy(health_section), dids, states=health_state(), liveness=liveness,
                restore=self.restore(HEALTH_PROJECTION), record=record, publish=publish,
                probe=probe, check_interval=health_section.check_interval_seconds,
            ),
            name="health", mailbox_size=MAILBOX,
        )  # fmt: skip
        late["health"] = health
        ledger = self.first(QUOTA_PROJECTION, LedgerState)
        quota: ActorRef[QuotaMessage] = system.spawn(
            lambda: QuotaActor(
                quota_limits(config), state=ledger(), restore=self.restore(QUOTA_PROJECTION),
                submit=appender.submit, record=record, publish=publish,
                version=versions.getter(),
            ),
            name="quota", mailbox_size=MAILBOX,
        )  # fmt: skip
        window = performance_projection(config.performance.window)
        windows = self.first(window, PerformanceState)
        performance: ActorRef[PerformanceMessage] = system.spawn(
            lambda: PerformanceActor(windows(), self.restore(window)),
            name="performance", mailbox_size=MAILBOX,
        )  # fmt: skip
        cursors = self.first(ROUTER_PROJECTION, RouterState)
        routes = {name: settings.route for name, settings in model_settings(config).items()}
        router: ActorRef[RouterMessage] = system.spawn(
            lambda: RouterActor(
                routes, retry_policy(config.retry), state=cursors(),
                restore=self.restore(ROUTER_PROJECTION), performance=config.performance,
            ),
            name="router", mailbox_size=MAILBOX,
        )  # fmt: skip
        return Refs(
            router=router, health=health, catalog=catalog, performance=performance,
            endpoints=endpoints, quota=quota,
        )  # fmt: skip


async def _started(refs: Refs) -> None:
    """Wait until every actor took a message (so synchronous readers work from now on)."""
    waits = [
        refs.router.ask(GetRouterStatistics()),
        refs.health.ask(GetHealthStatistics()),
        refs.catalog.ask(GetCatalogStatistics()),
        refs.performance.ask(GetPerformanceView()),
        *(e.ask(GetEndpointStatistics()) for e in refs.endpoints.values()),
    ]
    await asyncio.gather(*waits)


async def _first_lists(catalog: ActorRef[CatalogMessage], endpoints: tuple[str, ...]) -> None:
    """Wait (bounded) for every endpoint's first list (see the module docstring).

    The fetches join those the catalog's first timer round started; a fetch still
    running after ``FIRST_LISTS_WAIT`` is not cancelled and applies its list when done.
    """
    fetches = await catalog.ask(Refresh(endpoints, first=True), timeout=None)
    try:
        await asyncio.wait_for(wait_all(fetches), FIRST_LISTS_WAIT)
    except TimeoutError:
        log.warning("runtime.started.lists_pending", waited_s=FIRST_LISTS_WAIT)


def _typed(state: object, kind: type[S]) -> S:
    """A projector's state as its projection's type (the tuple erases it)."""
    if not isinstance(state, kind):
        raise TypeError(f"expected a {kind.__name__} from replay, got {type(state).__name__}")
    return state


async def _snapshot(projectors: tuple[Projector[Any], ...]) -> None:
    """Snapshot every projection so the next start replays only what follows; on a
    stuck log, give up after one snapshot's ``LOG_STALL`` (the next start replays more)."""
    for projector in projectors:
        await asyncio.wait_for(projector.snapshot_now(), LOG_STALL)


def _async(step: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        step()

    return run


async def dismantle(parts: Parts) -> None:
    """Stop everything in reverse order; every step runs even if one fails."""
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("retention", lambda: stop_retention(parts)),
        ("event log recovery", parts.guard.aclose),
        ("actors", lambda: parts.system.shutdown(timeout=5.0)),
        ("event log queue", lambda: asyncio.wait_for(parts.log.flush(), LOG_STALL)),
        *[(f"projection {p.projection.name}", p.drain) for p in parts.projectors],
        ("projection feed", _async(parts.unfeed)),
        ("notifier", parts.notifier.aclose),
        *[(f"transport {name}", t.aclose) for name, t in parts.transports.items()],
    ]
    steps.append(("snapshots", lambda: _snapshot(parts.projectors)))
    if parts.owns_log:
        steps.append(("event log", parts.log.close))
    if parts.owns_clock:
        aclose = getattr(parts.clock, "aclose", None)
        if aclose is not None:
            steps.append(("clock", aclose))
    for name, step in steps:
        try:
            await step()
        except Exception as exc:
            log.error("runtime.shutdown.step_failed", step=name, error=repr(exc))
    log.info("runtime.closed")
