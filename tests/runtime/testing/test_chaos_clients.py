"""The official ``openai`` and ``ollama`` clients, driven straight at the chaos server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import ollama
import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from runtime.testing import ChaosServer, Fault, ScriptedReply

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PARIS = {"city": "Paris", "units": ["celsius", "kelvin"], "days": 3}
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "weather in Paris?"}]


@pytest.fixture
async def srv() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "qwen"], seed=5) as server:
        yield server


@pytest.fixture
async def oai(srv: ChaosServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
    async with client:
        yield client


@pytest.fixture
def oll(srv: ChaosServer) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=srv.url)


async def test_openai_tool_call_non_stream(srv: ChaosServer, oai: openai.AsyncOpenAI) -> None:
    srv.script("llama3", [ScriptedReply(tool_calls=[("get_weather", PARIS)])])
    done = await oai.chat.completions.create(
        model="llama3", messages=ASK, tools=[WEATHER_TOOL], seed=7, stop=["\n\n"]
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].type == "function" and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == PARIS
    assert done.usage is not None and done.usage.completion_tokens > 0
    sent = srv.received("/v1/chat/completions", model="llama3")
    assert sent[-1]["tools"] == [WEATHER_TOOL]
    assert sent[-1]["seed"] == 7 and sent[-1]["stop"] == ["\n\n"]


async def test_openai_tool_call_stream_accumulates(
    srv: ChaosServer, oai: openai.AsyncOpenAI
) -> None:
    srv.script("llama3", [ScriptedReply(tool_calls=[("get_weather", PARIS), ("now", {})])])
    stream = await oai.chat.completions.create(
        model="llama3",
        messages=ASK,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    ids: dict[int, str] = {}
    finish, usage, fragments = None, None, 0
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                fragments += 1
                if delta.id:
                    ids[delta.index] = delta.id
                if delta.function and delta.function.name:
                    names[delta.index] = delta.function.name
                if delta.function and delta.function.arguments:
                    arguments[delta.index] = arguments.get(delta.index, "") + (
                        delta.function.arguments
                    )
    assert finish == "tool_calls" and usage is not None
    assert names == {0: "get_weather", 1: "now"}
    assert json.loads(arguments[0]) == PARIS and arguments[1] == "{}"
    assert len(set(ids.values())) == 2 and fragments > 4


async def test_openai_stream_helper_sees_the_tool_call(
    srv: ChaosServer, oai: openai.AsyncOpenAI
) -> None:
    srv.script("qwen", [ScriptedReply("Let me check.", tool_calls=[("get_weather", PARIS)])])
    async with oai.chat.completions.stream(
        model="qwen", messages=ASK, tools=[WEATHER_TOOL]
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == PARIS


async def test_openai_round_trip_and_structured_output(
    srv: ChaosServer, oai: openai.AsyncOpenAI
) -> None:
    srv.script_tool_round_trip("llama3", "get_weather", {"city": "Paris"}, "Weather: {result}")
    first = await oai.chat.completions.create(model="llama3", messages=ASK, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls
    assert call is not None
    follow_up = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call[0].id, "content": "sunny, 21C"},
    ]
    second = await oai.chat.completions.create(
        model="llama3",
        messages=follow_up,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL],
    )
    assert second.choices[0].message.content == "Weather: sunny, 21C"
    assert second.choices[0].finish_reason == "stop"

    class Forecast(pydantic.BaseModel):
        city: str
        temperature: float
        tags: list[str]

    parsed = await oai.chat.completions.parse(model="qwen", messages=ASK, response_format=Forecast)
    assert isinstance(parsed.choices[0].message.parsed, Forecast)
    assert srv.received("/v1/chat/completions", "qwen")[-1]["response_format"]["type"] == (
        "json_schema"
    )


async def test_openai_embeddings_float_and_base64(
    srv: ChaosServer, oai: openai.AsyncOpenAI
) -> None:
    texts = ["alpha", "beta", "alpha"]
    default = await oai.embeddings.create(model="llama3", input=texts)  # base64 on the wire
    floats = await oai.embeddings.create(model="llama3", input=texts, encoding_format="float")
    assert [d.index for d in default.data] == [0, 1, 2]
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    vectors = [d.embedding for d in floats.data]
    assert vectors[0] == vectors[2] != vectors[1] and len(vectors[0]) == 8
    sized = await oai.embeddings.create(model="llama3", input="alpha", dimensions=32)
    assert len(sized.data[0].embedding) == 32 and sized.usage.prompt_tokens > 0
    assert srv.received("/v1/embeddings")[-1]["dimensions"] == 32
    with pytest.raises(openai.NotFoundError):
        await oai.embeddings.create(model="ghost", input="alpha")
    srv.set_fault(Fault(kind="rate_limit", count=1), model="llama3")
    with pytest.raises(openai.RateLimitError):
        await oai.embeddings.create(model="llama3", input="alpha")


async def test_ollama_tool_call_non_stream_and_stream(
    srv: ChaosServer, oll: ollama.AsyncClient
) -> None:
    reply = ScriptedReply(tool_calls=[("get_weather", PARIS)])
    srv.script("llama3", [reply, reply])
    done = await oll.chat(
        model="llama3", messages=ASK, tools=[WEATHER_TOOL], options={"num_ctx": 4096}
    )
    assert done.done_reason == "stop"
    calls = done.message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert dict(calls[0].function.arguments) == PARIS
    seen: list[ollama.Message.ToolCall] = []
    async for part in await oll.chat(
        model="llama3", messages=ASK, tools=[WEATHER_TOOL], stream=True
    ):
        seen.extend(part.message.tool_calls or [])
        last = part
    assert last.done and [c.function.name for c in seen] == ["get_weather"]
    sent = srv.received("/api/chat", "llama3:latest")
    assert sent[0]["options"]["num_ctx"] == 4096 and sent[0]["tools"][0]["type"] == "function"


async def test_ollama_round_trip_structured_output_and_metadata(
    srv: ChaosServer, oll: ollama.AsyncClient
) -> None:
    srv.script_tool_round_trip("qwen", "get_weather", {"city": "Paris"}, "It is {result}.")
    first = await oll.chat(model="qwen", messages=ASK, tools=[WEATHER_TOOL])
    assert first.message.tool_calls
    turn: list[ollama.Message | dict[str, str]] = [
        {"role": "user", "content": "weather in Paris?"},
        first.message,
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    second = await oll.chat(model="qwen", messages=turn, tools=[WEATHER_TOOL])
    assert second.message.content == "It is sunny." and not second.message.tool_calls

    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 3}, "ok": {"type": "boolean"}},
        "required": ["n", "ok"],
    }
    structured = await oll.chat(model="llama3", messages=ASK, format=schema)
    assert json.loads(structured.message.content or "") == {"n": 3, "ok": True}
    loose = await oll.generate(model="llama3", prompt="json please", format="json")
    assert isinstance(json.loads(loose.response or ""), dict)

    running = await oll.ps()
    assert [m.model for m in running.models] == ["llama3:latest", "qwen:latest"]
    assert all(m.size_vram and m.expires_at for m in running.models)
    shown = await oll.show("llama3")
    assert shown.capabilities and "tools" in shown.capabilities


async def test_ollama_embeddings(srv: ChaosServer, oll: ollama.AsyncClient) -> None:
    many = await oll.embed(model="llama3", input=["a", "b", "a"])
    assert len(many.embeddings) == 3 and many.embeddings[0] == many.embeddings[2]
    assert many.embeddings[0] != many.embeddings[1]
    one = await oll.embed(model="llama3", input="a")
    assert one.embeddings == [many.embeddings[0]]
    legacy = await oll.embeddings(model="llama3", prompt="a")
    assert list(legacy.embedding) == many.embeddings[0]
    with pytest.raises(ollama.ResponseError) as missing:
        await oll.embed(model="ghost", input="a")
    assert missing.value.status_code == 404
    srv.set_fault(Fault(kind="http_error", status=503, count=1))
    with pytest.raises(ollama.ResponseError) as busy:
        await oll.embed(model="llama3", input="a")
    assert busy.value.status_code == 503
