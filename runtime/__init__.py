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

from actors.escalation import AttemptOutcome, CheckResult, EscalationResult
from actors.performance import DeploymentPerformance, ModelPerformance, PerformanceSummary
from actors.quota import LimitStatus, UsageSummary
from actors.router import AttemptRecord, Reply, StreamChunk
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
    TimeoutOverrides,
    Timeouts,
)
from runtime._config_load import load_config, resolve_api_keys, validate_config
from runtime._errors import (
    AllCandidatesFailed,
    ConfigError,
    ConfigProblem,
    InvalidRequest,
    LLMRuntimeError,
    ModelNotFoundError,
    NoCandidates,
    QuotaExceeded,
    QuotaUnavailable,
    RequestRejected,
    RuntimeNotRunning,
    StateUnavailable,
    StreamInterrupted,
)
from runtime._logging import configure_logging, log_requests
from runtime._metrics import RuntimeMetrics
from runtime._notify import Subscription
from runtime._runtime import Runtime, RuntimeStatistics
from runtime._summary import DeploymentStatus, HealthSummary, ModelStatus
from runtime._threaded import ThreadedRuntime
from runtime._threaded_loop import WouldDeadlock
from runtime._threaded_stream import ThreadedStream

__all__ = [
    "AllCandidatesFailed",
    "AttemptOutcome",
    "AttemptRecord",
    "CheckResult",
    "ConfigError",
    "ConfigProblem",
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
    "StreamInterrupted",
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
