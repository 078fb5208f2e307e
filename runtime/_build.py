"""Turning a ``RuntimeConfig`` into the actors' own parameters, and the projections.

The actors take their own parameter structs (``HealthPolicy``, ``RetryPolicy``,
``ModelSettings``, ``MachineSettings``, ``Deadlines``) and never see the runtime's
config; this module is the one place that translates.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors import ActorRef
from actors.catalog import (
    CatalogMessage,
    CatalogState,
    Discovery,
    FindUnlisted,
    Refresh,
    wait_all,
)
from actors.catalog import evolve as evolve_catalog
from actors.endpoint import (
    BackendError,
    ChatRequest,
    Deadlines,
    EndpointMessage,
    FailureClass,
    Message,
    Parameters,
    call_chat,
)
from actors.health import (
    DeploymentHealth,
    HealthPolicy,
    Liveness,
    Probe,
    RecordOutcome,
    evolve_all,
)
from actors.performance import PerformanceState, fold_events
from actors.performance import evolve as evolve_performance
from actors.quota import LEDGER_TYPES, DailyLimit, LedgerState, QuotaLimits, RateLimit, fold_ledger
from actors.quota import evolve as evolve_quota
from actors.router import (
    MachineSettings,
    ModelRoute,
    ModelSettings,
    RetryPolicy,
    RouterState,
    evolve_router,
)
from events import (
    AttemptFailed,
    AttemptSucceeded,
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    Event,
    FallbackSwitched,
    HealthOutcomeRecorded,
    HealthReset,
    ModelListFailed,
    ModelListRefreshed,
    ModelsDiscovered,
    Projection,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
    deployment_id,
    split_deployment,
)
from runtime._config import (
    HealthConfig,
    QuotaConfig,
    QuotaLimit,
    RetryConfig,
    RuntimeConfig,
    Timeouts,
)
from runtime._liveness import endpoint_liveness
from runtime._request import model_defaults

__all__ = [
    "CATALOG_PROJECTION",
    "HEALTH_PROJECTION",
    "QUOTA_PROJECTION",
    "ROUTER_PROJECTION",
    "deadlines",
    "deployment_ids",
    "discovered_settings",
    "discovery_rules",
    "health_checks",
    "health_policy",
    "health_probe",
    "machine_settings",
    "model_settings",
    "performance_projection",
    "quota_limits",
    "retry_policy",
]


def _names(*classes: type[Event]) -> frozenset[str]:
    return frozenset(str(cls.__struct_config__.tag) for cls in classes)


HEALTH_PROJECTION: Projection[dict[str, DeploymentHealth]] = Projection(
    name="runtime.health.v1",
    initial={},
    evolve=evolve_all,
    state_type=dict[str, DeploymentHealth],
    types=_names(
        HealthOutcomeRecorded,
        DeploymentDegraded,
        DeploymentRecovered,
        DeploymentQuarantined,
        DeploymentProbingStarted,
        DeploymentFailed,
        DeploymentStabilized,
        HealthReset,
        DeploymentCoolingDown,
    ),
)
"""Health of every deployment, folded from the ``health/*`` events."""

ROUTER_PROJECTION: Projection[RouterState] = Projection(
    name="runtime.router.v1",
    initial=RouterState(),
    evolve=evolve_router,
    state_type=RouterState,
    types=_names(RequestStarted, FallbackSwitched),
)
"""The router's round-robin and weighted cursors."""

CATALOG_PROJECTION: Projection[CatalogState] = Projection(
    name="runtime.catalog.v1",
    initial=CatalogState(),
    evolve=evolve_catalog,
    state_type=CatalogState,
    types=_names(ModelListRefreshed, ModelListFailed, ModelsDiscovered),
)
"""Every endpoint's model list (known, stale until refreshed) and discovered models."""


QUOTA_PROJECTION: Projection[LedgerState] = Projection(
    name="runtime.quota.v1",
    initial=LedgerState(),
    evolve=evolve_quota,
    fold=fold_ledger,
    state_type=LedgerState,
    types=LEDGER_TYPES,
)
"""The quota ledger (its own events and the request events it counts usage from, for
requests that reserved nothing): this period's usage, reservations, warnings issued."""


def performance_projection(window: int) -> Projection[PerformanceState]:
    """The performance windows, folded from the routing events the router logs anyway.

    The window size is part of the name: a snapshot taken with another size is not
    reused (its windows would be cut or short), the next start replays instead.
    """
    return Projection(
        name=f"runtime.performance.v1.w{window}",
        initial=PerformanceState.empty(window),
        evolve=evolve_performance,
        fold=fold_events,
        state_type=PerformanceState,
        types=_names(
            RequestStarted,
            AttemptSucceeded,
            AttemptFailed,
            StreamInterrupted,
            RequestSucceeded,
            RequestFailed,
            RequestCancelled,
        ),
    )


def quota_limits(config: RuntimeConfig) -> QuotaLimits:
    """The ledger's policy from the ``quota`` section, model aliases resolved to names."""
    quota: QuotaConfig = config.quota
    return QuotaLimits(
        daily_requests=quota.daily_requests,
        daily_tokens=quota.daily_tokens,
        per_model={config.model(k).name: _daily(v) for k, v in quota.per_model.items()},
        per_role={k: _daily(v) for k, v in quota.per_role.items()},
        warn_ratio=quota.warn_ratio,
        reset_hour=quota.reset_hour,
        timezone=quota.timezone,
        model_rates={
            config.model(k).name: RateLimit(rpm=v.rpm, tpm=v.tpm)
            for k, v in quota.per_model.items()
            if v.rpm is not None or v.tpm is not None
        },
        deployment_rates={_deployment(config, k): RateLimit(rpm=v.rpm, tpm=v.tpm)
                          for k, v in quota.per_deployment.items()},
    )  # fmt: skip


def _deployment(config: RuntimeConfig, did: str) -> str:
    """``alias@endpoint`` -> ``name@endpoint``."""
    model, _, endpoint = did.rpartition("@")
    return deployment_id(config.model(model).name, endpoint)


def _daily(limit: QuotaLimit) -> DailyLimit:
    return DailyLimit(requests=limit.daily_requests, tokens=limit.daily_tokens)


def health_policy(health: HealthConfig) -> HealthPolicy:
    """The health logic's policy from the ``health`` section."""
    return HealthPolicy(
        failure_threshold=health.failure_threshold,
        failure_rate_threshold=health.failure_rate_threshold,
        window_size=health.window_size,
        min_calls=health.min_calls,
        quarantine_seconds=health.quarantine_seconds,
        quarantine_backoff=health.quarantine_backoff,
        quarantine_max_seconds=health.quarantine_max_seconds,
        half_open_probes=health.half_open_probes,
        degraded_latency_seconds=health.degraded_latency_seconds,
        cool_down_seconds=health.cool_down_seconds,
        cool_down_max_seconds=health.cool_down_max_seconds,
        panic_probe=health.panic_probe,
        liveness_seconds=health.liveness_check_seconds,
    )


def retry_policy(retry: RetryConfig) -> RetryPolicy:
    """The router's retry policy from the ``retry`` section."""
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        backoff_base=retry.backoff_base,
        backoff_cap=retry.backoff_cap,
        budget_max_tokens=retry.retry_budget_max_tokens,
        budget_ratio=retry.retry_budget_ratio,
        retry_after_cap=retry.retry_after_cap_seconds,
        request_deadline=retry.request_deadline_seconds,
    )


def deadlines(timeouts: Timeouts) -> Deadlines:
    """The endpoint client's deadlines from a ``timeouts`` section."""
    return Deadlines(
        connect=timeouts.connect,
        first_byte=timeouts.first_byte,
        idle=timeouts.idle,
        total=timeouts.total,
    )


def model_settings(config: RuntimeConfig) -> dict[str, ModelSettings]:
    """Model name -> route, defaults and per-endpoint deadlines."""
    return {
        model.name: ModelSettings(
            route=ModelRoute(
                deployments=model.deployments,
                strategy=model.strategy,
                weights=dict(model.weights),
            ),
            max_tokens=model.max_tokens,
            context_length=model.context_length,
            defaults=model_defaults(model),
            deadlines={
                endpoint: deadlines(config.timeouts_for(model.name, endpoint))
                for endpoint in model.deployments
            },
        )
        for model in config.models
    }


def discovered_settings(config: RuntimeConfig) -> ModelSettings | None:
    """What every discovered model is routed with: round robin (its route is the
    catalog's), each endpoint's own timeouts, no model defaults; None when no endpoint
    discovers models."""
    if not any(e.models is not None for e in config.endpoints):
        return None
    return ModelSettings(
        route=ModelRoute(deployments=()),
        deadlines={e.name: deadlines(e.timeouts) for e in config.endpoints},
    )


def discovery_rules(config: RuntimeConfig) -> dict[str, Discovery]:
    """Endpoint name -> its ``models:`` rule, for the endpoints that discover models."""
    return {e.name: e.models for e in config.endpoints if e.models is not None}


def deployment_ids(config: RuntimeConfig) -> tuple[str, ...]:
    """Every deployment id (``model@endpoint``), in config order."""
    return tuple(deployment_id(m.name, e) for m in config.models for e in m.deployments)


def machine_settings(config: RuntimeConfig, *, quota: bool) -> MachineSettings:
    """What every request's machine shares: the retry policy and the quota rules."""
    return MachineSettings(
        policy=retry_policy(config.retry),
        quota=quota,
        quota_fallback=config.quota.on_exceeded == "fallback",
        rate_wait=config.quota.wait_seconds,
        max_tokens={model.name: model.max_tokens for model in config.models},
    )


_PING = (Message(role="user", content="ping"),)


def health_probe(
    catalog: ActorRef[CatalogMessage],
    endpoints: Mapping[str, ActorRef[EndpointMessage]],
    *,
    generate: bool,
) -> Probe:
    """The health checks' probe: list the endpoint's models, optionally generate.

    The list goes through the catalog (single-flight, so a check and a catalog refresh
    share one call, and the list is updated on the way). A model missing from the list
    is the catalog's business (the router skips it as ``unknown_model``): nothing is
    counted. ``generate`` adds a one-token completion as the proof that the model runs.
    """

    async def probe(did: str) -> RecordOutcome | None:
        model, endpoint = split_deployment(did)
        (error,) = await wait_all(await catalog.ask(Refresh((endpoint,)), timeout=None))
        unlisted = await catalog.ask(FindUnlisted((did,)), timeout=None)
        if error is None and did in unlisted.deployments:
            return None
        if error is None and generate:
            request = ChatRequest(model=model, messages=_PING, params=Parameters(max_tokens=1))
            try:
                await call_chat(endpoints[endpoint], request)
            except BackendError as exc:
                error = exc
        if error is None:
            return RecordOutcome(ok=True)
        return _failed(error)

    return probe


def health_checks(
    catalog: ActorRef[CatalogMessage],
    endpoints: Mapping[str, ActorRef[EndpointMessage]],
    config: RuntimeConfig,
) -> tuple[Probe, Liveness | None]:
    """The health actor's background probe (``health_probe``) and liveness check
    (``runtime._liveness``; None when ``health.liveness_check_seconds`` is 0)."""
    probe = health_probe(catalog, endpoints, generate=config.health.check_generation)
    live = config.health.liveness_check_seconds > 0
    return probe, endpoint_liveness(config, endpoints) if live else None


def _failed(error: BackendError) -> RecordOutcome | None:
    if error.failure is FailureClass.MODEL_NOT_FOUND:
        return None  # the catalog's business, not the deployment's health
    return RecordOutcome(
        ok=False,
        failure=error.failure.value,
        weight=error.failure.health_weight,
        permanent=error.failure.permanent,
        message=error.message,
    )
