"""Scrape-time metrics: read from the Runtime's summaries when Prometheus scrapes.

Health status, quota usage and the event log's counters already live in the runtime
(``rt.health()``, ``rt.usage()``, ``rt.statistics()``); copying them into gauges on
every change would cost the hot path for nothing, so this collector reads them only
when ``/metrics`` is rendered. A runtime that is not running yields none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from actors.quota import LimitStatus, UsageSummary
from runtime._errors import RuntimeNotRunning, StateUnavailable
from runtime._metrics_labels import Labels
from runtime._summary import HealthSummary

if TYPE_CHECKING:
    from runtime._runtime import Runtime, RuntimeStatistics

__all__ = ["ScrapeCollector"]


class ScrapeCollector(Collector):
    """Health, quota and event-log metrics of one Runtime, read at scrape time."""

    def __init__(self, rt: Runtime, labels: Labels) -> None:
        self._rt = rt
        self._labels = labels

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so the registry can detect name clashes."""
        yield from _health_families()
        yield from _quota_families()
        yield from _quota_counter_families()
        yield from _eventlog_families()

    def collect(self) -> Iterator[Metric]:
        """Every family with the runtime's current values."""
        try:
            health, usage, stats = self._rt.health(), self._rt.usage(), self._rt.statistics()
        except (RuntimeNotRunning, StateUnavailable):
            return  # closed, or an actor is restarting: this scrape has no runtime families
        yield from self._health(health)
        yield from self._quota(usage)
        yield from _quota_counters(stats)
        yield from _eventlog(stats)

    def _health(self, summary: HealthSummary) -> Iterator[Metric]:
        (status,) = _health_families()
        for model in summary.models.values():
            for entry in model.deployments:
                labels = [self._labels.model(entry.model), self._labels.endpoint(entry.endpoint)]
                for value in self._labels.statuses:
                    status.add_metric([*labels, value], 1.0 if entry.status == value else 0.0)
        yield status

    def _quota(self, usage: UsageSummary) -> Iterator[Metric]:
        used, reserved, limit, period, resets = _quota_families()
        # Limit names come from the config, so their series are bounded already.
        for status in usage.limits:
            labels = _limit_labels(status)
            used.add_metric(labels, status.used)
            reserved.add_metric(labels, status.reserved)
            limit.add_metric(labels, status.limit_value)
        per_model: dict[str, tuple[int, int]] = {}
        for model, counted in usage.models.items():
            name = self._labels.model(model)
            requests, tokens = per_model.get(name, (0, 0))
            per_model[name] = (requests + counted.requests, tokens + counted.tokens)
        for name, (requests, tokens) in sorted(per_model.items()):
            period.add_metric([name, "requests"], requests)
            period.add_metric([name, "tokens"], tokens)
        resets.add_metric([], usage.resets_in)
        yield from (used, reserved, limit, period, resets)


def _health_families() -> tuple[GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "llmrt_deployment_status",
            "1 for the current health status of each deployment, 0 for the others.",
            labels=["model", "endpoint", "status"],
        ),
    )


_LIMIT_LABELS = ["limit", "scope", "unit"]


def _quota_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "llmrt_quota_used",
            "Settled usage of each configured quota limit in the current period.",
            labels=_LIMIT_LABELS,
        ),
        GaugeMetricFamily(
            "llmrt_quota_reserved",
            "Estimated usage of requests in flight, per configured quota limit.",
            labels=_LIMIT_LABELS,
        ),
        GaugeMetricFamily(
            "llmrt_quota_limit",
            "The value of each configured quota limit.",
            labels=_LIMIT_LABELS,
        ),
        GaugeMetricFamily(
            "llmrt_quota_period_usage",
            "Settled requests and tokens per model in the current quota period.",
            labels=["model", "unit"],
        ),
        GaugeMetricFamily(
            "llmrt_quota_resets_in_seconds",
            "Seconds until the quota period resets.",
        ),
    )


