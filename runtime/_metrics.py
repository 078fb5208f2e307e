"""``RuntimeMetrics``: Prometheus metrics of one Runtime, in a registry of its own.

Example (an HTTP layer serving ``/metrics``)::

    metrics = RuntimeMetrics(rt)             # after rt.start()
    body, content_type = metrics.render()
    ...
    metrics.close()

Counters and histograms are fed by the events the Runtime publishes (``rt.on``:
callbacks run soon after each event, never inside a request) and by the event log's
commit timings (``rt.on_append``). Health status, quota usage and the event log's
counters are read at scrape time (``runtime._metrics_collect``). Every label value is
a configured name or a closed vocabulary (``runtime._metrics_labels``): never a request
id or user text.

Families (prefix ``llmrt_``): ``requests_total{role,model,outcome}``,
``attempts_total{model,endpoint,outcome}``, ``attempt_failures_total{model,endpoint,
failure}``, ``fallbacks_total{from_model,to_model,reason}``,
``candidates_skipped_total{model,endpoint,reason}``, ``quarantines_total`` and
``recoveries_total{model,endpoint}``, ``request_latency_seconds{model}`` (answered
requests), ``attempt_ttft_seconds{model,endpoint}``,
``tokens_total{model,endpoint,direction}``, ``quota_warnings_total{limit}``,
``eventlog_append_latency_seconds``, and the scrape-time ones: ``deployment_status``,
``quota_used``/``quota_reserved``/``quota_limit``, ``quota_period_usage``,
``quota_resets_in_seconds``, ``quota_refusals_total``, ``quota_unrecorded_total``,
``eventlog_queue_depth``,
``eventlog_events_total``, ``eventlog_append_failures_total``, ``eventlog_dropped_total``,
``notification_callback_errors_total``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from events import (
    AttemptFailed,
    AttemptSucceeded,
    CandidateSkipped,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    QuotaWarningIssued,
    RoutingEvent,
    StreamInterrupted,
)
from runtime._metrics_collect import ScrapeCollector
from runtime._metrics_labels import Labels
from runtime._request_line import RequestLine, RequestLines

if TYPE_CHECKING:
    from runtime._runtime import Runtime

__all__ = ["APPEND_BUCKETS", "LATENCY_BUCKETS", "RuntimeMetrics", "TTFT_BUCKETS"]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 45.0, 60.0,
                   90.0, 120.0)  # fmt: skip
"""Request latency buckets, seconds: LLM calls take from tens of ms to minutes."""

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
"""Time-to-first-token buckets, seconds (a model load can push it to tens of seconds)."""

APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                  5.0)  # fmt: skip
"""Event-log append-to-commit buckets, seconds (a group commit is ~ms; a stall, more)."""

_HEALTH_EVENTS = (DeploymentQuarantined, DeploymentRecovered)


class RuntimeMetrics:
    """Prometheus metrics of one Runtime; see the module docstring for the families."""

    def __init__(self, rt: Runtime, *, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics and subscribe to ``rt`` (which must be started).

        Args:
            rt: A started Runtime.
            registry: Where to register; a new private registry by default, so an HTTP
                layer can add its own metrics to ``self.registry``.

        Raises:
            RuntimeNotRunning: ``rt`` is not started (or already closed).
        """
        self.registry = CollectorRegistry() if registry is None else registry
        self._labels = Labels(rt.config)
        self._lines = RequestLines()
        self._collector = ScrapeCollector(rt, self._labels)
        # Subscribe first: a runtime that is not running raises before anything is
        # registered; a name clash in a shared registry undoes the subscriptions.
        # (Callbacks run in a later loop turn, after the metrics below exist.)
        undos: list[Callable[[], None]] = [
            rt.on(RoutingEvent, self._on_routing),
            rt.on_append(self._on_append),
        ]
        undos += [rt.on(t, self._on_health) for t in _HEALTH_EVENTS]
        undos.append(rt.on(QuotaWarningIssued, self._on_quota_warning))
        self._undos = undos
        try:
            self._define(self.registry)
            self.registry.register(self._collector)
        except BaseException:
            for undo in undos:
                undo()
            raise
        self._closed = False

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format: ``(body, content_type)``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Stop counting (remove the callbacks) and stop reading the runtime at scrape
        time; the counters gathered so far stay in the registry. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for undo in self._undos:
            undo()
        self.registry.unregister(self._collector)

    def _define(self, r: CollectorRegistry) -> None:
        self._requests = Counter(
            "llmrt_requests", "Finished requests by role, model (the one that answered, "
            "else the chain's first) and outcome.", ["role", "model", "outcome"], registry=r,
        )  # fmt: skip
        self._attempts = Counter(
            "llmrt_attempts", "Backend calls by deployment and outcome.",
            ["model", "endpoint", "outcome"], registry=r,
        )  # fmt: skip
        self._failures = Counter(
            "llmrt_attempt_failures", "Failed backend calls by deployment and failure class.",
            ["model", "endpoint", "failure"], registry=r,
        )  # fmt: skip
        self._fallbacks = Counter(
            "llmrt_fallbacks", "Requests moving from one model of their chain to the next.",
            ["from_model", "to_model", "reason"], registry=r,
        )  # fmt: skip
        self._skipped = Counter(
            "llmrt_candidates_skipped", "Deployments left out of a request's plan, by reason.",
            ["model", "endpoint", "reason"], registry=r,
        )  # fmt: skip
        self._quarantines = Counter(
            "llmrt_quarantines", "Deployments quarantined.", ["model", "endpoint"], registry=r
        )
        self._recoveries = Counter(
            "llmrt_recoveries", "Deployments healthy again after trouble (not first success).",
            ["model", "endpoint"], registry=r,
        )  # fmt: skip
        self._latency = Histogram(
            "llmrt_request_latency_seconds", "Latency of answered requests, retries and "
            "fallbacks included, by the model that answered.", ["model"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._ttft = Histogram(
            "llmrt_attempt_ttft_seconds", "Time to first token of successful calls, "
            "when measured.",
            ["model", "endpoint"], buckets=TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self._tokens = Counter(
            "llmrt_tokens", "Tokens the backends reported, by deployment and direction.",
            ["model", "endpoint", "direction"], registry=r,
        )  # fmt: skip
        self._quota_warnings = Counter(
            "llmrt_quota_warnings", "Quota warnings issued, by limit.", ["limit"], registry=r
        )
        self._append_latency = Histogram(
            "llmrt_eventlog_append_latency_seconds", "Seconds from handing a batch of "
            "appends to the event log's storage until its commit (one per batch).",
            buckets=APPEND_BUCKETS, registry=r,
        )  # fmt: skip

    # --- event callbacks (run by the notifier soon after each event) -------------------

    def _on_routing(self, event: Event) -> None:
        match event:
            case AttemptSucceeded():
                model, endpoint = self._labels.deployment(event.deployment)
                self._attempts.labels(model, endpoint, "succeeded").inc()
                if event.ttft_s is not None:
                    self._ttft.labels(model, endpoint).observe(event.ttft_s)
                for direction, tokens in (
                    ("prompt", event.prompt_tokens),
                    ("completion", event.completion_tokens),
                ):
                    if tokens:
                        self._tokens.labels(model, endpoint, direction).inc(tokens)
            case AttemptFailed() | StreamInterrupted():
                model, endpoint = self._labels.deployment(event.deployment)
                outcome = "failed" if isinstance(event, AttemptFailed) else "interrupted"
                self._attempts.labels(model, endpoint, outcome).inc()
                failure = self._labels.failure(event.failure)
                self._failures.labels(model, endpoint, failure).inc()
            case FallbackSwitched():
                self._fallbacks.labels(
                    self._labels.model(event.from_model),
                    self._labels.model(event.to_model),
                    self._labels.fallback_reason(event.reason),
                ).inc()
            case CandidateSkipped():
                model, endpoint = self._labels.deployment(event.deployment)
                self._skipped.labels(model, endpoint, self._labels.skip_reason(event.reason)).inc()
            case _:
                pass
        line = self._lines.feed(event)
        if line is not None:
            self._finished(line)

    def _finished(self, line: RequestLine) -> None:
        answered = line.answered_model or line.primary or line.model
        model = self._labels.model(answered)
        outcome = self._labels.outcome(line.outcome)
        self._requests.labels(self._labels.role(line.role), model, outcome).inc()
        if line.outcome == "succeeded" and line.latency_s is not None:
            self._latency.labels(model).observe(line.latency_s)

    def _on_health(self, event: Event) -> None:
        match event:
            case DeploymentQuarantined():
                self._quarantines.labels(*self._labels.deployment(event.deployment)).inc()
            case DeploymentRecovered() if event.previous != "unknown":
                self._recoveries.labels(*self._labels.deployment(event.deployment)).inc()
            case _:
                pass

    def _on_quota_warning(self, event: Event) -> None:
        # Limit names are ``<scope>.<unit>`` of configured limits; clamped all the same.
        if isinstance(event, QuotaWarningIssued):
            self._quota_warnings.labels(self._labels.limit(event.limit)).inc()

    def _on_append(self, seconds: float, events: int) -> None:
        self._append_latency.observe(seconds)
