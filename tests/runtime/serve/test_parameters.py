"""Every parameter a client sends through serve reaches the backend (or the call fails
naming it): both routes, both backend APIs, and no ``max_tokens`` of serve's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.testing import ChaosServer
from tests.runtime.serve._support import USER, Facade, facade, received

Servers = tuple[ChaosServer, ChaosServer]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
SAMPLING = {"stop": ["END"], "seed": 7, "top_p": 0.5, "top_k": 3, "frequency_penalty": 0.25,
            "presence_penalty": 0.5, "repeat_penalty": 1.1, "temperature": 0.2}  # fmt: skip


async def _post(served: Facade, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with served.client() as http:
        response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_openai_route_parameters_reach_an_ollama_backend(served: Facade) -> None:
    body = {"model": "llama3", "messages": USER, **SAMPLING, "max_tokens": 8000,
            "tools": TOOLS, "response_format": {"type": "json_object"}}  # fmt: skip
    await _post(served, "/v1/chat/completions", body)
    [sent] = received(served)
    assert sent["options"] == {
        "num_predict": 8000, "temperature": 0.2, "top_p": 0.5, "top_k": 3, "seed": 7,
        "stop": ["END"], "frequency_penalty": 0.25, "presence_penalty": 0.5,
        "repeat_penalty": 1.1,
    }  # fmt: skip
    assert sent["tools"] == TOOLS and sent["format"] == "json"


async def test_ollama_route_parameters_reach_an_ollama_backend(served: Facade) -> None:
    # num_ctx holds prompt + num_predict: a smaller window is skipped (context_window)
    options = {**SAMPLING, "num_predict": 8000, "num_ctx": 16384, "min_p": 0.05}
    body = {"model": "llama3", "messages": USER, "stream": False, "options": options,
            "keep_alive": "1m", "think": False, "format": SCHEMA, "tools": TOOLS}  # fmt: skip
    reply = await _post(served, "/api/chat", body)
    [sent] = received(served)
    assert sent["options"] == options
    assert sent["keep_alive"] == "1m" and sent["think"] is False
    assert sent["format"] == SCHEMA and sent["tools"] == TOOLS
    assert isinstance(reply["message"]["content"], str)


async def test_generate_parameters_and_images_reach_the_backend(served: Facade) -> None:
    body = {"model": "llama3", "prompt": "describe", "system": "be brief", "stream": False,
            "images": ["aGVsbG8="], "format": "json", "options": {"seed": 3, "num_ctx": 2048},
            "keep_alive": 0}  # fmt: skip
    reply = await _post(served, "/api/generate", body)
    [sent] = received(served)
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "describe", "images": ["aGVsbG8="]},
    ]
    assert sent["options"] == {"seed": 3, "num_ctx": 2048} and sent["keep_alive"] == 0
    assert sent["format"] == "json" and reply["response"].startswith("{")


async def test_json_schema_response_format_becomes_ollama_format(served: Facade) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}}
    body = {"model": "llama3", "messages": USER, "response_format": response_format}
    reply = await _post(served, "/v1/chat/completions", body)
    [sent] = received(served)
    assert sent["format"] == SCHEMA
    assert '"n"' in reply["choices"][0]["message"]["content"]


async def test_no_max_tokens_is_added_when_the_client_sent_none(served: Facade) -> None:
    await _post(served, "/v1/chat/completions", {"model": "gen", "messages": USER})
    await _post(served, "/api/chat", {"model": "gen", "messages": USER, "stream": False})
    await _post(served, "/api/chat", {"model": "gen", "messages": USER, "stream": False,
                                      "options": {"num_predict": -1}})  # fmt: skip
    sent = received(served)
    assert len(sent) == 3 and all("num_predict" not in s.get("options", {}) for s in sent)


async def test_a_stream_carries_the_parameters_too(served: Facade) -> None:
    body = {"model": "llama3", "messages": USER, "stream": True, "seed": 11, "stop": "END"}
    async with served.client() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    [sent] = received(served)
    assert sent["stream"] is True and sent["options"] == {"seed": 11, "stop": ["END"]}


async def test_unknown_openai_fields_reach_an_openai_backend_verbatim(
    tmp_path: Path, servers: Servers
) -> None:
    body = {"model": "llama3", "messages": USER, "user": "u-1", "parallel_tool_calls": False,
            "logit_bias": {"42": -1}, "service_tier": "auto", "store": False, "seed": 5,
            "tools": TOOLS, "tool_choice": "required", "logprobs": True, "top_logprobs": 2,
            "max_completion_tokens": 8000, "metadata": {"kind": "code", "team": "x"}}  # fmt: skip
    async with facade(tmp_path, servers, api="openai") as served:
        await _post(served, "/v1/chat/completions", body)
        [sent] = received(served, "/v1/chat/completions")
    expected = {k: v for k, v in body.items() if k not in ("max_completion_tokens", "metadata")}
    assert {k: sent[k] for k in expected} == expected and sent["max_tokens"] == 8000
    assert sent["metadata"] == {"team": "x"}  # kind is ours (the task kind), the rest passes


async def test_an_option_the_backend_cannot_take_fails_naming_it(
    tmp_path: Path, servers: Servers
) -> None:
    async with facade(tmp_path, servers, api="openai") as served, served.client() as http:
        ollama_side = await http.post(
            "/api/chat",
            json={"model": "llama3", "messages": USER, "options": {"num_ctx": 4096}},
        )
        openai_side = await http.post(
            "/v1/chat/completions", json={"model": "llama3", "messages": USER, "keep_alive": 0}
        )
    assert ollama_side.status_code == 400 == openai_side.status_code
    assert "'options.num_ctx' cannot be sent" in ollama_side.json()["error"]
    error = openai_side.json()["error"]
    assert error["param"] == "options.keep_alive" and error["code"] == "unsupported_parameter"
    assert received(served, "/v1/chat/completions") == []


async def test_a_forced_tool_choice_on_ollama_fails_naming_it(served: Facade) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    body = {"model": "llama3", "messages": USER, "tools": TOOLS, "tool_choice": choice}
    async with served.client() as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "tool_choice"
    assert received(served) == []