def _quota_counter_families() -> tuple[CounterMetricFamily, CounterMetricFamily]:
    return (
        CounterMetricFamily(
            "llmrt_quota_refusals",
            "Attempts refused by a quota limit (the request failed or fell back).",
        ),
        CounterMetricFamily(
            "llmrt_quota_unrecorded",
            "Quota events that could not be committed (those requests were refused).",
        ),
    )


def _quota_counters(stats: RuntimeStatistics) -> Iterator[Metric]:
    refusals, unrecorded = _quota_counter_families()
    refusals.add_metric([], stats.quota.refused)
    unrecorded.add_metric([], stats.quota.unrecorded)
    yield from (refusals, unrecorded)


def _limit_labels(status: LimitStatus) -> list[str]:
    scope, _, unit = status.limit.rpartition(".")
    return [status.limit, scope, unit]


_EventLogFamilies = tuple[
    GaugeMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
]


def _eventlog_families() -> _EventLogFamilies:
    return (
        GaugeMetricFamily(
            "llmrt_eventlog_queue_depth",
            "Appends waiting for the event log's writer (its queue is the only one).",
        ),
        CounterMetricFamily(
            "llmrt_eventlog_events", "Events of background appends committed to the event log."
        ),
        CounterMetricFamily(
            "llmrt_eventlog_append_failures",
            "Background appends that failed (their events are not in the log).",
        ),
        CounterMetricFamily(
            "llmrt_eventlog_room_wait_seconds",
            "Seconds new requests waited for room in the event log's full queue.",
        ),
        CounterMetricFamily(
            "llmrt_notification_callback_errors",
            "Subscriber callbacks that raised (each was logged).",
        ),
    )


def _eventlog_health(stats: RuntimeStatistics) -> Iterator[Metric]:
    health = stats.event_log_health
    failing = GaugeMetricFamily(
        "llmrt_eventlog_failing", "1 while the event log cannot write (disk full, locked...)."
    )
    failing.add_metric([], 0 if health.status == "ok" else 1)
    unrecorded = CounterMetricFamily(
        "llmrt_requests_unrecorded",
        "Requests answered whose events the failing log could not record (on_log_failure: serve).",
    )
    unrecorded.add_metric([], health.unrecorded_requests)
    refused = CounterMetricFamily(
        "llmrt_requests_refused_log_failing",
        "Requests refused because the event log could not write (on_log_failure: refuse).",
    )
    refused.add_metric([], health.refused_requests)
    yield from (failing, unrecorded, refused)


def _eventlog_room(stats: RuntimeStatistics) -> Iterator[Metric]:
    """The queue's bound and the waits for room in it (the wait's seconds are below)."""
    pipeline = stats.event_log
    capacity = GaugeMetricFamily(
        "llmrt_eventlog_queue_capacity",
        "Queued appends above which new requests wait for room (compare with the depth).",
    )
    capacity.add_metric([], pipeline.capacity)
    waits = CounterMetricFamily(
        "llmrt_eventlog_room_waits",
        "Times a new request found the event log's queue full and waited for room.",
    )
    waits.add_metric([], pipeline.room_waits)
    longest = GaugeMetricFamily(
        "llmrt_eventlog_room_wait_longest_seconds",
        "The longest single wait for room in the event log's queue since start.",
    )
    longest.add_metric([], pipeline.longest_room_wait)
    yield from (capacity, waits, longest)


def _eventlog(stats: RuntimeStatistics) -> Iterator[Metric]:
    yield from _eventlog_health(stats)
    yield from _eventlog_room(stats)
    depth, events, failures, waited, callbacks = _eventlog_families()
    pipeline = stats.event_log
    depth.add_metric([], pipeline.queued)
    for family, value in (
        (events, pipeline.background_events),
        (failures, pipeline.failed_appends),
        (waited, pipeline.room_wait_seconds),
        (callbacks, stats.notification_errors),
    ):
        family.add_metric([], value)
    yield from (depth, events, failures, waited, callbacks)
