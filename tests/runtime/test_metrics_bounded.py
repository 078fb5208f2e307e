"""Hostile names cannot grow the metrics: every label set stays within the config.

Events carrying names nobody configured (deployments, failure classes, reasons, quota
limits, roles and models a client or a backend made up) and requests with thousands of
task kinds are fed to ``RuntimeMetrics``; the number of series does not grow with them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from events import (
    AttemptFailed,
    CandidateSkipped,
    DeploymentQuarantined,
    Event,
    FallbackSwitched,
    QuotaWarningIssued,
    RequestFailed,
    RequestStarted,
)
from runtime import Runtime
from runtime._metrics import RuntimeMetrics
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config

Servers = tuple[ChaosServer, ChaosServer]


def hostile(i: int) -> list[Event]:
    """Events whose every name is made up (``i`` makes them distinct)."""
    rid, name = f"req-{i}", f"evil-{i}"
    return [
        RequestStarted(
            request_id=rid, at=0.0, role=name, model=name, kind=name, stream=False,
            candidates=(f"{name}@{name}",), prompt_chars=1, prompt_hash="",
        ),
        CandidateSkipped(request_id=rid, at=0.0, deployment=f"{name}@{name}", reason=name),
        AttemptFailed(
            request_id=rid, at=0.0, attempt=1, deployment=f"{name}@a", failure=name,
            retryable=True,
        ),
        FallbackSwitched(request_id=rid, at=0.0, from_model=name, to_model=name, reason=name),
        RequestFailed(request_id=rid, at=0.0, attempts=1, error=name),
        DeploymentQuarantined(deployment=f"llama3@{name}", at=0.0, until=1.0, quarantine_count=1),
        QuotaWarningIssued(at=0.0, limit=f"model:{name}.tokens", used=1, limit_value=1, ratio=1.0),
    ]  # fmt: skip


def series(metrics: RuntimeMetrics) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


async def test_made_up_names_and_kinds_do_not_add_series(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, roles={"gen": ("llama3",)})
    async with Runtime.from_config(cfg) as rt:
        metrics = RuntimeMetrics(rt)
        feed = metrics._on_routing, metrics._on_health, metrics._on_quota_warning
        for i in range(3):
            await rt.chat(MESSAGES, model="llama3", kind=f"kind-{i}")
            for event in hostile(i):
                for handler in feed:
                    handler(event)
        few = series(metrics)
        for start in range(3, 2_000, 100):
            await asyncio.gather(
                *(rt.chat(MESSAGES, role="gen", kind=f"kind-{i}") for i in range(start, start + 20))
            )
            for event in (e for i in range(start, start + 100) for e in hostile(i)):
                for handler in feed:
                    handler(event)
        many = series(metrics)
        metrics.close()
    labels = {value for _, pairs in many for _, value in pairs}
    assert not any("evil" in value or "kind-" in value for value in labels)
    added = {name for name, _ in many - few}
    # only the series of role "gen" (requests by role) are new: nothing per made-up name
    assert added <= {"llmrt_requests_total", "llmrt_requests_created"}, added
    assert len(many - few) <= 2, many - few
