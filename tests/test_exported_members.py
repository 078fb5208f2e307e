"""Each package's public surface is exactly its ``__all__`` (as in httpx's own test)."""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Iterator

import pytest

PACKAGES = [
    "events",
    "actors",
    "runtime",
    "runtime.testing",
    "actors.endpoint",
    "actors.health",
    "actors.catalog",
    "actors.router",
    "actors.performance",
    "actors.quota",
    "actors.escalation",
    "runtime.inspect",
    "runtime.inspect.web",
    "runtime.serve",
    "runtime.admin",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_the_public_surface(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(module.__all__)
    public = {
        attr
        for attr in dir(module)
        if not attr.startswith("_")
        and not isinstance(getattr(module, attr), types.ModuleType)
        and attr != "annotations"
    }
    assert declared == public, f"{name}: __all__ and public names differ"
    assert len(module.__all__) == len(declared), f"{name}: a name is listed twice in __all__"


# --- runtime's surface: pinned, and complete --------------------------------------------

RUNTIME_ALL = sorted(
    [
        "ActorError",
        "ActorFailed",
        "ActorRestarted",
        "ActorState",
        "ActorStatistics",
        "ActorStopped",
        "AllCandidatesFailed",
        "AttemptFailed",
        "AttemptOutcome",
        "AttemptRecord",
        "AttemptStarted",
        "AttemptSucceeded",
        "BodyMessage",
        "CandidateGenerated",
        "CandidateSkipped",
        "CatalogError",
        "CheckFailed",
        "CheckPassed",
        "CheckResult",
        "Clock",
        "CommittedBatch",
        "ConfigError",
        "ConfigProblem",
        "DeploymentCoolingDown",
        "DeploymentDegraded",
        "DeploymentFailed",
        "DeploymentPanicProbe",
        "DeploymentPerformance",
        "DeploymentProbingStarted",
        "DeploymentQuarantined",
        "DeploymentRecovered",
        "DeploymentStabilized",
        "DeploymentStatus",
        "Embeddings",
        "EndpointConfig",
        "EndpointStatistics",
        "EscalationEvent",
        "EscalationFailed",
        "EscalationResult",
        "EscalationStarted",
        "EscalationSucceeded",
        "Event",
        "EventLog",
        "EventLogBacklogged",
        "EventLogConfig",
        "EventLogError",
        "EventLogFailing",
        "EventLogHealth",
        "EventLogRecovered",
        "EventRegistry",
        "FallbackSwitched",
        "GenerationParams",
        "HealthConfig",
        "HealthEvent",
        "HealthOutcomeRecorded",
        "HealthReset",
        "HealthStatistics",
        "HealthSummary",
        "ImagePart",
        "InvalidLogFile",
        "InvalidRequest",
        "LLMRuntimeError",
        "LimitStatus",
        "ListedModel",
        "LogBounds",
        "LogCompacted",
        "LogFromNewerVersion",
        "ManualClock",
        "MemoryEventLog",
        "Message",
        "ModelConfig",
        "ModelListFailed",
        "ModelListRefreshed",
        "ModelNotServed",
        "ModelsDiscovered",
        "ModelNotFoundError",
        "ModelPerformance",
        "ModelStatus",
        "NoCandidates",
        "PerformanceConfig",
        "PerformanceSummary",
        "PipelineStatistics",
        "ProbeResult",
        "QuotaConfig",
        "QuotaError",
        "QuotaEvent",
        "QuotaExceeded",
        "QuotaExceededRecorded",
        "QuotaLimit",
        "QuotaPeriodStarted",
        "QuotaReleased",
        "QuotaReserved",
        "QuotaSettled",
        "QuotaStatistics",
        "QuotaUnavailable",
        "QuotaUsage",
        "QuotaWarningIssued",
        "RateLimitConfig",
        "RateLimited",
        "RealClock",
        "Reply",
        "RequestCancelled",
        "RequestFailed",
        "RequestRejected",
        "RequestStarted",
        "RequestSucceeded",
        "ResponseFormat",
        "RetryConfig",
        "RoleConfig",
        "RouterStatistics",
        "RoutingError",
        "RoutingEvent",
        "Runtime",
        "RuntimeConfig",
        "RuntimeMetrics",
        "RuntimeNotRunning",
        "RuntimeState",
        "RuntimeStatistics",
        "ShutdownConfig",
        "Skip",
        "SqliteEventLog",
        "SqliteLogStatistics",
        "StateUnavailable",
        "StorageFull",
        "StorageUnavailable",
        "StoredEvent",
        "StrategyProduced",
        "StreamBroken",
        "StreamChunk",
        "StreamInterrupted",
        "Subscription",
        "TextPart",
        "ThreadedRuntime",
        "ThreadedStream",
        "TimeoutOverrides",
        "Timeouts",
        "TimerHandle",
        "ToolCall",
        "UnknownEvent",
        "UnsupportedParameter",
        "Usage",
        "UsageSummary",
        "WouldDeadlock",
        "configure_logging",
        "load_config",
        "log_requests",
        "resolve_api_keys",
        "validate_config",
    ]
)
"""Exactly what ``runtime`` exports (like httpx's test): a change here is an API change."""


OURS = ("events", "actors", "runtime")

# Constructors the runtime calls itself; users get these objects from a method
# (``rt.subscribe()``, ``ThreadedRuntime.start()``, ``rt.stream()``,
# ``SqliteEventLog.open()``), so their parameters are internal plumbing.
INTERNAL_CONSTRUCTORS = {"Subscription", "ThreadedRuntime", "ThreadedStream", "SqliteEventLog"}
INTERNAL_CONSTRUCTORS.add("PostgresEventLog")  # built by ``PostgresEventLog.open()``
# Dunder methods that are part of how a class is used.
USED_DUNDERS = {"__call__", "__enter__", "__aenter__", "__iter__", "__next__", "__aiter__"}
USED_DUNDERS |= {"__anext__", "__getitem__"}


def _is_ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] in OURS


def _namespace() -> dict[str, object]:
    """Names annotations may use only under TYPE_CHECKING (``Runtime``...)."""
    found: dict[str, object] = {}
    for name in ("events", "actors", "runtime"):
        found.update(vars(importlib.import_module(name)))
    return found


def _hints(obj: object) -> dict[str, object]:
    return typing.get_type_hints(obj, localns=_namespace())


def _classes_in(annotation: object) -> Iterator[type]:
    """Every class of our packages an annotation names, at any depth."""
    if isinstance(annotation, type):
        if _is_ours(annotation):
            yield annotation
        return
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and _is_ours(origin):
        yield origin
    for arg in typing.get_args(annotation):
        yield from _classes_in(arg)


def _signatures(cls: type) -> Iterator[tuple[str, object]]:
    """``(where, function or class)`` for each public signature of ``cls``."""
    yield cls.__qualname__, cls  # its public (class-level) field annotations
    own = [c for c in cls.__mro__ if _is_ours(c)]
    for name in sorted({n for c in own for n in vars(c)}):
        public = not name.startswith("_") or name in USED_DUNDERS
        constructor = name == "__init__" and cls.__name__ not in INTERNAL_CONSTRUCTORS
        if not (public or constructor):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, property):
            member = member.fget
        elif isinstance(member, classmethod | staticmethod):
            member = member.__func__
        if inspect.isfunction(member):
            yield f"{cls.__qualname__}.{name}", member


