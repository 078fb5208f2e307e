"""Tool calls and structured output through serve with the official ``openai`` and
``ollama`` clients: calls streamed and not, and a whole round trip."""

from __future__ import annotations

import json
from typing import Any

import ollama
import openai
from openai.types.chat import (
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from runtime.testing import ScriptedReply
from tests.runtime.serve._support import AUTH, KEY, Facade, received

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
PARIS = {"city": "Paris"}


def openai_client(served: Facade) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{served.url}/v1", api_key=KEY)


def ollama_client(served: Facade) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=served.url, headers=AUTH)


def round_trip(served: Facade) -> None:
    """Both backends play the round trip (llama3 is served round robin by a and b)."""
    for backend in (served.a, served.b):
        backend.script_tool_round_trip("llama3", "get_weather", PARIS, "It is {result}.")


def second_request(served: Facade) -> list[dict[str, Any]]:
    """The messages of the request that carried the tool result."""
    [messages] = [b["messages"] for b in received(served) if len(b["messages"]) == 3]
    return list(messages)


def script_call(served: Facade, text: str = "") -> None:
    """The next llama3 reply (whichever backend gives it) calls get_weather(Paris)."""
    for backend in (served.a, served.b):
        backend.script("llama3", [ScriptedReply(text, tool_calls=[("get_weather", PARIS)])])


async def test_openai_client_gets_tool_calls(served: Facade) -> None:
    script_call(served)
    reply = await openai_client(served).chat.completions.create(
        model="gen", messages=ASK, tools=[WEATHER]
    )
    [choice] = reply.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == PARIS
    [sent] = received(served)
    assert sent["tools"] == [WEATHER]


async def test_openai_client_streams_tool_calls_before_the_finish(served: Facade) -> None:
    script_call(served, "Let me look.")
    stream = await openai_client(served).chat.completions.create(
        model="gen", messages=ASK, tools=[WEATHER], stream=True
    )
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks]
    calls = [d.tool_calls for d in deltas if d.tool_calls]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not deltas[-1].tool_calls and len(calls) == 1
    [[call]] = calls
    assert call.index == 0 and call.id and call.type == "function" and call.function
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments or "") == PARIS
    assert "".join(d.content or "" for d in deltas) == "Let me look."


async def test_openai_stream_helper_assembles_the_calls(served: Facade) -> None:
    script_call(served)
    async with openai_client(served).chat.completions.stream(
        model="gen", messages=ASK, tools=[WEATHER]
    ) as stream:
        final = await stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == PARIS


async def test_openai_client_round_trip(served: Facade) -> None:
    round_trip(served)
    oa = openai_client(served)
    first = await oa.chat.completions.create(model="gen", messages=ASK, tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    history: list[ChatCompletionMessageParam] = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    answer = await oa.chat.completions.create(model="gen", messages=history, tools=[WEATHER])
    assert answer.choices[0].message.content == "It is sunny."
    assert answer.choices[0].finish_reason == "stop"
    second = second_request(served)
    assert second[1]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": PARIS}}]
    assert second[2]["role"] == "tool" and second[2]["content"] == "sunny"


async def test_openai_client_parses_structured_output(served: Facade) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "degrees": {"type": "integer"}},
        "required": ["city", "degrees"],
        "additionalProperties": False,
    }
    reply = await openai_client(served).chat.completions.create(
        model="gen",
        messages=ASK,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": schema, "strict": True},
        },
    )
    parsed: dict[str, Any] = json.loads(reply.choices[0].message.content or "")
    assert set(parsed) == {"city", "degrees"} and isinstance(parsed["degrees"], int)
    assert received(served)[0]["format"] == schema


async def test_ollama_client_gets_tool_calls(served: Facade) -> None:
    script_call(served)
    reply = await ollama_client(served).chat(
        model="gen", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER]
    )
    [call] = reply.message.tool_calls or []
    assert call.function.name == "get_weather" and dict(call.function.arguments) == PARIS
    assert reply.done_reason == "stop" and reply.done


async def test_ollama_client_streams_tool_calls(served: Facade) -> None:
    script_call(served)
    parts = [
        part
        async for part in await ollama_client(served).chat(
            model="gen",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER],
            stream=True,
        )
    ]
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", PARIS)
    ]
    assert parts[-1].done and [p.done for p in parts].count(True) == 1


async def test_ollama_client_round_trip(served: Facade) -> None:
    round_trip(served)
    ol = ollama_client(served)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await ol.chat(model="gen", messages=messages, tools=[WEATHER])
    [call] = first.message.tool_calls or []
    messages += [first.message, {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]
    answer = await ol.chat(model="gen", messages=messages, tools=[WEATHER])
    assert answer.message.content == "It is sunny." and not answer.message.tool_calls
    second = second_request(served)
    assert second[1]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": PARIS}}]
    assert second[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}
    assert call.function.name == "get_weather"


async def test_ollama_client_structured_output(served: Facade) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    reply = await ollama_client(served).chat(
        model="gen", messages=[{"role": "user", "content": "ok?"}], format=schema
    )
    assert isinstance(json.loads(reply.message.content or "")["ok"], bool)
    as_json = await ollama_client(served).generate(model="gen", prompt="hi", format="json")
    assert isinstance(json.loads(as_json.response or ""), dict)
