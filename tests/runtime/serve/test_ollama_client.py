"""The facade through the official ``ollama`` client: chat, generate, list, errors."""

from __future__ import annotations

import ollama
import pytest

from runtime.testing import Fault
from tests.runtime.serve._support import AUTH, USER, Facade


def client(served: Facade) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=served.url, headers=AUTH)


async def test_chat_by_role_returns_one_done_reply_with_counts(served: Facade) -> None:
    reply = await client(served).chat(model="gen", messages=USER)
    assert reply.done and reply.done_reason == "stop" and reply.model == "llama3"
    assert reply.message.role == "assistant" and reply.message.content
    assert reply.eval_count and reply.prompt_eval_count and reply.total_duration
    assert reply.created_at is not None and reply.created_at.endswith("Z")


async def test_chat_stream_yields_pieces_then_one_done_line(served: Facade) -> None:
    parts = [p async for p in await client(served).chat(model="small", messages=USER, stream=True)]
    *pieces, final = parts
    assert pieces and all(p.message.content and not p.done for p in pieces)
    assert final.done and final.done_reason == "stop" and final.message.content == ""
    assert final.eval_count == len(pieces) and {p.model for p in parts} == {"qwen"}


async def test_chat_options_cap_the_reply(served: Facade) -> None:
    reply = await client(served).chat(
        model="llama3", messages=USER, options={"num_predict": 2, "temperature": 0}
    )
    assert reply.eval_count == 2 and reply.done_reason == "length"


async def test_generate_with_system_and_prompt(served: Facade) -> None:
    reply = await client(served).generate(model="gen", prompt="say hi", system="be brief")
    streamed = [
        p async for p in await client(served).generate(model="qwen", prompt="hi", stream=True)
    ]
    assert reply.done and reply.response and reply.model == "llama3"
    assert "".join(p.response or "" for p in streamed) and streamed[-1].done
    assert [p.done for p in streamed].count(True) == 1


async def test_generate_without_a_prompt_loads_without_calling_a_backend(served: Facade) -> None:
    reply = await client(served).generate(model="gen")
    assert reply.done and reply.done_reason == "load" and reply.response == ""
    assert served.a.requests_for(route="/api/chat") == 0


async def test_list_shows_roles_models_and_aliases(served: Facade) -> None:
    listed = await client(served).list()
    assert [m.model for m in listed.models] == ["gen", "coder", "llama3", "qwen", "small"]
    assert all(m.modified_at is not None and m.digest for m in listed.models)


async def test_a_fallback_inside_the_runtime_is_invisible(served: Facade) -> None:
    served.a.set_fault(Fault(kind="reset"), model="llama3")
    ol = client(served)
    replies = [await ol.chat(model="llama3", messages=USER) for _ in range(3)]
    parts = [p async for p in await ol.chat(model="gen", messages=USER, stream=True)]
    assert all(r.message.content for r in replies) and parts[-1].done
    assert served.b.requests_for(model="llama3") == 4


async def test_unknown_model_is_404_in_ollama_error_shape(served: Facade) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await client(served).chat(model="mistral", messages=USER)
    assert caught.value.status_code == 404
    assert caught.value.error.startswith("model 'mistral' not found; roles: gen, coder")


async def test_a_stream_that_breaks_after_text_ends_with_an_error_line(served: Facade) -> None:
    served.a.set_fault(Fault(kind="truncate", after_chunks=2), model="llama3")
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        async for part in await client(served).chat(model="llama3", messages=USER, stream=True):
            assert not part.done  # a broken stream never gets its done line
            received.append(part.message.content or "")
    assert len(received) == 2 and "broke off" in caught.value.error


async def test_missing_key_is_401_for_the_ollama_client(served: Facade) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await ollama.AsyncClient(host=served.url).list()
    assert caught.value.status_code == 401 and "Authorization: Bearer" in caught.value.error
