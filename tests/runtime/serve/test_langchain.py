"""LangChain's ``ChatOpenAI`` against serve: ``bind_tools`` and
``with_structured_output`` (its default ``json_schema`` method, ``json_mode`` and
``function_calling``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from runtime.testing import ChaosServer, ScriptedReply
from tests.runtime.serve._support import KEY, Facade, facade, received

Servers = tuple[ChaosServer, ChaosServer]
PARIS = {"city": "Paris"}


class Person(BaseModel):
    """Someone's name and age."""

    name: str = Field(description="the full name")
    age: int = Field(description="age in years")


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def chat(served: Facade, role: str = "gen") -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{served.url}/v1", api_key=KEY, model=role, max_retries=0)  # type: ignore[arg-type]


def script_call(served: Facade) -> None:
    for backend in (served.a, served.b):
        backend.script("llama3", [ScriptedReply(tool_calls=[("get_weather", PARIS)])])


async def test_bind_tools_returns_tool_calls(served: Facade) -> None:
    script_call(served)
    reply = await chat(served).bind_tools([get_weather]).ainvoke("Weather in Paris?")
    assert isinstance(reply, AIMessage)
    [call] = reply.tool_calls
    assert call["name"] == "get_weather" and call["args"] == PARIS and call["id"]
    [sent] = received(served)
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]


async def test_bind_tools_streams_tool_calls(served: Facade) -> None:
    script_call(served)
    merged: Any = None
    async for chunk in chat(served).bind_tools([get_weather]).astream("Weather in Paris?"):
        assert isinstance(chunk, AIMessageChunk)
        merged = chunk if merged is None else merged + chunk
    assert isinstance(merged, AIMessageChunk)
    [call] = merged.tool_calls
    assert call["name"] == "get_weather" and call["args"] == PARIS


async def test_a_tool_round_trip(served: Facade) -> None:
    for backend in (served.a, served.b):
        backend.script_tool_round_trip("llama3", "get_weather", PARIS, "It is {result}.")
    llm = chat(served).bind_tools([get_weather])
    question = HumanMessage("Weather in Paris?")
    first = await llm.ainvoke([question])
    assert isinstance(first, AIMessage)
    [call] = first.tool_calls
    result = ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"] or "")
    answer = await llm.ainvoke([question, first, result])
    assert answer.content == "It is sunny in Paris." and not answer.tool_calls


async def test_structured_output_by_default_json_schema(served: Facade) -> None:
    person = await chat(served).with_structured_output(Person).ainvoke("Who is Ada?")
    assert isinstance(person, Person) and isinstance(person.age, int)
    [sent] = received(served)
    assert sent["format"]["properties"].keys() == {"name", "age"}


async def test_structured_output_in_json_mode(served: Facade) -> None:
    for backend in (served.a, served.b):
        backend.script("llama3", ['{"name":"Ada","age":36}'])
    structured = chat(served).with_structured_output(Person, method="json_mode")
    person = await structured.ainvoke("Who is Ada? Answer in JSON.")
    [sent] = received(served)
    assert person == Person(name="Ada", age=36) and sent["format"] == "json"


async def test_structured_output_by_function_calling(tmp_path: Path, servers: Servers) -> None:
    async with facade(tmp_path, servers, api="openai") as served:
        for backend in (served.a, served.b):
            backend.script_tool_round_trip("llama3", "Person", {"name": "Ada", "age": 36})
        structured = chat(served).with_structured_output(Person, method="function_calling")
        person = await structured.ainvoke("Who is Ada?")
        [sent] = received(served, "/v1/chat/completions")
    assert person == Person(name="Ada", age=36)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert sent["parallel_tool_calls"] is False
