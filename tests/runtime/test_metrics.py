"""``RuntimeMetrics`` over a real Runtime and chaos backends, read back by the parser."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from actors import ManualClock
from runtime import (
    HealthConfig,
    QuotaConfig,
    QuotaExceeded,
    Runtime,
    RuntimeConfig,
    RuntimeNotRunning,
)
from runtime._metrics import RuntimeMetrics
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually

Servers = tuple[ChaosServer, ChaosServer]
QUARANTINE = HealthConfig(
    check_interval_seconds=0, failure_threshold=3, quarantine_seconds=30.0, min_calls=10
)


def parse(metrics: RuntimeMetrics) -> list[Sample]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    return [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels``."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def scenario(tmp_path: Path, servers: Servers) -> RuntimeConfig:
    """llama3 on a and b, qwen on b; role ``coder`` = qwen then llama3; a token quota."""
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "qwen": ("b",)},
                 roles={"coder": ("qwen", "llama3")}, health=QUARANTINE)  # fmt: skip
    return msgspec.structs.replace(cfg, quota=QuotaConfig(daily_tokens=1_000_000))


async def test_counters_and_histograms_after_a_fallback_and_a_quarantine(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    b.set_fault(Fault(kind="http_error", status=503, count=1), model="qwen")
    async with Runtime.from_config(scenario(tmp_path, servers), clock=clock) as rt:
        metrics = RuntimeMetrics(rt)
        ids = [(await rt.chat(MESSAGES, model="llama3")).request_id for _ in range(6)]
        fallback = await rt.chat(MESSAGES, role="coder")  # qwen fails once -> llama3
        ids.append(fallback.request_id)
        async for chunk in rt.stream(MESSAGES, model="llama3"):
            ids.append(chunk.request_id)
        await rt.flush_events()
        await eventually(lambda: total(parse(metrics), "llmrt_requests_total") == 8)
        samples = parse(metrics)
        metrics.close()

    assert fallback.model == "llama3" and fallback.endpoint == "b"
    assert value(samples, "llmrt_requests_total", role="", model="llama3",
                 outcome="succeeded") == 7  # fmt: skip
    assert value(samples, "llmrt_requests_total", role="coder", model="llama3",
                 outcome="succeeded") == 1  # fmt: skip
    # Round-robin sends every other request to a until 3 failures quarantine it.
    assert value(samples, "llmrt_attempts_total", model="llama3", endpoint="a",
                 outcome="failed") == 3  # fmt: skip
    assert value(samples, "llmrt_attempt_failures_total", model="llama3", endpoint="a",
                 failure="server_error") == 3  # fmt: skip
    assert value(samples, "llmrt_attempt_failures_total", model="qwen", endpoint="b",
                 failure="server_error") == 1  # fmt: skip
    assert value(samples, "llmrt_attempts_total", model="llama3", endpoint="b",
                 outcome="succeeded") == 8  # fmt: skip
    assert value(samples, "llmrt_fallbacks_total", from_model="qwen", to_model="llama3",
                 reason="failure") == 1  # fmt: skip
    assert value(samples, "llmrt_quarantines_total", model="llama3", endpoint="a") == 1
    assert value(samples, "llmrt_candidates_skipped_total", model="llama3", endpoint="a",
                 reason="quarantined") >= 1  # fmt: skip
    # Scrape-time health: one status is 1 per deployment, the rest 0.
    assert value(samples, "llmrt_deployment_status", model="llama3", endpoint="a",
                 status="quarantined") == 1  # fmt: skip
    assert total(samples, "llmrt_deployment_status", model="llama3", endpoint="a") == 1
    assert value(samples, "llmrt_deployment_status", model="llama3", endpoint="b",
                 status="healthy") == 1  # fmt: skip
    # Histograms: every answered request's latency; TTFT and tokens per deployment.
    assert value(samples, "llmrt_request_latency_seconds_count", model="llama3") == 8
    assert value(samples, "llmrt_request_latency_seconds_bucket", model="llama3",
                 le="+Inf") == 8  # fmt: skip
    assert value(samples, "llmrt_attempt_ttft_seconds_count", model="llama3", endpoint="b") >= 1
    assert value(samples, "llmrt_tokens_total", model="llama3", endpoint="b",
                 direction="completion") > 0  # fmt: skip
    # Quota usage, read from rt.usage() at scrape time.
    used = value(samples, "llmrt_quota_used", limit="global.tokens")
    assert 0 < used == value(samples, "llmrt_quota_period_usage", model="llama3", unit="tokens")
    assert value(samples, "llmrt_quota_limit", limit="global.tokens") == 1_000_000
    assert value(samples, "llmrt_quota_period_usage", model="llama3", unit="requests") == 8
    # No label ever carries a request id.
    assert all("request_id" not in s.labels for s in samples)
    assert not {v for s in samples for v in s.labels.values()} & set(ids)


async def test_event_log_metrics(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        metrics = RuntimeMetrics(rt)
        for _ in range(3):
            await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        samples = parse(metrics)
        stats = rt.statistics().event_log
        batches = rt._running().log.statistics().batches_committed  # type: ignore[attr-defined]
    assert value(samples, "llmrt_eventlog_events_total") == stats.background_events > 0
    assert value(samples, "llmrt_eventlog_queue_depth") == 0  # flushed
    assert value(samples, "llmrt_eventlog_append_failures_total") == 0
    assert value(samples, "llmrt_eventlog_room_wait_seconds_total") == 0
    # One observation per committed batch (the log's start-up batches came earlier).
    observed = value(samples, "llmrt_eventlog_append_latency_seconds_count")
    assert 1 <= observed <= batches
    assert value(samples, "llmrt_eventlog_append_latency_seconds_sum") >= 0


async def test_recovery_is_counted_after_probing(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)},
                 health=HealthConfig(check_interval_seconds=0, failure_threshold=1,
                                     quarantine_seconds=5.0))  # fmt: skip
    a.set_fault(Fault(kind="http_error", status=500, count=1), model="llama3")
    async with Runtime.from_config(cfg, clock=clock) as rt:
        metrics = RuntimeMetrics(rt)
        with pytest.raises(Exception, match="llama3@a"):
            await rt.chat(MESSAGES, model="llama3")
        await clock.advance(6.0)  # past the quarantine: the next request is a probe
        await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: total(parse(metrics), "llmrt_recoveries_total") == 1)
        samples = parse(metrics)
    assert value(samples, "llmrt_quarantines_total", model="llama3", endpoint="a") == 1
    assert value(samples, "llmrt_recoveries_total", model="llama3", endpoint="a") == 1
    assert value(samples, "llmrt_requests_total", model="llama3", outcome="failed") == 1
    assert value(samples, "llmrt_requests_total", model="llama3", outcome="succeeded") == 1
    # A failed request's latency is not mixed into the answered requests' histogram.
    assert value(samples, "llmrt_request_latency_seconds_count", model="llama3") == 1


async def test_close_stops_counting_and_scraping(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        metrics = RuntimeMetrics(rt)
        await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: total(parse(metrics), "llmrt_requests_total") == 1)
        metrics.close()
        metrics.close()  # idempotent
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        after = parse(metrics)
    assert value(after, "llmrt_requests_total", model="llama3") == 1
    assert not [s for s in after if s.name == "llmrt_deployment_status"]


async def test_a_shared_registry_and_a_stopped_runtime(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    registry = CollectorRegistry()
    own = Counter("facade_http_requests", "The HTTP layer's own metric.", registry=registry)
    own.inc()
    rt = Runtime.from_config(config(tmp_path, {"a": a}, {"llama3": ("a",)}))
    with pytest.raises(RuntimeNotRunning):
        RuntimeMetrics(rt)
    async with rt:
        metrics = RuntimeMetrics(rt, registry=registry)
    assert metrics.registry is registry
    samples = parse(metrics)  # the runtime is closed: scrape-time families are skipped
    assert value(samples, "facade_http_requests_total") == 1
    assert not [s for s in samples if s.name == "llmrt_eventlog_queue_depth"]
    assert [s for s in samples if s.name == "llmrt_eventlog_append_latency_seconds_count"]
    metrics.close()


async def test_quota_warnings_and_refusals_are_counted(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    cfg = msgspec.structs.replace(cfg, quota=QuotaConfig(daily_requests=2, warn_ratio=0.5))
    async with Runtime.from_config(cfg) as rt:
        metrics = RuntimeMetrics(rt)
        for _ in range(2):
            await rt.chat(MESSAGES, model="llama3")
        with pytest.raises(QuotaExceeded):
            await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: total(parse(metrics), "llmrt_quota_warnings_total") == 1)
        samples = parse(metrics)
    assert value(samples, "llmrt_quota_warnings_total", limit="global.requests") == 1
    assert value(samples, "llmrt_quota_refusals_total") == 1
    assert value(samples, "llmrt_quota_unrecorded_total") == 0
    assert value(samples, "llmrt_quota_used", limit="global.requests", scope="global",
                 unit="requests") == 2  # fmt: skip
    assert value(samples, "llmrt_quota_limit", limit="global.requests") == 2
