"""Agent traffic through ``Runtime``: tools, structured output, images, parameters and
embeddings reach the backend in its own wire format, or are refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from events import RequestStarted, RequestSucceeded
from runtime import (
    AllCandidatesFailed,
    ConfigError,
    EndpointConfig,
    InvalidRequest,
    ModelConfig,
    Runtime,
    RuntimeConfig,
    UnsupportedParameter,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, PATIENT, config, read_events
from tests.runtime.test_request_surface import PNG

Servers = tuple[ChaosServer, ChaosServer]
Api = Literal["ollama", "openai"]
ROUTE = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}
TOOLS = [
    {
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
]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def _config(tmp_path: Path, server: ChaosServer, api: Api, **model: Any) -> RuntimeConfig:
    """One endpoint speaking ``api``, one model ``llama3`` on it."""
    base = config(tmp_path, {"a": server}, {"llama3": ("a",)})
    return msgspec.structs.replace(
        base,
        endpoints=(EndpointConfig(name="a", url=server.url, api=api, timeouts=PATIENT),),
        models=(ModelConfig(name="llama3", deployments=("a",), **model),),
    )


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_a_full_tool_round_trip(tmp_path: Path, servers: Servers, api: Api) -> None:
    a, _ = servers
    a.script_tool_round_trip("llama3", "get_weather", {"city": "Paris"}, "It is {result}.")
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    async with Runtime(_config(tmp_path, a, api)) as rt:
        reply = await rt.chat(messages, model="llama3", tools=TOOLS)
        assert reply.finish_reason == "tool_calls"
        (call,) = reply.tool_calls
        assert call.name == "get_weather" and call.parsed_arguments() == {"city": "Paris"}
        messages += [
            reply.message(),
            {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": "18 C"},
        ]
        answer = await rt.chat(messages, model="llama3", tools=TOOLS)
    assert answer.content == "It is 18 C." and not answer.tool_calls
    first, second = a.received(route=ROUTE[api])
    assert first["tools"][0]["function"]["name"] == "get_weather"
    sent_call = second["messages"][1]["tool_calls"][0]["function"]
    if api == "openai":  # arguments travel as JSON text, the tool answer by its call id
        assert json.loads(sent_call["arguments"]) == {"city": "Paris"}
        assert second["messages"][2]["tool_call_id"] == call.id
    else:  # Ollama: arguments as an object, the tool answer by the function's name
        assert sent_call["arguments"] == {"city": "Paris"}
        assert second["messages"][2]["tool_name"] == "get_weather"


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_a_stream_assembles_its_tool_calls_on_the_final_chunk(
    tmp_path: Path, servers: Servers, api: Api
) -> None:
    a, _ = servers
    a.script_tool_round_trip("llama3", "get_weather", {"city": "Reykjavik, Iceland"})
    async with Runtime(_config(tmp_path, a, api)) as rt:
        chunks = [c async for c in rt.stream(MESSAGES, model="llama3", tools=TOOLS)]
    final = chunks[-1]
    assert final.done and final.finish_reason == "tool_calls"
    (call,) = final.tool_calls
    assert call.parsed_arguments() == {"city": "Reykjavik, Iceland"}
    assert all(not c.tool_calls for c in chunks[:-1])


async def test_every_parameter_reaches_ollama(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    cfg = _config(tmp_path, a, "ollama", options={"num_ctx": 2048, "top_k": 5})
    async with Runtime(cfg) as rt:
        await rt.chat(
            MESSAGES, model="llama3", max_tokens=50, temperature=0.3, top_p=0.8, seed=7,
            stop=["END", "STOP"], frequency_penalty=0.1, presence_penalty=0.2,
            repeat_penalty=1.1, options={"num_ctx": 8192, "keep_alive": "5m", "think": False},
        )  # fmt: skip
    (body,) = a.received(route="/api/chat")
    assert body["options"] == {
        "num_predict": 50, "temperature": 0.3, "top_p": 0.8, "seed": 7, "stop": ["END", "STOP"],
        "frequency_penalty": 0.1, "presence_penalty": 0.2, "repeat_penalty": 1.1,
        "num_ctx": 8192, "top_k": 5,  # the call's num_ctx over the model's; its top_k kept
    }  # fmt: skip
    assert body["keep_alive"] == "5m" and body["think"] is False


async def test_every_parameter_reaches_an_openai_backend(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    async with Runtime(_config(tmp_path, a, "openai", temperature=0.9)) as rt:
        await rt.chat(
            MESSAGES, model="llama3", max_tokens=50, top_p=0.8, top_k=4, seed=7, stop="END",
            frequency_penalty=0.1, presence_penalty=0.2, repeat_penalty=1.1, logprobs=True,
            top_logprobs=2, tool_choice="required", tools=TOOLS, options={"min_p": 0.05},
        )  # fmt: skip
    (body,) = a.received(route="/v1/chat/completions")
    expected = {
        "max_tokens": 50, "temperature": 0.9, "top_p": 0.8, "top_k": 4, "seed": 7,
        "stop": ["END"], "frequency_penalty": 0.1, "presence_penalty": 0.2,
        "repeat_penalty": 1.1, "logprobs": True, "top_logprobs": 2, "tool_choice": "required",
        "min_p": 0.05,
    }  # fmt: skip
    assert {k: body[k] for k in expected} == expected and body["tools"] == TOOLS


@pytest.mark.parametrize(
    ("api", "call", "parameter"),
    [
        ("openai", {"options": {"num_ctx": 8192}}, "options.num_ctx"),
        ("openai", {"options": {"keep_alive": "5m"}}, "options.keep_alive"),
        ("ollama", {"tool_choice": "required", "tools": TOOLS}, "tool_choice"),
        (
            "ollama",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
async def test_what_a_backend_cannot_carry_is_refused_by_name_before_sending(
    tmp_path: Path, servers: Servers, api: Api, call: dict[str, Any], parameter: str
) -> None:
    a, _ = servers
    messages = call.pop("messages", MESSAGES)
    async with Runtime(_config(tmp_path, a, api)) as rt:
        with pytest.raises(UnsupportedParameter) as caught:
            await rt.chat(messages, model="llama3", **call)
    assert caught.value.parameter.startswith(parameter) and caught.value.endpoint == "a"
    assert "'a'" in str(caught.value) and api in str(caught.value)
    assert a.received() == []  # nothing was sent


def test_a_models_default_options_are_checked_against_its_endpoints_at_load(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    with pytest.raises(ConfigError) as caught:
        Runtime(_config(tmp_path, a, "openai", options={"num_ctx": 4096}))
    ((problem),) = caught.value.problems
    assert problem.path == "models[0].options.num_ctx" and "endpoint 'a'" in problem.message
    Runtime(_config(tmp_path, a, "ollama", options={"num_ctx": 4096}))  # Ollama takes it


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_structured_output_follows_the_schema(
    tmp_path: Path, servers: Servers, api: Api
) -> None:
    a, _ = servers
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
    async with Runtime(_config(tmp_path, a, api)) as rt:
        reply = await rt.chat(MESSAGES, model="llama3", response_format=response_format)
        loose = await rt.chat(MESSAGES, model="llama3", response_format={"type": "json_object"})
    person = json.loads(reply.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    assert isinstance(json.loads(loose.content), dict)
    first, second = a.received(route=ROUTE[api])
    if api == "ollama":
        assert first["format"] == SCHEMA and second["format"] == "json"
    else:
        assert first["response_format"]["json_schema"]["schema"] == SCHEMA
        assert second["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_images_travel_in_each_wire_format(
    tmp_path: Path, servers: Servers, api: Api
) -> None:
    a, _ = servers
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        }
    ]
    async with Runtime(_config(tmp_path, a, api)) as rt:
        await rt.chat(messages, model="llama3")
    (body,) = a.received(route=ROUTE[api])
    sent = body["messages"][0]
    if api == "ollama":
        assert sent == {"role": "user", "content": "what is this?", "images": [PNG]}
    else:
        assert sent["content"][1] == {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{PNG}"},
        }


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_embeddings_are_routed_and_recorded(
    tmp_path: Path, servers: Servers, api: Api
) -> None:
    a, _ = servers
    cfg = _config(tmp_path, a, api)
    async with Runtime(cfg) as rt:
        result = await rt.embed(["alpha", "beta", "alpha"], model="llama3")
        single = await rt.embed("alpha", model="llama3", dimensions=4)
    assert len(result.vectors) == 3 and result.vectors[0] == result.vectors[2]
    assert result.vectors[0] != result.vectors[1] and len(single.vectors[0]) == 4
    assert (result.model, result.endpoint) == ("llama3", "a")
    assert result.usage is not None and result.usage.prompt_tokens > 0
    started = [e.event for e in await read_events(Path(cfg.event_log.path), RequestStarted)]
    assert [s.operation for s in started] == ["embed", "embed"]  # type: ignore[attr-defined]
    assert started[0].messages == 3  # type: ignore[attr-defined]


async def test_embeddings_fall_back_like_chat(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    a.set_faults([Fault(kind="http_error", status=503)], model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime(cfg) as rt:
        result = await rt.embed(["x"], model="llama3")
        a.set_faults([Fault(kind="http_error", status=503)], model="llama3")
        b.set_faults([Fault(kind="http_error", status=503)], model="llama3")
        with pytest.raises(AllCandidatesFailed):
            await rt.embed(["x"], model="llama3")
    assert result.endpoint == "b" and [r.ok for r in result.attempts] == [False, True]
    succeeded = await read_events(Path(cfg.event_log.path), RequestSucceeded)
    assert len(succeeded) == 1


@pytest.mark.parametrize(
    ("inputs", "extra", "named"),
    [([], {}, "inputs"), ([1], {}, "inputs"), (["x"], {"dimensions": 0}, "dimensions")],
)
async def test_bad_embed_calls_are_refused(
    tmp_path: Path, servers: Servers, inputs: Any, extra: dict[str, Any], named: str
) -> None:
    a, _ = servers
    async with Runtime(_config(tmp_path, a, "ollama")) as rt:
        with pytest.raises(InvalidRequest, match=named):
            await rt.embed(inputs, model="llama3", **extra)
