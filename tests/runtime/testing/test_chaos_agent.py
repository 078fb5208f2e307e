"""Agent traffic over raw HTTP: tool calls, round trips, JSON output, recorded bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from runtime.testing import ChaosServer, Fault, ScriptedReply, ScriptedToolCall

ASK: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
CHAT: dict[str, Any] = {"model": "llama3", "messages": ASK, "stream": False}
ARGS = {"city": "Paris", "when": "today at noon"}


@pytest.fixture
async def srv() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(models=["llama3", "qwen"], seed=2) as server:
        yield server


@pytest.fixture
async def client(srv: ChaosServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        yield c


def sse_json(text: str) -> tuple[list[dict[str, Any]], str]:
    """The JSON events of an SSE body, and its last (non-JSON) payload."""
    payloads = [e.removeprefix("data: ") for e in text.split("\n\n") if e]
    return [json.loads(p) for p in payloads[:-1]], payloads[-1]


async def test_openai_tool_call_body(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.script("llama3", [ScriptedReply(tool_calls=[ScriptedToolCall("get_weather", ARGS)])])
    body = (await client.post("/v1/chat/completions", json={**CHAT, "tools": TOOLS})).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None and choice["message"]["role"] == "assistant"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == ARGS
    assert body["usage"]["completion_tokens"] > 0


async def test_openai_tool_call_stream_deltas(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    srv.script("llama3", [ScriptedReply(tool_calls=[("get_weather", ARGS)])])
    req = {**CHAT, "stream": True, "tools": TOOLS, "stream_options": {"include_usage": True}}
    chunks, last = sse_json((await client.post("/v1/chat/completions", json=req)).text)
    assert last == "[DONE]"
    role, *calls, finish, usage = chunks
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": None}
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in calls]
    head, *fragments = deltas
    assert head["index"] == 0 and head["type"] == "function" and head["id"].startswith("call_")
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    assert len(fragments) >= 3
    assert all(set(f) == {"index", "function"} and f["index"] == 0 for f in fragments)
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == ARGS
    assert all(c["choices"][0]["finish_reason"] is None for c in [role, *calls])
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0


async def test_ollama_tool_call_body_and_stream(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    reply = ScriptedReply("checking", tool_calls=[("get_weather", ARGS)])
    srv.script("llama3", [reply, reply])
    single = (await client.post("/api/chat", json={**CHAT, "tools": TOOLS})).json()
    assert single["done"] is True and single["done_reason"] == "stop"
    assert single["message"]["content"] == "checking"
    assert single["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": ARGS}}
    ]
    r = await client.post("/api/chat", json={**CHAT, "stream": True, "tools": TOOLS})
    *text, calls, final = [json.loads(line) for line in r.text.splitlines()]
    assert [t["message"]["content"] for t in text] == ["checking"]
    assert calls["done"] is False and calls["message"]["content"] == ""
    assert calls["message"]["tool_calls"][0]["function"]["arguments"] == ARGS
    assert final["done"] is True and final["done_reason"] == "stop"
    assert "tool_calls" not in final["message"]


async def test_tool_calls_on_text_routes_and_token_limits(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    reply = ScriptedReply("a b c", tool_calls=[("get_weather", ARGS)])
    srv.script("llama3", [reply, reply])
    gen = (await client.post("/api/generate", json={"model": "llama3", "prompt": "x"})).text
    final = json.loads(gen.splitlines()[-1])
    assert final["done_reason"] == "stop" and "tool_calls" not in gen
    cut = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 2})
    choice = cut.json()["choices"][0]
    assert choice["finish_reason"] == "length" and "tool_calls" not in choice["message"]
    assert choice["message"]["content"] == "a b"


async def test_round_trip_follows_the_conversation(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    srv.script_tool_round_trip("llama3:latest", "get_weather", ARGS, "Result {result}!")
    call_turn = {**CHAT, "tools": TOOLS}
    history = [*ASK, {"role": "assistant", "content": ""}, {"role": "tool", "content": "sunny"}]
    answered = {**call_turn, "messages": history}
    next_turn = {**call_turn, "messages": [*history, *ASK]}
    for _ in range(2):  # order does not matter: the rule reads each request
        done = (await client.post("/v1/chat/completions", json=answered)).json()
        assert done["choices"][0]["message"]["content"] == "Result sunny!"
        call = (await client.post("/api/chat", json=call_turn)).json()["message"]
        assert call["tool_calls"][0]["function"]["name"] == "get_weather"
    again = (await client.post("/api/chat", json=next_turn)).json()["message"]
    assert again["tool_calls"][0]["function"]["arguments"] == ARGS
    plain = (await client.post("/api/chat", json=CHAT)).json()["message"]
    assert plain["content"] and "tool_calls" not in plain
    srv.script("llama3", ["queued first"])
    queued = (await client.post("/api/chat", json=call_turn)).json()["message"]
    assert queued["content"] == "queued first"
    srv.clear_tool_round_trip("llama3")
    assert "tool_calls" not in (await client.post("/api/chat", json=call_turn)).json()["message"]


async def test_admin_script_accepts_tool_calls(client: httpx.AsyncClient) -> None:
    replies = ["hello", {"tool_calls": [{"name": "get_weather", "arguments": ARGS}]}]
    r = await client.post("/_chaos/script", json={"model": "llama3", "replies": replies})
    assert r.json() == {"model": "llama3", "queued": 2}
    first = (await client.post("/api/chat", json=CHAT)).json()["message"]
    second = (await client.post("/api/chat", json=CHAT)).json()["message"]
    assert first["content"] == "hello" and second["tool_calls"][0]["function"]["arguments"] == ARGS
    bad_replies: list[list[object]] = [[{"tool_calls": [{"arguments": {}}]}], [{"txt": "x"}], [3]]
    for bad in bad_replies:
        r = await client.post("/_chaos/script", json={"model": "llama3", "replies": bad})
        assert r.status_code == 400 and "replies[0]" in r.json()["error"]


def test_scripted_reply_validation() -> None:
    with pytest.raises(ValueError, match="function name"):
        ScriptedReply(tool_calls=[("", {})])
    with pytest.raises(ValueError, match="JSON-encodable"):
        ScriptedToolCall("f", {"x": object()})
    with pytest.raises(ValueError, match="pair"):
        ScriptedReply(tool_calls=["f"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="ScriptedReply"):
        ChaosServer(scripts={"llama3": [42]})  # type: ignore[list-item]
    reply = ScriptedReply("t", tool_calls=[("f", {"a": 1}), ScriptedToolCall("g")])
    assert reply.tool_calls == (ScriptedToolCall("f", {"a": 1}), ScriptedToolCall("g", {}))


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "age": {"type": "integer", "minimum": 18},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


async def test_structured_output_on_every_chat_route(client: httpx.AsyncClient) -> None:
    oai_schema = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}
    answers = [
        (await client.post("/api/chat", json={**CHAT, "format": SCHEMA})).json()["message"][
            "content"
        ],
        (await client.post("/v1/chat/completions", json={**CHAT, "response_format": oai_schema}))
        .json()["choices"][0]["message"]["content"],
        (await client.post("/api/generate", json={**CHAT, "prompt": "p", "format": SCHEMA}))
        .json()["response"],
    ]  # fmt: skip
    for text in answers:
        jsonschema.validate(json.loads(text), SCHEMA)
    streamed = await client.post("/api/chat", json={**CHAT, "format": SCHEMA, "stream": True})
    pieces = [json.loads(line)["message"]["content"] for line in streamed.text.splitlines()]
    assert len(pieces) > 3 and "".join(pieces) == answers[0]
    loose = {**CHAT, "response_format": {"type": "json_object"}}
    obj = (await client.post("/v1/chat/completions", json=loose)).json()
    assert isinstance(json.loads(obj["choices"][0]["message"]["content"]), dict)
    text = {**CHAT, "response_format": {"type": "text"}}
    plain = (await client.post("/v1/chat/completions", json=text)).json()
    assert not plain["choices"][0]["message"]["content"].startswith("{")


async def test_structured_output_errors_and_script_precedence(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/chat", {"format": "yaml"}, "format"),
        ("/v1/chat/completions", {"response_format": {"type": "xml"}}, "response_format"),
        ("/v1/chat/completions", {"response_format": {"type": "json_schema"}}, "schema"),
        ("/api/chat", {"format": {"$ref": "#/$defs/missing"}}, "$ref"),
    ]
    for route, extra, word in cases:
        r = await client.post(route, json={**CHAT, **extra})
        assert r.status_code == 400 and word in r.text
    srv.script("llama3", ["not json at all"])
    r = await client.post("/api/chat", json={**CHAT, "format": "json"})
    assert r.json()["message"]["content"] == "not json at all"


async def test_received_bodies(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    options = {"num_ctx": 2048, "seed": 9, "stop": ["END"]}
    await client.post("/api/chat", json={**CHAT, "options": options, "format": "json"})
    await client.post("/v1/chat/completions", json={**CHAT, "model": "qwen", "seed": 4})
    await client.post("/api/embed", json={"model": "llama3", "input": "x"})
    await client.post("/api/chat", content=b"{broken")
    await client.get("/api/tags")
    assert [b["model"] for b in srv.received()] == ["llama3", "qwen", "llama3"]
    (chat,) = srv.received("/api/chat")
    assert chat["options"] == options and chat["format"] == "json"
    assert srv.received(model="llama3:latest", route="/api/embed")[0]["input"] == "x"
    assert srv.received("/v1/chat/completions", "qwen")[0]["seed"] == 4
    srv.received()[0]["model"] = "changed"  # callers get copies
    assert srv.received()[0]["model"] == "llama3"
    admin = await client.post("/_chaos/received", json={"route": "/v1/chat/completions"})
    assert [b["model"] for b in admin.json()] == ["qwen"]
    assert len((await client.get("/_chaos/received")).json()) == 3
    srv.reset()
    assert srv.received() == []


async def test_received_keeps_only_the_last_thousand(
    srv: ChaosServer, client: httpx.AsyncClient
) -> None:
    for i in range(1005):
        await client.post("/api/show", json={"model": "llama3", "n": i})
    kept = srv.received("/api/show")
    assert len(kept) == 1000 and kept[0]["n"] == 5 and kept[-1]["n"] == 1004


async def test_ps_and_version(srv: ChaosServer, client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/version")).json() == {"version": "0.12.0"}
    models = (await client.get("/api/ps")).json()["models"]
    keys = {"name", "model", "size", "digest", "details", "expires_at", "size_vram"}
    assert [m["name"] for m in models] == ["llama3:latest", "qwen:latest"]
    assert all(keys <= m.keys() and m["expires_at"].endswith("Z") for m in models)
    srv.set_fault(Fault(kind="http_error", status=500, count=1))
    assert (await client.get("/api/ps")).status_code == 500
