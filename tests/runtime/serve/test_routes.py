"""/health, /metrics, /performance-metrics, the model lists, roles as models, and what
happens when a client leaves or a request runs out of time."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from events import RequestCancelled
from runtime import HealthConfig, Timeouts
from runtime.serve import ServeSettings
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import eventually, read_events
from tests.runtime.serve._support import KEY, USER, Facade, counts, facade

Servers = tuple[ChaosServer, ChaosServer]
CHAT = {"model": "gen", "messages": USER, "stream": False}


async def test_health_is_200_with_every_model_and_deployment(served: Facade) -> None:
    async with served.client() as http:
        response = await http.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["models"]) == {"llama3", "qwen"}
    assert [d["deployment"] for d in body["models"]["llama3"]["deployments"]] == [
        "llama3@a",
        "llama3@b",
    ]


async def test_health_is_503_when_no_model_is_usable(tmp_path: Path, servers: Servers) -> None:
    health = HealthConfig(
        check_interval_seconds=0, failure_threshold=1, quarantine_seconds=300, panic_probe=False
    )  # without panic probes, the last request is refused without trying
    async with facade(tmp_path, servers, health=health) as running:
        for backend in (running.a, running.b):
            backend.set_fault(Fault(kind="http_error", status=500))
        async with running.client() as http:
            for model in ("llama3", "qwen"):
                await http.post("/v1/chat/completions", json={**CHAT, "model": model})
            response = await http.get("/health")
            refused = await http.post("/v1/chat/completions", json=CHAT)
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert {m["status"] for m in body["models"].values()} == {"quarantined"}
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_candidates"
    assert refused.headers["x-should-retry"] == "false" and refused.headers["x-request-id"]


async def test_a_request_the_backend_rejects_is_400_and_not_retried(served: Facade) -> None:
    served.a.set_fault(Fault(kind="context_overflow"), model="llama3")
    async with served.client() as http:
        openai_side = await http.post("/v1/chat/completions", json={**CHAT, "model": "llama3"})
    error = openai_side.json()["error"]
    assert openai_side.status_code == 400 and error["code"] == "context_overflow"
    assert "caused by the request itself" in error["message"]
    assert served.b.requests_for(route="/api/chat") == 0


async def test_metrics_parse_and_count_runtime_and_http_requests(served: Facade) -> None:
    async with served.client() as http:
        await http.post("/v1/chat/completions", json=CHAT)
        await http.post("/api/chat", json={**CHAT, "model": "qwen"})
        await served.rt.flush_events()
        response = await http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {"llmrt_requests", "llmrt_http_requests", "llmrt_http_request_duration_seconds"} <= (
        names
    )
    assert counts(response.text, "llmrt_requests_total") == {
        (("model", "llama3"), ("outcome", "succeeded"), ("role", "gen")): 1.0,
        (("model", "qwen"), ("outcome", "succeeded"), ("role", "")): 1.0,
    }
    http_requests = counts(response.text, "llmrt_http_requests_total")
    assert http_requests[(("method", "POST"), ("route", "/api/chat"), ("status", "200"))] == 1


async def test_performance_metrics_for_all_and_for_one_kind(served: Facade) -> None:
    async with served.client() as http:
        await http.post("/v1/chat/completions", json=CHAT)
        await http.post("/v1/chat/completions", json={**CHAT, "kind": "summary"})
        await http.post("/api/chat", json={**CHAT, "model": "coder"})
        everything = (await http.get("/performance-metrics")).json()
        gen = (await http.get("/performance-metrics", params={"agent_type": "gen"})).json()
        code = (await http.get("/performance-metrics", params={"kind": "code"})).json()
        same = await http.get("/performance-metrics", params={"kind": "gen", "agent_type": "gen"})
    assert everything["requests"] == {"code": 1, "gen": 1, "summary": 1}
    assert gen["kind"] == "gen" and gen["requests"] == 1 and gen["roles"] == ["gen"]
    assert [(m["model"], m["samples"]) for m in gen["models"]] == [("llama3", 1)]
    assert [d["deployment"] for d in gen["deployments"]] == ["llama3@a"]
    assert code["roles"] == ["coder"] and [m["model"] for m in code["models"]] == ["qwen"]
    assert same.status_code == 200


async def test_performance_metrics_refuses_unknown_or_conflicting_kinds(served: Facade) -> None:
    async with served.client() as http:
        unknown = await http.get("/performance-metrics?agent_type=Security-Auth-Agent")
        conflict = await http.get("/performance-metrics?kind=gen&agent_type=code")
        configured = await http.get("/performance-metrics?kind=code")
    assert unknown.status_code == 404 and "known kinds: code, gen" in unknown.text
    assert conflict.status_code == 400
    assert configured.status_code == 200 and configured.json()["models"] == []


async def test_model_lists_name_roles_models_and_aliases(served: Facade) -> None:
    async with served.client() as http:
        models = (await http.get("/v1/models")).json()
        tags = (await http.get("/api/tags")).json()
    listed = [(m["id"], m["type"]) for m in models["data"]]
    assert listed == [("gen", "role"), ("coder", "role"), ("llama3", "model"),
                      ("qwen", "model"), ("small", "alias")]  # fmt: skip
    assert [(m["name"], m["type"]) for m in tags["models"]] == listed


async def test_a_role_name_uses_the_role_chain(served: Facade) -> None:
    served.a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    served.b.set_fault(Fault(kind="http_error", status=500), model="llama3")
    async with served.client() as http:
        by_role = await http.post("/api/chat", json=CHAT)
        by_model = await http.post("/api/chat", json={**CHAT, "model": "llama3"})
    assert by_role.status_code == 200 and by_role.json()["model"] == "qwen"
    assert by_model.status_code == 502 and "no deployment answered" in by_model.json()["error"]


async def test_a_configured_model_no_backend_serves_is_404(tmp_path: Path) -> None:
    async with (
        ChaosServer(["other"], seed=3) as a,
        ChaosServer(["other"], seed=4) as b,
        facade(tmp_path, (a, b)) as running,
        running.client() as http,
    ):
        openai_side = await http.post("/v1/chat/completions", json={**CHAT, "model": "llama3"})
        ollama_side = await http.post("/api/chat", json={**CHAT, "model": "llama3"})
    assert openai_side.status_code == 404 == ollama_side.status_code
    assert openai_side.json()["error"]["code"] == "model_not_found"
    assert "llama3" in ollama_side.json()["error"] and "other" in ollama_side.json()["error"]
    assert a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat") == 0


async def test_a_client_leaving_mid_stream_cancels_the_runtime_stream(served: Facade) -> None:
    served.a.set_fault(Fault(kind="slow_trickle", delay=0.05), model="llama3")
    body = {**CHAT, "stream": True}
    async with served.client() as http, http.stream("POST", "/api/chat", json=body) as response:
        lines = response.aiter_lines()
        first = await anext(lines)
        assert '"done":false' in first
        await eventually(lambda: served.rt.statistics().router.inflight == {"llama3@a": 1})
    # leaving the block closed the connection mid-stream
    await eventually(lambda: served.rt.statistics().router.inflight == {})
    stats = served.rt.statistics()
    assert stats.router.cancelled == 1 and [e.inflight for e in stats.endpoints] == [0, 0]
    await served.rt.flush_events()
    [cancelled] = await read_events(served.log, RequestCancelled)
    assert isinstance(cancelled.event, RequestCancelled) and cancelled.event.partial_chars > 0


async def test_a_client_leaving_before_the_answer_cancels_the_request(served: Facade) -> None:
    served.a.set_fault(Fault(kind="hang"), model="llama3")
    served.b.set_fault(Fault(kind="hang"), model="llama3")
    async with served.client() as http:
        for stream in (False, True):
            call = asyncio.create_task(
                http.post("/v1/chat/completions", json={**CHAT, "stream": stream})
            )
            await eventually(lambda: sum(served.rt.statistics().router.inflight.values()) == 1)
            call.cancel()  # httpx closes the connection
            with contextlib.suppress(asyncio.CancelledError):
                await call
            await eventually(lambda: served.rt.statistics().router.inflight == {})
    assert served.rt.statistics().router.cancelled == 2


async def test_a_request_over_the_timeout_is_504(tmp_path: Path, servers: Servers) -> None:
    settings = ServeSettings(api_key=KEY, request_timeout=0.2)
    slow = Timeouts(connect=5.0, first_byte=60.0, idle=60.0, total=120.0)
    async with facade(tmp_path, servers, settings, timeouts=slow) as running:
        for backend in (running.a, running.b):
            backend.set_fault(Fault(kind="hang"), model="llama3")
        body = {**CHAT, "model": "llama3"}
        async with running.client() as http:
            response = await http.post("/v1/chat/completions", json=body)
            streamed = await http.post("/api/chat", json={**body, "stream": True})
        await eventually(lambda: running.rt.statistics().router.inflight == {})
    assert response.status_code == 504 and response.json()["error"]["code"] == "request_timeout"
    assert streamed.status_code == 504 and "request_timeout" in streamed.json()["error"]
