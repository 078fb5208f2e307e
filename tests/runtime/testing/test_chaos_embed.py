"""Embedding routes over raw HTTP: shapes, determinism, errors and faults."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.testing import API_ROUTES, ChaosServer, Fault
from runtime.testing._embed import vector


@pytest.fixture
async def srv() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "nomic-embed-text"], seed=4) as server:
        yield server


@pytest.fixture
async def client(srv: ChaosServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        yield c


def test_vectors_are_deterministic_unit_vectors() -> None:
    a = vector(1, "m", "hello", 8)
    assert a == vector(1, "m", "hello", 8) and len(a) == 8
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0, rel_tol=1e-6)
    assert a != vector(1, "m", "hello!", 8) and a != vector(2, "m", "hello", 8)
    assert len(vector(1, "m", "hello", 300)) == 300
    assert {"/api/embed", "/api/embeddings", "/v1/embeddings", "/api/ps"} <= set(API_ROUTES)


async def test_ollama_embed_keeps_order(client: httpx.AsyncClient) -> None:
    body = {"model": "nomic-embed-text", "input": ["one", "two", "one"]}
    r = await client.post("/api/embed", json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["model"] == "nomic-embed-text" and out["prompt_eval_count"] == 6
    one, two, again = out["embeddings"]
    assert one == again != two and len(one) == 8
    single = (await client.post("/api/embed", json={**body, "input": "two"})).json()
    assert single["embeddings"] == [two]
    sized = await client.post("/api/embed", json={**body, "dimensions": 16})
    assert [len(v) for v in sized.json()["embeddings"]] == [16, 16, 16]
    legacy = await client.post("/api/embeddings", json={"model": "nomic-embed-text",
                                                          "prompt": "one"})  # fmt: skip
    assert legacy.json() == {"embedding": one}


async def test_openai_embeddings_shape_and_encodings(client: httpx.AsyncClient) -> None:
    body = {"model": "llama3", "input": ["x y", "z"], "encoding_format": "float"}
    out = (await client.post("/v1/embeddings", json=body)).json()
    assert out["object"] == "list" and out["model"] == "llama3"
    assert [(d["object"], d["index"]) for d in out["data"]] == [("embedding", 0), ("embedding", 1)]
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    packed = await client.post("/v1/embeddings", json={**body, "encoding_format": "base64"})
    raw = base64.b64decode(packed.json()["data"][0]["embedding"])
    assert list(struct.unpack("<8f", raw)) == out["data"][0]["embedding"]
    tokens = await client.post("/v1/embeddings", json={"model": "llama3", "input": [[1, 2], [3]]})
    assert len(tokens.json()["data"]) == 2
    ollama_side = await client.post("/api/embed", json={"model": "llama3", "input": "z"})
    assert ollama_side.json()["embeddings"][0] == out["data"][1]["embedding"]


@pytest.mark.parametrize(
    ("route", "body", "word"),
    [
        ("/api/embed", {"input": "x"}, "model is required"),
        ("/api/embed", {"model": "llama3", "input": []}, "input"),
        ("/api/embed", {"model": "llama3", "input": [1.5]}, "input"),
        ("/api/embeddings", {"model": "llama3", "prompt": 3}, "prompt"),
        ("/v1/embeddings", {"model": "llama3", "input": "x", "dimensions": 0}, "dimensions"),
        ("/v1/embeddings", {"model": "llama3", "input": "x", "encoding_format": "hex"}, "hex"),
    ],
)
async def test_embedding_bad_requests(
    client: httpx.AsyncClient, route: str, body: dict[str, object], word: str
) -> None:
    r = await client.post(route, json=body)
    assert r.status_code == 400 and word in r.text


async def test_unknown_model_is_the_chat_not_found(client: httpx.AsyncClient) -> None:
    chat = await client.post("/api/chat", json={"model": "ghost", "messages": [], "stream": False})
    embed = await client.post("/api/embed", json={"model": "ghost", "input": "x"})
    legacy = await client.post("/api/embeddings", json={"model": "ghost", "prompt": "x"})
    assert embed.status_code == legacy.status_code == chat.status_code == 404
    assert embed.json() == legacy.json() == chat.json()
    oai_chat = await client.post("/v1/chat/completions", json={"model": "ghost", "messages": []})
    oai = await client.post("/v1/embeddings", json={"model": "ghost", "input": "x"})
    assert oai.status_code == 404 and oai.json() == oai_chat.json()


async def test_faults_hit_embedding_routes_per_model(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    srv.set_fault(Fault(kind="http_error", status=503, every_nth=2), model="nomic-embed-text")
    body = {"model": "nomic-embed-text", "input": "x"}
    codes = [(await client.post("/api/embed", json=body)).status_code for _ in range(4)]
    assert codes == [200, 503, 200, 503]
    assert (await client.post("/api/embed", json={**body, "model": "llama3"})).status_code == 200
    srv.set_fault(Fault(kind="truncate", count=1), model="llama3")
    cut = await client.post("/v1/embeddings", json={"model": "llama3", "input": "x"})
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    srv.set_fault(Fault(kind="rate_limit", retry_after="2", count=1))
    limited = await client.post("/v1/embeddings", json={"model": "llama3", "input": "x"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert srv.stats().by_fault == {"http_error": 2, "truncate": 1, "rate_limit": 1}
    assert srv.requests_for(model="nomic-embed-text", route="/api/embed") == 4
