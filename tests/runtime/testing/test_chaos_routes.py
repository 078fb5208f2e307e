"""Happy paths of every route, checked byte-for-byte the way a client parses them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

import runtime.testing as chaos
from runtime.testing import ChaosServer

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "why is the sky blue"}]}
OLLAMA_FINAL_KEYS = {
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


@pytest.fixture
async def srv() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "qwen:7b"], seed=1) as server:
        yield server


@pytest.fixture
async def client(srv: ChaosServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        yield c


def sse_events(text: str) -> list[str]:
    """Split an SSE body into the data payloads of its events."""
    assert text.endswith("\n\n")
    events = text.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    return [e[len("data: ") :] for e in events]


def test_public_surface() -> None:
    assert sorted(chaos.__all__) == sorted(
        ["API_ROUTES", "FAULT_KINDS", "HOST", "ChaosServer", "ChaosStats", "Fault",
         "FaultKind", "FaultSpecError", "Flavor", "ScriptedReply", "ScriptedToolCall",
         "ToolRoundTrip"]
    )  # fmt: skip
    for name in chaos.__all__:
        assert getattr(chaos, name) is not None


async def test_ollama_chat_stream_is_ndjson_ending_with_done(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json=CHAT)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["transfer-encoding"] == "chunked"
    lines = [json.loads(line) for line in r.text.splitlines()]
    *chunks, final = lines
    assert chunks and all(c["done"] is False for c in chunks)
    assert all(c["message"]["role"] == "assistant" for c in chunks)
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final.keys() >= OLLAMA_FINAL_KEYS
    assert final["eval_count"] == len(chunks)
    assert final["prompt_eval_count"] == 7  # ceil(5 words * 1.3)
    assert final["created_at"].endswith("Z") and final["model"] == "llama3"


async def test_ollama_chat_non_stream_and_determinism(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": False}
    first = (await client.post("/api/chat", json=body)).json()
    second = (await client.post("/api/chat", json=body)).json()
    assert first["message"]["content"] == second["message"]["content"]
    assert first["done"] is True and first["done_reason"] == "stop"
    assert first.keys() >= OLLAMA_FINAL_KEYS
    assert first["eval_count"] == len(first["message"]["content"].split())
    streamed = await client.post("/api/chat", json=CHAT)
    text = "".join(json.loads(x)["message"]["content"] for x in streamed.text.splitlines())
    assert text == first["message"]["content"]
    other = await client.post("/api/chat", json={**body, "model": "qwen:7b"})
    assert other.json()["message"]["content"] != first["message"]["content"]


async def test_ollama_generate_num_predict_gives_length(client: httpx.AsyncClient) -> None:
    body = {"model": "llama3:latest", "prompt": "hello", "options": {"num_predict": 3}}
    r = await client.post("/api/generate", json=body)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [("response" in x) for x in lines] == [True] * 4
    assert lines[-1]["done_reason"] == "length" and lines[-1]["eval_count"] == 3
    assert "context" in lines[-1]
    single = (await client.post("/api/generate", json={**body, "stream": False})).json()
    assert single["response"] == "".join(x["response"] for x in lines)


async def test_ollama_tags_show_version(client: httpx.AsyncClient) -> None:
    tags = (await client.get("/api/tags")).json()["models"]
    assert [m["name"] for m in tags] == ["llama3:latest", "qwen:7b"]
    for m in tags:
        assert {"name", "model", "modified_at", "size", "digest", "details"} <= m.keys()
        assert len(m["digest"]) == 64 and m["details"]["format"] == "gguf"
    show = await client.post("/api/show", json={"model": "llama3"})
    assert show.status_code == 200
    assert {"modelfile", "parameters", "template", "details", "model_info"} <= show.json().keys()
    missing = await client.post("/api/show", json={"model": "nope"})
    assert missing.status_code == 404 and missing.json() == {"error": "model 'nope' not found"}
    version = await client.get("/api/version")
    assert set(version.json()) == {"version"}


async def test_ollama_unknown_model_and_bad_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json={**CHAT, "model": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": 'model "x" not found, try pulling it first'}
    bad = await client.post("/api/chat", content=b"{not json")
    assert bad.status_code == 400 and "invalid JSON" in bad.json()["error"]
    nomodel = await client.post("/api/generate", json={"prompt": "x"})
    assert nomodel.status_code == 400 and nomodel.json() == {"error": "model is required"}


async def test_openai_chat_non_stream(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "length"
    assert len(choice["message"]["content"].split()) == 2
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


async def test_openai_chat_stream_with_usage(client: httpx.AsyncClient) -> None:
    req = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    r = await client.post("/v1/chat/completions", json=req)
    assert r.headers["content-type"] == "text/event-stream"
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(chunks) - 3
    no_usage = sse_events(
        (await client.post("/v1/chat/completions", json={**CHAT, "stream": True})).text
    )
    assert all("usage" not in json.loads(e) for e in no_usage[:-1])


async def test_openai_models_and_completions(client: httpx.AsyncClient) -> None:
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["llama3", "qwen:7b"]
    assert all(m["object"] == "model" for m in models["data"])
    body = {"model": "qwen:7b", "prompt": "say hi", "max_tokens": 4}
    single = (await client.post("/v1/completions", json=body)).json()
    assert single["object"] == "text_completion"
    assert single["choices"][0]["finish_reason"] == "length"
    events = sse_events((await client.post("/v1/completions", json={**body, "stream": True})).text)
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert text == single["choices"][0]["text"]


async def test_openai_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-9"})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["type"] == "invalid_request_error"
    bad = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": "many"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"


async def test_routing_errors_and_keep_alive(srv: ChaosServer) -> None:
    async with httpx.AsyncClient(base_url=srv.url) as c:
        assert (await c.get("/nope")).status_code == 404
        assert (await c.get("/api/chat")).status_code == 405
        for _ in range(3):
            assert (await c.get("/api/version")).status_code == 200
    # Everything above went over one pooled keep-alive connection.
    stats = srv.stats()
    assert stats.total_requests == 5 and stats.connections == 1
    assert srv.requests_for(route="/nope") == 1


async def test_scripted_replies_then_generated(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.script("llama3", ["broken {json", "fixed reply"])
    body = {**CHAT, "stream": False}
    texts = [(await client.post("/api/chat", json=body)).json()["message"]["content"]
             for _ in range(3)]  # fmt: skip
    assert texts[:2] == ["broken {json", "fixed reply"]
    assert texts[2] not in texts[:2] and texts[2]
