"""Facts: event types, their codec, the event log (SQLite and in-memory), snapshots, replay.

Importing this package registers every built-in event type in ``default_registry``.
"""

from __future__ import annotations

from events._base import (
    Event,
    StoredEvent,
    UnknownEvent,
)
from events._catalog import (
    CATALOG_STREAM_PREFIX,
    ModelListFailed,
    ModelListRefreshed,
    ModelNotServed,
    ModelsDiscovered,
)
from events._codec import (
    EventRegistry,
    Upcaster,
    default_registry,
)
from events._errors import (
    ConcurrencyConflict,
    EventLogBacklogged,
    EventLogClosed,
    EventLogError,
    InvalidLogFile,
    LLMRuntimeError,
    LogCompacted,
    LogFromNewerVersion,
    StorageFull,
    StorageUnavailable,
)
from events._escalation import (
    ESCALATION_STREAM_PREFIX,
    CandidateGenerated,
    CheckFailed,
    CheckPassed,
    EscalationEvent,
    EscalationFailed,
    EscalationStarted,
    EscalationSucceeded,
    StrategyProduced,
)
from events._health import (
    HEALTH_STREAM_PREFIX,
    DeploymentCoolingDown,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentPanicProbe,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    HealthEvent,
    HealthOutcomeRecorded,
    HealthReset,
)
from events._logger import ROOT_LOGGER, KeywordLogger, LogLine, get_logger
from events._memory import (
    MemoryEventLog,
)
from events._pipeline import CommitHook, CommittedBatch, PipelineStatistics
from events._postgres import PostgresEventLog
from events._protocol import (
    EventLog,
    LogBounds,
    SnapshotStore,
)
from events._quota import (
    QUOTA_LEDGER_STREAM,
    QUOTA_STREAM_PREFIX,
    QuotaEvent,
    QuotaExceededRecorded,
    QuotaPeriodStarted,
    QuotaReleased,
    QuotaReserved,
    QuotaSettled,
    QuotaWarningIssued,
)
from events._replay import (
    BatchFold,
    Evolve,
    Projection,
    fold,
    fold_from,
    replay,
)
from events._routing import (
    FALLBACK_REASONS,
    REQUEST_STREAM_PREFIX,
    ROUTING_TYPES,
    SKIP_REASONS,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BodyMessage,
    CandidateSkipped,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    RoutingEvent,
    StreamInterrupted,
    deployment_id,
    split_deployment,
)
from events._snapshots import (
    Projector,
)
from events._sqlite import (
    SqliteEventLog,
    SqliteLogStatistics,
)
from events._system import (
    EVENT_LOG_STREAM,
    ActorFailed,
    ActorRestarted,
    ActorStopped,
    EventLogRecovered,
)

_DISTRIBUTION = "llm-reliability-runtime"
"""Marks this package as ours: ``actors`` and ``runtime`` check it on import, so another
distribution's ``events`` package installed over ours fails with a clear error."""

__all__ = [
    "BatchFold",
    "EVENT_LOG_STREAM",
    "EventLogRecovered",
    "CommitHook",
    "CommittedBatch",
    "EventLogBacklogged",
    "LogBounds",
    "LogCompacted",
    "PipelineStatistics",
    "ROOT_LOGGER",
    "KeywordLogger",
    "LogLine",
    "get_logger",
    "ESCALATION_STREAM_PREFIX",
    "CandidateGenerated",
    "CheckFailed",
    "CheckPassed",
    "EscalationEvent",
    "EscalationFailed",
    "EscalationStarted",
    "EscalationSucceeded",
    "StrategyProduced",
    "QUOTA_LEDGER_STREAM",
    "QUOTA_STREAM_PREFIX",
    "QuotaEvent",
    "QuotaExceededRecorded",
    "QuotaPeriodStarted",
    "QuotaReleased",
    "QuotaReserved",
    "QuotaSettled",
    "QuotaWarningIssued",
    "CATALOG_STREAM_PREFIX",
    "FALLBACK_REASONS",
    "HEALTH_STREAM_PREFIX",
    "REQUEST_STREAM_PREFIX",
    "ROUTING_TYPES",
    "SKIP_REASONS",
    "ActorFailed",
    "ActorRestarted",
    "ActorStopped",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "BodyMessage",
    "CandidateSkipped",
    "ConcurrencyConflict",
    "DeploymentCoolingDown",
    "DeploymentDegraded",
    "DeploymentFailed",
    "DeploymentPanicProbe",
    "DeploymentProbingStarted",
    "DeploymentQuarantined",
    "DeploymentRecovered",
    "DeploymentStabilized",
    "Event",
    "EventLog",
    "EventLogClosed",
    "EventLogError",
    "EventRegistry",
    "Evolve",
    "FallbackSwitched",
    "HealthEvent",
    "HealthOutcomeRecorded",
    "HealthReset",
    "InvalidLogFile",
    "LLMRuntimeError",
    "LogFromNewerVersion",
    "MemoryEventLog",
    "ModelListFailed",
    "ModelListRefreshed",
    "ModelNotServed",
    "ModelsDiscovered",
    "Projection",
    "Projector",
    "RequestCancelled",
    "RequestFailed",
    "RequestStarted",
    "RequestSucceeded",
    "RoutingEvent",
    "SnapshotStore",
    "SqliteEventLog",
    "SqliteLogStatistics",
    "PostgresEventLog",
    "StorageFull",
    "StorageUnavailable",
    "StoredEvent",
    "StreamInterrupted",
    "UnknownEvent",
    "Upcaster",
    "default_registry",
    "deployment_id",
    "fold",
    "fold_from",
    "replay",
    "split_deployment",
]
