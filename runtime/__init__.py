"""What users embed and run: config, the Runtime facade, entry points, test backends.

Example::

    from runtime import Runtime

    async with Runtime.from_config("llm.yaml") as rt:
        reply = await rt.chat([{"role": "user", "content": "hi"}], role="generator")
        print(reply.content, reply.model, reply.endpoint, reply.usage, reply.request_id)

From synchronous code (threads, scripts), the same runtime on its own loop thread::

    from runtime import ThreadedRuntime

    with ThreadedRuntime.start("llm.yaml") as rt:
        print(rt.chat([{"role": "user", "content": "hi"}], role="generator").get().content)
"""

from __future__ import annotations

import runtime._provenance  # noqa: F401  (first: refuses foreign events/actors)

# isort: split

from actors import (
    ActorState,
    ActorStatistics,
    Clock,
    ManualClock,
    RealClock,
    TimerHandle,
)
from actors.endpoint import EndpointStatistics, Message, Usage
from actors.escalation import AttemptOutcome, CheckResult, EscalationResult
from actors.health import HealthStatistics
from actors.performance import DeploymentPerformance, ModelPerformance, PerformanceSummary
from actors.quota import LimitStatus, QuotaStatistics, QuotaUsage, UsageSummary
from actors.router import AttemptRecord, Reply, RouterStatistics, Skip, StreamChunk
from events import (
    ActorFailed,
    ActorRestarted,
    ActorStopped,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BodyMessage,
    CandidateGenerated,
    CandidateSkipped,
    CheckFailed,
    CheckPassed,
    CommittedBatch,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    EscalationEvent,
    EscalationFailed,
    EscalationStarted,
    EscalationSucceeded,
    Event,
    EventLog,
    EventLogRecovered,
    EventRegistry,
    FallbackSwitched,
    HealthEvent,
    HealthOutcomeRecorded,
    HealthReset,
    MemoryEventLog,
    ModelListFailed,
    ModelListRefreshed,
    PipelineStatistics,
    QuotaEvent,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    RoutingEvent,
    SqliteEventLog,
    SqliteLogStatistics,
    StoredEvent,
    StrategyProduced,
    StreamInterrupted,
    UnknownEvent,
)
from runtime._api_keys import resolve_api_keys
from runtime._config import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    PerformanceConfig,
    QuotaConfig,
    QuotaLimit,
    RetryConfig,
    RoleConfig,
    RuntimeConfig,
    ShutdownConfig,
    TimeoutOverrides,
    Timeouts,
)
from runtime._config_load import load_config, validate_config
from runtime._errors import (
    ActorError,
    AllCandidatesFailed,
    CatalogError,
    ConfigError,
    ConfigProblem,
    EventLogBacklogged,
    EventLogError,
    EventLogFailing,
    InvalidLogFile,
    InvalidRequest,
    LLMRuntimeError,
    LogFromNewerVersion,
    ModelNotFoundError,
    NoCandidates,
    QuotaError,
    QuotaExceeded,
    QuotaUnavailable,
    RequestRejected,
    RoutingError,
    RuntimeNotRunning,
    StateUnavailable,
    StorageFull,
    StorageUnavailable,
    StreamBroken,
)
from runtime._lifecycle import RuntimeState
from runtime._log_guard import EventLogHealth
from runtime._logging import configure_logging, log_requests
from runtime._metrics import RuntimeMetrics
from runtime._notify import Subscription
from runtime._runtime import Runtime, RuntimeStatistics
from runtime._summary import DeploymentStatus, HealthSummary, ModelStatus
from runtime._threaded import ThreadedRuntime
from runtime._threaded_loop import WouldDeadlock
from runtime._threaded_stream import ThreadedStream

_DISTRIBUTION = "llm-reliability-runtime"
"""Marks this package as ours: ``actors`` and ``runtime`` check it on import, so another
distribution's ``runtime`` package installed over ours fails with a clear error."""

__all__ = [
    "BodyMessage",
    "RuntimeState",
    "EventRegistry",
    "CommittedBatch",
    "PipelineStatistics",
    "SqliteLogStatistics",
    "ActorState",
    "ActorStatistics",
    "Clock",
    "ManualClock",
    "RealClock",
    "TimerHandle",
    "EndpointStatistics",
    "Message",
    "Usage",
    "HealthStatistics",
    "QuotaStatistics",
    "QuotaUsage",
    "RouterStatistics",
    "Skip",
    "ActorFailed",
    "ActorRestarted",
    "ActorStopped",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "CandidateGenerated",
    "CandidateSkipped",
    "CheckFailed",
    "CheckPassed",
    "DeploymentDegraded",
    "DeploymentFailed",
    "DeploymentProbingStarted",
    "DeploymentQuarantined",
    "DeploymentRecovered",
    "DeploymentStabilized",
    "EscalationEvent",
    "EscalationFailed",
    "EscalationStarted",
    "EscalationSucceeded",
    "Event",
    "EventLog",
    "FallbackSwitched",
    "HealthEvent",
    "HealthOutcomeRecorded",
    "HealthReset",
    "MemoryEventLog",
    "ModelListFailed",
    "ModelListRefreshed",
    "QuotaEvent",
    "QuotaExceededRecorded",
    "QuotaPeriodStarted",
    "QuotaReleased",
    "QuotaReserved",
    "QuotaSettled",
    "QuotaWarningIssued",
    "RequestCancelled",
    "RequestFailed",
    "RequestStarted",
    "RequestSucceeded",
    "RoutingEvent",
    "SqliteEventLog",
    "StoredEvent",
    "StrategyProduced",
    "StreamInterrupted",
    "UnknownEvent",
    "ActorError",
    "CatalogError",
    "EventLogError",
    "InvalidLogFile",
    "LogFromNewerVersion",
    "QuotaError",
    "RoutingError",
    "StorageFull",
    "StorageUnavailable",
    "StreamBroken",
    "AllCandidatesFailed",
    "AttemptOutcome",
    "AttemptRecord",
    "CheckResult",
    "ConfigError",
    "ConfigProblem",
    "EventLogBacklogged",
    "EventLogFailing",
    "EventLogHealth",
    "EventLogRecovered",
    "DeploymentPerformance",
    "DeploymentStatus",
    "EndpointConfig",
    "EscalationResult",
    "EventLogConfig",
    "HealthConfig",
    "HealthSummary",
    "InvalidRequest",
    "LLMRuntimeError",
    "LimitStatus",
    "ModelConfig",
    "ModelNotFoundError",
    "ModelPerformance",
    "ModelStatus",
    "NoCandidates",
    "PerformanceConfig",
    "ShutdownConfig",
    "PerformanceSummary",
    "QuotaConfig",
    "QuotaExceeded",
    "QuotaLimit",
    "QuotaUnavailable",
    "Reply",
    "RequestRejected",
    "RetryConfig",
    "RoleConfig",
    "Runtime",
    "RuntimeConfig",
    "RuntimeMetrics",
    "RuntimeNotRunning",
    "StateUnavailable",
    "RuntimeStatistics",
    "StreamChunk",
    "Subscription",
    "ThreadedRuntime",
    "ThreadedStream",
    "TimeoutOverrides",
    "Timeouts",
    "UsageSummary",
    "WouldDeadlock",
    "configure_logging",
    "load_config",
    "log_requests",
    "resolve_api_keys",
    "validate_config",
]
