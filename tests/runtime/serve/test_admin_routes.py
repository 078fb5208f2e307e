"""The operator routes: POST /admin/health/reset and /admin/health/probe over chaos backends."""

from __future__ import annotations

import contextlib
from pathlib import Path

from events import DeploymentQuarantined, HealthReset
from runtime import HealthConfig, LLMRuntimeError, Runtime
from runtime.serve import ROUTES
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, read_events
from tests.runtime.serve._support import USER, Facade, counts, facade

Servers = tuple[ChaosServer, ChaosServer]
LONG_QUARANTINE = HealthConfig(
    check_interval_seconds=0, failure_threshold=3, quarantine_seconds=600.0, min_calls=10
)
"""Three failures quarantine a deployment for ten minutes: only an operator lifts it."""
CHAT = {"model": "llama3", "messages": USER}


async def quarantine(rt: Runtime, *deployments: str) -> None:
    """Fail llama3 requests until every one of ``deployments`` is quarantined."""
    for _ in range(40):
        if all(rt.health().deployment(d).status == "quarantined" for d in deployments):
            return
        with contextlib.suppress(LLMRuntimeError):
            await rt.chat(MESSAGES, model="llama3")
    raise AssertionError(f"not quarantined: {rt.health()}")


async def test_reset_lifts_a_quarantine_of_every_deployment_and_the_next_request_is_answered(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    async with facade(tmp_path, servers, health=LONG_QUARANTINE) as served:
        for server in servers:
            server.set_fault(Fault(kind="http_error", status=500), model="llama3")
        await quarantine(served.rt, "llama3@a", "llama3@b")
        a.clear_faults()
        b.clear_faults()
        async with served.client() as http:
            reset = await http.post(
                "/admin/health/reset", json={"target": "llama3", "reason": "backend fixed"}
            )
            answered = await http.post("/v1/chat/completions", json=CHAT)
            metrics = (await http.get("/metrics")).text
    assert reset.status_code == 200, reset.text
    assert reset.json() == {
        "target": "llama3",
        "reason": "backend fixed",
        "reset": [
            {"deployment": "llama3@a", "before": "quarantined", "after": "unknown"},
            {"deployment": "llama3@b", "before": "quarantined", "after": "unknown"},
        ],
    }
    assert answered.status_code == 200, answered.text
    resets = await read_events(served.log, HealthReset)
    assert [(e.stream, e.event.reason) for e in resets if isinstance(e.event, HealthReset)] == [
        ("health/llama3@a", "backend fixed"),
        ("health/llama3@b", "backend fixed"),
    ]
    by_route = counts(metrics, "llmrt_http_requests_total")
    key = (("method", "POST"), ("route", "/admin/health/reset"), ("status", "200"))
    assert by_route[key] == 1.0


async def test_admin_routes_need_the_key(served: Facade) -> None:
    async with (
        served.client(key=None) as anonymous,
        served.client(key="wrong-key-0123456789") as bad,
    ):
        refused = [
            await anonymous.post("/admin/health/reset", json={"target": "llama3"}),
            await bad.post("/admin/health/reset", json={"target": "llama3"}),
            await anonymous.post("/admin/health/probe", json={"target": "llama3"}),
        ]
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert not await read_events(served.log, HealthReset)  # nothing was reset
    assert {"/admin/health/reset", "/admin/health/probe"} <= set(ROUTES)


async def test_a_malformed_target_gets_400_and_an_unknown_one_404(served: Facade) -> None:
    bad_bodies = [
        {"target": ""},
        {"target": 3},
        {},
        {"target": "llama3@"},
        {"target": "@a"},
        {"target": "llama3@a@b"},
        {"target": "llama 3"},
        {"target": "llama3", "reason": ""},
        {"target": "llama3", "extra": True},
    ]
    async with served.client() as http:
        malformed = [await http.post("/admin/health/reset", json=body) for body in bad_bodies]
        reason_on_probe = await http.post(
            "/admin/health/probe", json={"target": "llama3", "reason": "x"}
        )
        unknown = await http.post("/admin/health/reset", json={"target": "nothing"})
        unknown_probe = await http.post("/admin/health/probe", json={"target": "mistral@a"})
        not_json = await http.post("/admin/health/reset", content=b"target=llama3")
    assert [r.status_code for r in malformed] == [400] * len(bad_bodies)
    params = [r.json()["error"]["param"] for r in malformed]
    assert params == ["target"] * 7 + ["reason", "extra"]
    assert "'llama3@'" in malformed[3].json()["error"]["message"]
    assert reason_on_probe.status_code == 400
    assert reason_on_probe.json()["error"]["param"] == "reason"
    assert unknown.status_code == 404 and unknown_probe.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "unknown_target" and "llama3" in error["message"]  # lists models
    assert not_json.status_code == 400
    assert not await read_events(served.log, HealthReset)


async def test_probe_clears_a_quarantine_when_the_check_passes_and_counts_a_failure(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    async with facade(tmp_path, servers, health=LONG_QUARANTINE) as served:
        a.set_fault(Fault(kind="http_error", status=500), model="llama3")
        await quarantine(served.rt, "llama3@a")
        a.clear_faults()
        async with served.client() as http:
            passed = await http.post("/admin/health/probe", json={"target": "llama3@a"})
            status = served.rt.health().deployment("llama3@a").status
            await a.stop_listening()
            failed = await http.post("/admin/health/probe", json={"target": "a"})
            await a.resume_listening()
    assert passed.status_code == 200, passed.text
    assert passed.json() == {
        "target": "llama3@a",
        "ok": True,
        "results": [
            {
                "deployment": "llama3@a",
                "outcome": "ok",
                "before": "quarantined",
                "after": "healthy",
                "failure": None,
                "message": "",
            }
        ],
    }
    assert status == "healthy"
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert body["ok"] is False
    (result,) = body["results"]  # endpoint a serves llama3 only in this config
    assert result["deployment"] == "llama3@a" and result["outcome"] == "failed"
    assert result["failure"] == "connection" and result["before"] == "healthy"
    resets = await read_events(served.log, HealthReset)
    assert [(e.stream, e.event.reason) for e in resets if isinstance(e.event, HealthReset)] == [
        ("health/llama3@a", "probe succeeded")
    ]
    assert len(await read_events(served.log, DeploymentQuarantined)) == 1


async def test_probe_of_a_model_its_endpoint_does_not_list_counts_nothing(
    tmp_path: Path,
) -> None:
    async with (
        ChaosServer(["qwen"], seed=1) as a,  # does not serve llama3
        ChaosServer(["llama3", "qwen"], seed=2) as b,
        facade(tmp_path, (a, b)) as served,
        served.client() as http,
    ):
        before = served.rt.health().deployment("llama3@a").status
        probed = await http.post("/admin/health/probe", json={"target": "llama3@a"})
        after = served.rt.health().deployment("llama3@a").status
    assert probed.status_code == 200, probed.text
    (result,) = probed.json()["results"]
    assert result["outcome"] == "unlisted" and probed.json()["ok"] is True
    assert result["before"] == result["after"] == before == after
