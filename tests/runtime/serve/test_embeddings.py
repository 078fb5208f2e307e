"""Embeddings through serve: the official ``openai`` client (base64 by default, and
float) and the ``ollama`` client (``embed`` and the legacy ``embeddings``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import ollama
import openai
import pytest

from runtime.testing import ChaosServer, Fault
from tests.runtime.serve._support import AUTH, KEY, Facade, facade, received

Servers = tuple[ChaosServer, ChaosServer]
TEXTS = ["first text", "second text"]


def openai_client(served: Facade) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{served.url}/v1", api_key=KEY)


def ollama_client(served: Facade) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=served.url, headers=AUTH)


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b, strict=True)
    )


async def test_openai_client_default_base64_matches_float(served: Facade) -> None:
    oa = openai_client(served)
    default = await oa.embeddings.create(model="small", input=TEXTS)  # asks for base64
    floats = await oa.embeddings.create(model="small", input=TEXTS, encoding_format="float")
    assert [d.index for d in default.data] == [0, 1] and default.model == "qwen"
    assert all(
        close(a.embedding, b.embedding) for a, b in zip(default.data, floats.data, strict=True)
    )
    assert default.data[0].embedding != default.data[1].embedding
    assert floats.usage.prompt_tokens > 0
    assert floats.usage.total_tokens == floats.usage.prompt_tokens
    [raw, _] = received(served, "/api/embed")
    assert raw["input"] == TEXTS and "encoding_format" not in raw


async def test_openai_client_dimensions_and_user_reach_the_backend(served: Facade) -> None:
    reply = await openai_client(served).embeddings.create(
        model="qwen", input="one", dimensions=8, user="u-1", encoding_format="float"
    )
    [sent] = received(served, "/api/embed")
    assert len(reply.data[0].embedding) == 8
    assert sent["dimensions"] == 8 and sent["options"] == {"user": "u-1"}


async def test_openai_backend_gets_the_openai_fields(tmp_path: Path, servers: Servers) -> None:
    async with facade(tmp_path, servers, api="openai") as served:
        reply = await openai_client(served).embeddings.create(
            model="qwen", input=TEXTS, dimensions=4, user="u-2"
        )
        [sent] = received(served, "/v1/embeddings")
    assert [len(d.embedding) for d in reply.data] == [4, 4]
    assert sent["user"] == "u-2" and sent["dimensions"] == 4 and sent["input"] == TEXTS


async def test_ollama_client_embed(served: Facade) -> None:
    reply = await ollama_client(served).embed(
        model="small", input=TEXTS, truncate=True, keep_alive="2m", options={"num_ctx": 512}
    )
    single = await ollama_client(served).embed(model="small", input="first text")
    assert reply.model == "qwen" and len(reply.embeddings) == 2
    assert close(list(single.embeddings[0]), list(reply.embeddings[0]))
    assert reply.prompt_eval_count and reply.total_duration
    sent = received(served, "/api/embed")[0]
    assert sent["truncate"] is True and sent["keep_alive"] == "2m"
    assert sent["options"] == {"num_ctx": 512}


async def test_ollama_client_legacy_embeddings(served: Facade) -> None:
    legacy = await ollama_client(served).embeddings(model="small", prompt="first text")
    current = await ollama_client(served).embed(model="small", input="first text")
    assert close(list(legacy.embedding), list(current.embeddings[0]))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "qwen", "input": [1, 2, 3]}, "input"),
        ({"model": "qwen", "input": [[1, 2], [3]]}, "input"),
        ({"model": "qwen"}, "input"),
        ({"model": "qwen", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "qwen", "input": "x", "dimensions": "8"}, "dimensions"),
        ({"input": "x"}, "model"),
    ],
)
async def test_bad_openai_embedding_fields_are_400(
    served: Facade, body: dict[str, Any], param: str
) -> None:
    async with served.client() as http:
        response = await http.post("/v1/embeddings", json=body)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == param
    assert received(served, "/api/embed") == []


async def test_embedding_errors_map_like_chat(served: Facade) -> None:
    served.b.set_fault(Fault(kind="http_error", status=500), model="qwen")
    with pytest.raises(openai.InternalServerError) as failed:
        await openai_client(served).embeddings.create(model="qwen", input="x")
    with pytest.raises(openai.NotFoundError) as unknown:
        await openai_client(served).embeddings.create(model="nope", input="x")
    with pytest.raises(ollama.ResponseError) as ollama_side:
        await ollama_client(served).embed(model="qwen", input="x")
    assert failed.value.status_code == 502 and failed.value.code == "all_candidates_failed"
    assert unknown.value.code == "model_not_found"
    # the first call's three failures quarantined qwen@b: with nothing else left, the
    # ollama call is its panic probe (health.panic_probe), which fails the same way
    assert ollama_side.value.status_code == 502 and "no deployment" in ollama_side.value.error
