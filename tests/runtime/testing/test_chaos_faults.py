"""Every fault produces what a client of a real misbehaving server would see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.testing import FAULT_KINDS, ChaosServer, Fault, FaultSpecError
from tests._wait import eventually

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "tell me a story"}]}
OAI = {**CHAT, "stream": True}


@pytest.fixture
async def srv() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "qwen"], seed=3) as server:
        yield server


@pytest.fixture
async def client(srv: ChaosServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        yield c


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_error_statuses(
    srv: ChaosServer, client: httpx.AsyncClient, status: int
) -> None:
    srv.set_fault(Fault(kind="http_error", status=status))
    r = await client.post("/api/chat", json=CHAT)
    assert r.status_code == status and isinstance(r.json()["error"], str)
    o = await client.post("/v1/chat/completions", json=CHAT)
    assert o.status_code == status and o.json()["error"]["type"] == "server_error"
    assert srv.stats().by_fault == {"http_error": 2}


@pytest.mark.parametrize("value", ["7", "Wed, 21 Oct 2015 07:28:00 GMT", "soon-ish", "-5"])
async def test_rate_limit_retry_after_verbatim(
    srv: ChaosServer, client: httpx.AsyncClient, value: str
) -> None:
    srv.set_fault(Fault(kind="rate_limit", retry_after=value))
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 429 and r.headers["retry-after"] == value
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    srv.set_fault(Fault(kind="rate_limit", retry_after=None))
    assert "retry-after" not in (await client.post("/api/chat", json=CHAT)).headers


async def test_model_not_found_fault(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="model_not_found"), model="llama3")
    r = await client.post("/api/chat", json=CHAT)
    assert r.status_code == 404
    assert r.json() == {"error": 'model "llama3" not found, try pulling it first'}
    # Other models are untouched by a per-model fault.
    assert (await client.post("/api/chat", json={**CHAT, "model": "qwen"})).status_code == 200


async def test_out_of_memory_flavors(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="out_of_memory"))
    r = await client.post("/api/generate", json={"model": "llama3", "prompt": "x"})
    assert r.status_code == 500
    assert r.json()["error"].startswith("model requires more system memory (")
    srv.set_fault(Fault(kind="out_of_memory", flavor="llamacpp"))
    err = (await client.post("/v1/chat/completions", json=CHAT)).json()["error"]
    assert err["code"] == 500 and "out of memory" in err["message"]


async def test_context_overflow_flavors(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="context_overflow"))
    r = await client.post("/api/chat", json=CHAT)
    assert r.status_code == 400 and "exceeds the context length" in r.json()["error"]
    srv.set_fault(Fault(kind="context_overflow", flavor="llamacpp"))
    r = await client.post("/v1/chat/completions", json=CHAT)
    err = r.json()["error"]
    assert r.status_code == 400 and err["type"] == "exceed_context_size_error"
    assert err["n_prompt_tokens"] > err["n_ctx"] and err["code"] == 400
    srv.set_fault(Fault(kind="context_overflow", flavor="openai"))
    r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.json()["error"]["code"] == "context_length_exceeded"


async def test_reset_mid_stream(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="reset", after_chunks=2))
    seen: list[str] = []
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        async with client.stream("POST", "/api/chat", json=CHAT) as r:
            async for line in r.aiter_lines():
                seen.append(line)
    assert len(seen) == 2 and all(not json.loads(x)["done"] for x in seen)


async def test_reset_before_response_and_mid_body(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    srv.set_fault(Fault(kind="reset"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.get("/api/version")
    srv.set_fault(Fault(kind="reset", after_chunks=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post("/api/chat", json={**CHAT, "stream": False})
    srv.clear_faults()
    assert (await client.get("/api/version")).status_code == 200


async def test_truncated_stream_has_no_final(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="truncate"))
    lines = [json.loads(x) for x in (await client.post("/api/chat", json=CHAT)).text.splitlines()]
    assert lines and not any(x["done"] for x in lines)
    r = await client.post("/v1/chat/completions", json=OAI)
    assert r.status_code == 200 and "[DONE]" not in r.text
    assert 'finish_reason":"stop' not in r.text
    srv.set_fault(Fault(kind="truncate", after_chunks=1))
    assert len((await client.post("/api/generate", json={"model": "qwen", "prompt": "a"}))
               .text.splitlines()) == 1  # fmt: skip


async def test_malformed_line_in_stream(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="malformed", after_chunks=1))
    lines = (await client.post("/api/chat", json=CHAT)).text.splitlines()
    json.loads(lines[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])
    assert json.loads(lines[-1])["done"] is True
    events = (await client.post("/v1/chat/completions", json=OAI)).text.split("\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1].removeprefix("data: "))


async def test_error_line_inside_200_stream(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="error_in_stream", after_chunks=2, message="boom"))
    r = await client.post("/api/chat", json=CHAT)
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert r.status_code == 200 and len(lines) == 3 and lines[-1] == {"error": "boom"}
    r = await client.post("/v1/chat/completions", json=OAI)
    last = r.text.split("\n\n")[-2]
    assert json.loads(last.removeprefix("data: "))["error"]["message"] == "boom"


async def test_html_page_with_status_200(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="html_200"))
    r = await client.post("/api/chat", json=CHAT)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html"
    assert r.text.startswith("<html>")


async def test_hang_makes_client_time_out(srv: ChaosServer) -> None:
    srv.set_fault(Fault(kind="hang"))
    async with httpx.AsyncClient(base_url=srv.url, timeout=0.3) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/api/chat", json=CHAT)
    assert srv.requests_for(route="/api/chat") == 1


async def test_latency_slow_first_byte_and_trickle(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    srv.set_fault(Fault(kind="latency", delay=0.2))
    start = time.monotonic()
    await client.get("/api/version")
    assert time.monotonic() - start >= 0.2
    srv.set_fault(Fault(kind="slow_first_byte", delay=0.2))
    start = time.monotonic()
    async with client.stream("POST", "/api/chat", json=CHAT) as r:
        await r.aread()
    assert time.monotonic() - start >= 0.2
    # The headers come at once, only the body is late: with the body a minute away, the
    # response (its headers) is here long before (no upper bound on a busy machine's time).
    srv.set_fault(Fault(kind="slow_first_byte", delay=60.0))
    async with asyncio.timeout(30), client.stream("POST", "/api/chat", json=CHAT) as r:
        assert r.status_code == 200 and r.headers["content-type"]
    srv.set_fault(Fault(kind="slow_trickle", delay=0.02))
    start = time.monotonic()
    r = await client.post(
        "/api/generate", json={"model": "llama3", "prompt": "p", "options": {"num_predict": 5}}
    )
    assert time.monotonic() - start >= 0.02 * 5 and len(r.text.splitlines()) == 6


async def test_huge_line_without_newline(srv: ChaosServer) -> None:
    srv.set_fault(Fault(kind="huge", size=300_000))
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        r = await c.post("/api/chat", json=CHAT)
    assert r.status_code == 200 and len(r.content) == 300_000 and b"\n" not in r.content


async def test_every_nth_and_count(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="http_error", status=503, every_nth=3))
    codes = [(await client.get("/api/version")).status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    srv.set_fault(Fault(kind="http_error", status=500, count=2))
    codes = [(await client.get("/api/version")).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200] and srv.faults() == {"*": []}


async def test_probability_is_seeded() -> None:
    async def run() -> list[int]:
        fault = Fault(kind="http_error", status=502, probability=0.5)
        async with ChaosServer(seed=9, faults=[fault]) as s, httpx.AsyncClient(base_url=s.url) as c:
            return [(await c.get("/api/version")).status_code for _ in range(20)]

    first, second = await run(), await run()
    assert first == second and 200 in first and 502 in first


async def test_per_model_fault_beats_global(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.set_fault(Fault(kind="http_error", status=502))
    srv.set_fault(Fault(kind="rate_limit"), model="qwen:latest")
    assert (await client.post("/api/chat", json={**CHAT, "model": "qwen"})).status_code == 429
    assert (await client.post("/api/chat", json=CHAT)).status_code == 502
    srv.clear_faults(model="qwen")
    assert (await client.post("/api/chat", json={**CHAT, "model": "qwen"})).status_code == 502


def test_every_kind_is_constructible_and_bad_specs_fail() -> None:
    for kind in FAULT_KINDS:
        extra = {"status": 503} if kind == "http_error" else {}
        delay = 0.1 if kind in {"latency", "slow_first_byte", "slow_trickle"} else 0.0
        assert Fault(kind=kind, delay=delay, **extra).kind == kind  # type: ignore[arg-type]
    bad = [
        {"kind": "http_error"},
        {"kind": "http_error", "status": 200},
        {"kind": "latency"},
        {"kind": "reset", "after_chunks": -1},
        {"kind": "reset", "probability": 1.5},
        {"kind": "reset", "every_nth": 0},
        {"kind": "reset", "count": 0},
    ]
    for spec in bad:
        with pytest.raises(FaultSpecError, match="invalid fault"):
            Fault(**spec)  # type: ignore[arg-type]


async def test_hang_does_not_block_shutdown() -> None:
    server = ChaosServer(faults=[Fault(kind="hang")])
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await eventually(lambda: server.requests_for(route="/api/version") == 1)  # it hangs on it
    await asyncio.wait_for(server.aclose(), 30)
    with contextlib.suppress(ConnectionResetError):  # RST is what going down looks like
        assert await asyncio.wait_for(reader.read(), 30) == b""
    writer.close()
