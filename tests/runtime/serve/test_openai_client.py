"""The facade through the official ``openai`` client: chat, streams, fallbacks, errors."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from runtime import QuotaConfig
from runtime.testing import ChaosServer, Fault
from tests.runtime.serve._support import KEY, Facade, facade

Servers = tuple[ChaosServer, ChaosServer]
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


def client(served: Facade) -> openai.AsyncOpenAI:
    # max_retries stays at the default (2): the facade must stop it retrying errors
    # the runtime already retried, which the backend request counts below check.
    return openai.AsyncOpenAI(base_url=f"{served.url}/v1", api_key=KEY)


async def test_chat_by_role_answers_with_the_model_and_usage(served: Facade) -> None:
    raw = await client(served).chat.completions.with_raw_response.create(model="gen", messages=USER)
    reply = raw.parse()
    [choice] = reply.choices
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "stop" and reply.model == "llama3"
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.id == f"chatcmpl-{raw.headers['x-request-id']}"
    assert raw.headers["x-llmrt-model"] == "llama3" and raw.headers["x-llmrt-endpoint"] == "a"


async def test_chat_by_model_and_alias_and_per_call_limits(served: Facade) -> None:
    oa = client(served)
    by_model = await oa.chat.completions.create(model="qwen", messages=USER, max_tokens=3)
    by_alias = await oa.chat.completions.create(
        model="small", messages=USER, max_completion_tokens=2, temperature=0.0
    )
    assert by_model.model == by_alias.model == "qwen"
    assert by_model.usage is not None and by_model.usage.completion_tokens == 3
    assert by_alias.usage is not None and by_alias.usage.completion_tokens == 2
    assert by_alias.choices[0].finish_reason == "length"


async def test_stream_yields_text_then_finish_then_usage_and_done(served: Facade) -> None:
    stream = await client(served).chat.completions.create(
        model="gen", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.AsyncStream)
    chunks = [chunk async for chunk in stream]  # ends without error: [DONE] was sent
    *texts, final, usage = chunks
    assert texts[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.content for c in texts)
    assert final.choices[0].finish_reason == "stop" and not usage.choices
    assert usage.usage is not None and usage.usage.completion_tokens == len(texts)
    assert len({c.id for c in chunks}) == 1 and {c.model for c in chunks} == {"llama3"}


async def test_a_fallback_inside_the_runtime_is_invisible(served: Facade) -> None:
    await served.a.stop_listening()  # llama3@a is down: the runtime uses llama3@b
    oa = client(served)
    replies = [await oa.chat.completions.create(model="llama3", messages=USER) for _ in range(3)]
    stream = await oa.chat.completions.create(model="gen", messages=USER, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert all(r.choices[0].message.content for r in replies) and text
    assert served.b.requests_for(model="llama3") == 4


async def test_role_falls_back_to_its_next_model(served: Facade) -> None:
    served.a.set_fault(Fault(kind="http_error", status=503), model="llama3")
    served.b.set_fault(Fault(kind="http_error", status=503), model="llama3")
    raw = await client(served).chat.completions.with_raw_response.create(model="gen", messages=USER)
    assert raw.parse().model == "qwen" and raw.headers["x-llmrt-model"] == "qwen"


async def test_a_stream_that_breaks_after_text_raises_and_never_looks_complete(
    served: Facade,
) -> None:
    served.a.set_fault(Fault(kind="error_in_stream", after_chunks=3), model="llama3")
    stream = await client(served).chat.completions.create(
        model="llama3", messages=USER, stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert len(received) == 3 and "broke off" in caught.value.message
    assert served.b.requests_for(model="llama3") == 0  # no fallback once text was sent


async def test_all_candidates_failing_is_502_and_not_retried_by_the_client(
    served: Facade,
) -> None:
    for backend in (served.a, served.b):
        backend.set_fault(Fault(kind="http_error", status=500), model="llama3")
    with pytest.raises(openai.InternalServerError) as caught:
        await client(served).chat.completions.create(model="llama3", messages=USER)
    assert caught.value.status_code == 502 and caught.value.code == "all_candidates_failed"
    assert "no deployment answered" in caught.value.message
    sent = served.a.requests_for(model="llama3") + served.b.requests_for(model="llama3")
    assert sent == served.rt.statistics().router.attempts  # one request's attempts only


async def test_unknown_model_is_404_listing_roles_and_models(served: Facade) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client(served).chat.completions.create(model="gpt-9", messages=USER)
    assert caught.value.code == "model_not_found"
    assert "roles: gen, coder" in caught.value.message and "llama3" in caught.value.message


async def test_max_tokens_over_the_cap_is_a_bad_request(served: Facade) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client(served).chat.completions.create(model="gen", messages=USER, max_tokens=100_000)
    assert caught.value.param == "max_tokens" and "cap of 32768" in caught.value.message
    assert served.a.requests_for(route="/api/chat") + served.b.requests_for(route="/api/chat") == 0


async def test_a_used_up_quota_is_429_with_retry_after(tmp_path: Path, servers: Servers) -> None:
    quota = QuotaConfig(daily_requests=1)
    async with facade(tmp_path, servers, quota=quota) as running:
        oa = client(running)
        await oa.chat.completions.create(model="gen", messages=USER)
        with pytest.raises(openai.RateLimitError) as caught:
            await oa.chat.completions.create(model="gen", messages=USER)
    error = caught.value
    assert error.code == "quota_exceeded" and int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["x-should-retry"] == "false"
    chats = [s.requests_for(route="/api/chat") for s in (running.a, running.b)]
    assert sum(chats) == 1


async def test_models_lists_roles_models_and_aliases(served: Facade) -> None:
    page = await client(served).models.list()
    assert [m.id for m in page.data] == ["gen", "coder", "llama3", "qwen", "small"]
