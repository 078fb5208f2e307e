"""Structured output and embeddings through ``Runtime`` against a REAL llama.cpp server.

llama.cpp turns a ``json_schema`` response format into a grammar, which constrains even
the tiny random model: the reply must parse and validate against the schema. The
embeddings server is the same model started with ``--embedding --pooling mean``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import ollama
import openai
import pytest

from events import RequestStarted
from runtime import Runtime
from tests.real_backend.checks import (
    CHOICE_SCHEMA,
    PERSON_MAX_TOKENS,
    PERSON_SCHEMA,
    assert_valid,
    json_schema_format,
)
from tests.real_backend.server import LlamaServer
from tests.real_backend.test_runtime_llama import MESSAGES, MODEL, llama_config
from tests.runtime._support import read_events
from tests.runtime.serve._support import KEY, serving

pytestmark = pytest.mark.real_backend


@pytest.mark.parametrize("schema", [PERSON_SCHEMA, CHOICE_SCHEMA], ids=["person", "choice"])
async def test_a_json_schema_reply_validates(
    tmp_path: Path, llama_server: LlamaServer, schema: dict[str, object]
) -> None:
    asked: dict[str, Any] = {
        "model": MODEL,
        "response_format": json_schema_format(schema),
        "max_tokens": PERSON_MAX_TOKENS,
        "temperature": 0.0,
        "seed": 7,
    }
    async with Runtime(llama_config(tmp_path, [llama_server])) as rt:
        reply = await rt.chat(MESSAGES, **asked)
        streamed = [c async for c in rt.stream(MESSAGES, **asked)]
    assert reply.finish_reason == "stop"
    assert_valid(json.loads(reply.content), schema)
    assert "".join(c.content for c in streamed) == reply.content  # greedy: the same answer


async def test_embeddings_from_llama_cpp(
    tmp_path: Path, embedding_llama_server: LlamaServer
) -> None:
    cfg = llama_config(tmp_path, [embedding_llama_server])
    async with Runtime(cfg) as rt:
        result = await rt.embed(["hello world", "goodbye", "hello world"], model=MODEL)
    assert len(result.vectors) == 3 and result.vectors[0] == result.vectors[2]
    assert all(len(v) == 64 and all(math.isfinite(x) for x in v) for v in result.vectors)
    assert result.vectors[0] != result.vectors[1]
    assert result.usage is not None and result.usage.prompt_tokens > 0
    (started,) = await read_events(Path(cfg.event_log.path), RequestStarted)
    assert started.event.operation == "embed"  # type: ignore[attr-defined]


async def test_json_schema_through_serve_with_the_openai_client(
    tmp_path: Path, llama_server: LlamaServer
) -> None:
    async with (
        Runtime(llama_config(tmp_path, [llama_server])) as rt,
        serving(rt) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY) as client,
    ):
        completion = await client.chat.completions.create(
            model="gen",
            messages=[{"role": "user", "content": "hello world"}],
            response_format=json_schema_format(PERSON_SCHEMA),  # type: ignore[arg-type]
            max_tokens=PERSON_MAX_TOKENS,
            temperature=0.0,
            seed=7,
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content is not None
    assert_valid(json.loads(choice.message.content), PERSON_SCHEMA)


async def test_embeddings_through_serve_with_both_clients(
    tmp_path: Path, embedding_llama_server: LlamaServer
) -> None:
    async with (
        Runtime(llama_config(tmp_path, [embedding_llama_server])) as rt,
        serving(rt) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY) as client,
    ):
        by_openai = await client.embeddings.create(model=MODEL, input=["hello world", "goodbye"])
        headers = {"Authorization": f"Bearer {KEY}"}
        by_ollama = await ollama.AsyncClient(host=url, headers=headers).embed(
            model=MODEL, input=["hello world", "goodbye"]
        )
        direct = await rt.embed(["hello world", "goodbye"], model=MODEL)
    from_openai = [d.embedding for d in by_openai.data]  # decoded from base64 by the client
    assert len(from_openai) == 2 and all(len(v) == 64 for v in from_openai)
    for ours, theirs in zip(direct.vectors, from_openai, strict=True):
        close = (
            math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
            for x, y in zip(ours, theirs, strict=True)
        )
        assert all(close)  # float32 on the wire
    assert [list(v) for v in direct.vectors] == [list(v) for v in by_ollama.embeddings]