def _referenced() -> dict[type, set[str]]:
    """Our classes reachable from ``runtime.__all__`` through public signatures."""
    import runtime

    found: dict[type, set[str]] = {}
    todo = [getattr(runtime, name) for name in runtime.__all__]
    seen: set[int] = set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen or not _is_ours(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, type):
            pairs = list(_signatures(obj))
        elif inspect.isfunction(obj):
            pairs = [(obj.__qualname__, obj)]
        else:
            continue
        for where, target in pairs:
            hints = _hints(target)
            if isinstance(target, type):
                hints = {k: v for k, v in hints.items() if not k.startswith("_")}
            for annotation in hints.values():
                for cls in _classes_in(annotation):
                    found.setdefault(cls, set()).add(where)
                    todo.append(cls)
    return found


def test_every_type_in_a_public_signature_of_runtime_is_exported() -> None:
    import runtime

    found = _referenced()
    assert runtime.Reply in found and runtime.Usage in found  # the walk reaches fields
    missing = {
        f"{cls.__module__}.{cls.__qualname__}": sorted(where)
        for cls, where in found.items()
        if getattr(runtime, cls.__name__, None) is not cls
    }
    assert not missing, f"used in runtime's public signatures, not exported: {missing}"


def test_runtime_all_is_pinned() -> None:
    import runtime

    assert sorted(runtime.__all__) == RUNTIME_ALL


def test_every_name_of_runtime_all_is_ours() -> None:
    import runtime

    for name in runtime.__all__:
        obj = getattr(runtime, name)
        assert _is_ours(obj), f"runtime.{name} comes from {obj.__module__}"
