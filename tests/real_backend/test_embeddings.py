"""``POST /v1/embeddings`` on a real llama.cpp server (xllamacpp) with the tiny model.

The ``embedding_llama_server`` fixture runs the server with ``embedding=True`` and
``pooling="mean"`` (llama.cpp's ``--embeddings --pooling mean``). See NOTES.md
("Embeddings") for the setup and what happens without each of the two settings.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import httpx
import pytest

from tests.real_backend.checks import embedding_problems, l2_norm
from tests.real_backend.server import LlamaServer, LlamaServerFactory
from tests.real_backend.tiny_gguf import N_EMBD

pytestmark = pytest.mark.real_backend

ALIAS = "tiny"


def _embed(server: LlamaServer, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"model": ALIAS}
    payload.update(body)
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        return client.post(f"{server.url}/v1/embeddings", json=payload)


def _vectors(response: httpx.Response) -> list[list[float]]:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    assert all(d["object"] == "embedding" for d in data)
    return [d["embedding"] for d in data]


def test_two_inputs_give_two_finite_vectors_of_n_embd(
    embedding_llama_server: LlamaServer,
) -> None:
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        meta = client.get(f"{embedding_llama_server.url}/v1/models").json()["data"][0]["meta"]
    assert meta["n_embd"] == N_EMBD == 64

    r = _embed(embedding_llama_server, input=["a", "b"])
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert body["model"] == ALIAS
    # BOS + one token per input; no completion tokens
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    vectors = _vectors(r)
    assert len(vectors) == 2
    for vector in vectors:
        assert embedding_problems(vector, meta["n_embd"]) == []
        # llama.cpp L2-normalises by default (embd_normalize = 2)
        assert math.isclose(l2_norm(vector), 1.0, rel_tol=1e-5)
    assert vectors[0] != vectors[1]


def test_embeddings_are_deterministic_and_order_preserving(
    embedding_llama_server: LlamaServer,
) -> None:
    [a, b] = _vectors(_embed(embedding_llama_server, input=["a", "b"]))
    [b2, a2] = _vectors(_embed(embedding_llama_server, input=["b", "a"]))
    [a3] = _vectors(_embed(embedding_llama_server, input="a"))  # a bare string: one vector
    for x, y in ((a, a2), (a, a3), (b, b2)):
        assert all(
            math.isclose(p, q, rel_tol=1e-5, abs_tol=1e-6) for p, q in zip(x, y, strict=True)
        )


def test_base64_encoding_is_little_endian_float32(embedding_llama_server: LlamaServer) -> None:
    [floats] = _vectors(_embed(embedding_llama_server, input=["hello world"]))
    [encoded] = _vectors(
        _embed(embedding_llama_server, input=["hello world"], encoding_format="base64")
    )
    assert isinstance(encoded, str)
    decoded = struct.unpack(f"<{N_EMBD}f", base64.b64decode(encoded))
    assert all(
        math.isclose(p, q, rel_tol=1e-5, abs_tol=1e-6) for p, q in zip(decoded, floats, strict=True)
    )


def test_token_id_input_is_accepted(embedding_llama_server: LlamaServer) -> None:
    r = _embed(embedding_llama_server, input=[[1, 300, 301]])
    [vector] = _vectors(r)
    assert embedding_problems(vector, N_EMBD) == []
    assert r.json()["usage"]["prompt_tokens"] == 3


def test_empty_input_list_is_400(embedding_llama_server: LlamaServer) -> None:
    r = _embed(embedding_llama_server, input=[])
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": 400,
        "message": '"input" must not be empty',
        "type": "invalid_request_error",
    }


def test_input_longer_than_the_batch_is_500_not_a_context_error(
    embedding_llama_server: LlamaServer,
) -> None:
    """Unlike chat (400 ``exceed_context_size_error``), an over-long embedding input is a
    **500 ``server_error``**; a classifier must not treat it as transient."""
    r = _embed(embedding_llama_server, input=" ".join(["hello world"] * 200))
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["type"] == "server_error"
    assert error["message"].startswith("input (")
    assert error["message"].endswith(
        "tokens) is too large to process. increase the physical batch size "
        "(current batch size: 256)"
    )


def test_chat_still_works_on_the_embedding_server(embedding_llama_server: LlamaServer) -> None:
    payload = {
        "model": ALIAS,
        "messages": [{"role": "user", "content": "hello world"}],
        "max_tokens": 3,
    }
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        r = client.post(f"{embedding_llama_server.url}/v1/chat/completions", json=payload)
    assert r.status_code == 200
    assert r.json()["usage"]["completion_tokens"] == 3


def test_server_without_embedding_answers_501(llama_server: LlamaServer) -> None:
    r = _embed(llama_server, input=["a", "b"])
    assert r.status_code == 501
    assert r.json()["error"] == {
        "code": 501,
        "message": "This server does not support embeddings. Start it with `--embeddings`",
        "type": "not_supported_error",
    }


def test_embedding_without_pooling_is_400(llama_server_factory: LlamaServerFactory) -> None:
    """The generated GGUF declares no pooling type; with ``--embeddings`` alone llama.cpp
    uses pooling "none" (per-token vectors), which its OpenAI route refuses."""
    server = llama_server_factory(embedding=True)
    r = _embed(server, input=["a"])
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": 400,
        "message": "Pooling type 'none' is not OAI compatible. Please use a different pooling type",
        "type": "invalid_request_error",
    }
