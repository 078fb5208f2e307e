"""Lifecycle, admin API, statistics and the command line of the chaos server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runtime.testing import ChaosServer, ChaosStats, Fault

ROOT = Path(__file__).resolve().parents[3]
CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def test_start_binds_loopback_only() -> None:
    # (no timing assertion: how long a start takes is not this test's business)
    server = ChaosServer(models=["llama3"])
    await server.start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    finally:
        await server.aclose()
    await server.aclose()  # idempotent


async def test_counts_per_route_and_model() -> None:
    async with (
        ChaosServer(models=["llama3", "qwen"]) as srv,
        httpx.AsyncClient(base_url=srv.url) as c,
    ):
        await c.post("/api/chat", json=CHAT)
        await c.post("/api/chat", json={**CHAT, "model": "llama3:latest"})
        await c.post("/v1/chat/completions", json={**CHAT, "model": "qwen"})
        await c.post("/api/chat", json={**CHAT, "model": "ghost"})
        await c.get("/api/tags")
        assert srv.requests_for(model="llama3") == 2
        assert srv.requests_for(model="llama3:latest", route="/api/chat") == 2
        assert srv.requests_for(model="qwen", route="/api/chat") == 0
        assert srv.requests_for(route="/v1/chat/completions") == 1
        assert srv.requests_for(model="ghost") == 1
        stats = srv.stats()
        assert isinstance(stats, ChaosStats) and stats.total_requests == 5
        assert stats.by_model == {"llama3": 2, "qwen": 1, "ghost": 1}
        with pytest.raises(AttributeError):
            stats.total_requests = 0  # type: ignore[misc]
        srv.reset()
        assert srv.stats().total_requests == 0


async def test_admin_routes_change_faults_at_runtime() -> None:
    async with ChaosServer(models=["llama3"]) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        spec = {"model": "llama3", "fault": {"kind": "http_error", "status": 503, "count": 1}}
        r = await c.post("/_chaos/faults", json=spec)
        assert r.status_code == 200 and r.json()["llama3"][0]["status"] == 503
        assert (await c.post("/api/chat", json=CHAT)).status_code == 503
        assert (await c.post("/api/chat", json=CHAT)).status_code == 200
        bad = await c.post("/_chaos/faults", json={"faults": [{"kind": "explode"}]})
        assert bad.status_code == 400 and "faults[0]" in bad.json()["error"]
        bad = await c.post("/_chaos/faults", json={"fault": {"kind": "reset", "colour": 1}})
        assert bad.status_code == 400 and "colour" in bad.json()["error"]
        await c.post("/_chaos/faults", json={"fault": {"kind": "html_200"}})
        assert (await c.get("/api/version")).headers["content-type"] == "text/html"
        assert (await c.delete("/_chaos/faults")).json() == {"*": []}
        script = {"model": "llama3", "replies": ["one two"]}
        assert (await c.post("/_chaos/script", json=script)).json()["queued"] == 1
        reply = (await c.post("/api/chat", json=CHAT)).json()
        assert reply["message"]["content"] == "one two" and reply["eval_count"] == 2
        stats = (await c.get("/_chaos/stats")).json()
        assert stats["by_route"] == {"/api/chat": 3, "/api/version": 1}
        assert stats["faults_injected"] == 2
        assert (await c.post("/_chaos/reset")).json() == {"reset": True}
        assert srv.stats().total_requests == 0
        assert (await c.get("/_chaos/nothing")).status_code == 404


async def test_stop_and_resume_listening_on_same_port() -> None:
    async with ChaosServer() as srv:
        port = srv.port
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
            assert (await c.get("/api/version")).status_code == 200
            await srv.stop_listening()
            assert not srv.listening
            with pytest.raises(httpx.TransportError):
                await c.get("/api/version")
            with pytest.raises(httpx.ConnectError):
                await c.get("/api/version")
            await srv.resume_listening()
            assert srv.port == port and srv.listening
            assert (await c.get("/api/version")).status_code == 200


async def test_stop_listening_cuts_open_streams() -> None:
    fault = Fault(kind="slow_trickle", delay=0.05)
    async with ChaosServer(faults=[fault]) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async with c.stream("POST", "/api/chat", json={**CHAT, "stream": True}) as r:
                async for _ in r.aiter_lines():
                    await srv.stop_listening()


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="models"):
        ChaosServer(models=[])
    with pytest.raises(ValueError, match="port"):
        ChaosServer(port=70000)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "runtime.testing", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_cli_help_and_bad_arguments() -> None:
    out = subprocess.run(_cli("--help"), capture_output=True, text=True, env=_env(), timeout=10)
    assert out.returncode == 0 and "--fail-every" in out.stdout
    bad = subprocess.run(_cli("--fail", "200", "--port", "0"), capture_output=True, text=True,
                         env=_env(), timeout=10)  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "status must be" in bad.stderr


async def test_cli_serves_and_exits_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        *_cli("--port", "0", "--models", "llama3,qwen", "--fail", "503", "--fail-every", "2"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(), cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        url = line.split("listening on ")[1].split()[0]
        async with httpx.AsyncClient(base_url=url) as c:
            assert (await c.get("/api/version")).status_code == 200
            assert (await c.get("/api/version")).status_code == 503
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        # A second server on the same port fails with one clear line.
        port = url.rsplit(":", 1)[1]
        async with ChaosServer(port=int(port)):
            busy = await asyncio.create_subprocess_exec(
                *_cli("--port", port), stderr=asyncio.subprocess.PIPE, env=_env()
            )
            _, err = await asyncio.wait_for(busy.communicate(), 10)
        assert busy.returncode == 1 and b"cannot listen on 127.0.0.1:" in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
