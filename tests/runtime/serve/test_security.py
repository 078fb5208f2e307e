"""RELIABILITY.md item 15 with a raw client: keys, query-string keys, body caps,
backend-setting fields, malformed and mistyped bodies, and the bind rules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from runtime.serve import ROUTES, ServeSettings
from tests._logs import capture_logs
from tests.runtime.serve._support import KEY, USER, Facade, chats, counts, standalone

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHAT_POSTS = {"/v1/chat/completions", "/api/chat", "/api/generate"}
CHAT = {"model": "gen", "messages": USER, "stream": False}
GENERATE = {"model": "gen", "prompt": "hi", "stream": False}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": CHAT,
    "/api/chat": CHAT,
    "/api/generate": GENERATE,
    "/v1/embeddings": {"model": "llama3", "input": "hi"},
    "/api/embed": {"model": "llama3", "input": "hi"},
    "/api/embeddings": {"model": "llama3", "prompt": "hi"},
    "/api/show": {"model": "gen"},
    "/admin/health/reset": {"target": "qwen@b"},
    "/admin/health/probe": {"target": "qwen@b"},
}
"""The body of each POST route (every other route is a GET)."""
SMALL = ServeSettings(api_key=KEY, max_body_bytes=64 * 1024)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Facade]:
    """One facade for the tests here: they only read, or send refused requests."""
    async with standalone(tmp_path_factory.mktemp("shared")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Facade]:
    """A facade with a 64 KiB body cap."""
    async with standalone(tmp_path_factory.mktemp("small"), SMALL) as running:
        yield running


@contextlib.asynccontextmanager
async def no_backend_call(served: Facade) -> AsyncIterator[None]:
    """Check that the block sent no chat request to any backend."""
    before = chats(served)
    yield
    assert chats(served) == before, "a refused request reached a backend"


def message_of(response: httpx.Response) -> str:
    """The error message in either protocol's shape."""
    error = response.json()["error"]
    return error if isinstance(error, str) else str(error["message"])


async def call(http: httpx.AsyncClient, path: str, **options: Any) -> httpx.Response:
    if path in BODIES:
        return await http.post(path, json=BODIES[path], **options)
    return await http.get(path, **options)


# --- the bearer key ---------------------------------------------------------------------

BAD_AUTHORIZATIONS = [
    None,  # missing
    f"Bearer {KEY[:-1]}x",  # wrong
    f"Bearer {KEY[:-2]}",  # a prefix
    f"Bearer {KEY}0",  # longer
    f"Basic {KEY}",  # another scheme
    KEY,  # no scheme
]


@pytest.mark.parametrize("path", ROUTES)
async def test_every_route_refuses_a_missing_or_wrong_key(shared: Facade, path: str) -> None:
    async with shared.client(key=None) as http:
        for authorization in BAD_AUTHORIZATIONS:
            headers = {} if authorization is None else {"Authorization": authorization}
            async with no_backend_call(shared):
                response = await call(http, path, headers=headers)
            assert response.status_code == 401, authorization
            assert response.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in message_of(response)
            assert KEY not in response.text


@pytest.mark.parametrize("path", ROUTES)
async def test_every_route_accepts_the_right_key(shared: Facade, path: str) -> None:
    async with shared.client(key=None, headers={"authorization": f"bearer {KEY}"}) as http:
        response = await call(http, path)
    assert response.status_code == 200, response.text


async def test_refusals_are_counted_on_metrics(shared: Facade) -> None:
    async with shared.client(key=None) as anonymous, shared.client() as http:
        before = (await http.get("/metrics")).text
        await anonymous.get("/health")
        await anonymous.get("/metrics")
        after = (await http.get("/metrics")).text
    unauthorized = (("reason", "unauthorized"),)
    metrics_401 = (("method", "GET"), ("route", "/metrics"), ("status", "401"))
    for name, labels in [
        ("llmrt_http_rejections_total", unauthorized),
        ("llmrt_http_requests_total", metrics_401),
    ]:
        old = counts(before, name).get(labels, 0.0)
        assert counts(after, name)[labels] == old + (2 if labels == unauthorized else 1)


@pytest.mark.parametrize("name", ["key", "api_key", "API-KEY", "token", "access_token"])
async def test_a_key_in_the_query_string_is_refused_and_never_echoed_or_logged(
    shared: Facade, name: str
) -> None:
    async with shared.client() as http:
        with capture_logs() as logs:
            response = await http.get(f"/v1/models?{name}={KEY}")
            ollama_side = await http.post(f"/api/chat?{name}={KEY}", json=CHAT)
    assert response.status_code == 400 == ollama_side.status_code
    assert response.json()["error"]["code"] == "key_in_query"
    assert "Authorization: Bearer" in message_of(ollama_side)
    assert KEY not in response.text + ollama_side.text and KEY not in repr(logs)


async def test_without_a_key_a_loopback_server_needs_no_header(tmp_path: Path) -> None:
    async with standalone(tmp_path, ServeSettings()) as running, running.client(key=None) as http:
        response = await http.post("/v1/chat/completions", json=CHAT)
        in_query = await http.get("/health?token=abc")
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
    assert in_query.status_code == 400  # keys never belong in URLs, key or not


# --- body size --------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_413(small: Facade) -> None:
    big = [{"role": "user", "content": "x" * 70_000}]
    async with small.client() as http:
        before = counts((await http.get("/metrics")).text, "llmrt_http_rejections_total")
        async with no_backend_call(small):
            openai_side = await http.post("/v1/chat/completions", json={**CHAT, "messages": big})
            ollama_side = await http.post("/api/chat", json={**CHAT, "messages": big})
        after = counts((await http.get("/metrics")).text, "llmrt_http_rejections_total")
    assert openai_side.status_code == 413 == ollama_side.status_code
    assert openai_side.json()["error"]["code"] == "body_too_large"
    assert "limit of 65536 bytes" in message_of(ollama_side)
    label = (("reason", "body_too_large"),)
    assert after[label] == before.get(label, 0.0) + 2


async def test_a_chunked_body_without_length_is_cut_at_the_cap(small: Facade) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 30_000

    async with small.client() as http, no_backend_call(small):
        response = await http.post("/v1/chat/completions", content=body())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_the_server_answers_413_before_an_endless_chunked_body_ends(small: Facade) -> None:
    host, port = small.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
        + f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n\r\n".encode()
    )
    chunk = b"x" * 16_384
    for _ in range(8):  # 128 KiB, twice the cap, and never the terminating chunk
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


# --- what a body may say ----------------------------------------------------------------

BACKEND_SETTERS = [
    ({"base_url": "http://169.254.169.254"}, "base_url"),
    ({"api_key": "sk-elsewhere"}, "api_key"),
    ({"url": "http://evil.example"}, "url"),
    ({"headers": {"Authorization": "x"}}, "headers"),
    ({"Endpoint": "http://evil.example"}, "Endpoint"),
]


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize(("extra", "field"), BACKEND_SETTERS)
async def test_a_body_setting_a_backend_is_refused(
    shared: Facade, path: str, extra: dict[str, Any], field: str
) -> None:
    if path == "/api/show":
        return  # it sends nothing a backend setting could steer: only the name is read
    async with shared.client() as http, no_backend_call(shared):
        response = await http.post(path, json={**BODIES[path], **extra})
    assert response.status_code == 400
    message = message_of(response)
    assert f"field '{field}' is not allowed" in message and "configuration only" in message


@pytest.mark.parametrize(
    ("path", "extra", "field"),
    [
        ("/api/chat", {"options": {"host": "http://evil.example"}}, "options.host"),
        ("/api/generate", {"options": {"api_base": "http://x"}}, "options.api_base"),
        ("/api/embed", {"options": {"base_url": "http://x"}}, "options.base_url"),
        ("/v1/chat/completions", {"metadata": {"api_key": "sk-x"}}, "metadata.api_key"),
    ],
)
async def test_nested_backend_settings_are_refused(
    shared: Facade, path: str, extra: dict[str, Any], field: str
) -> None:
    async with shared.client() as http, no_backend_call(shared):
        response = await http.post(path, json={**BODIES[path], **extra})
    assert response.status_code == 400 and f"field '{field}'" in message_of(response)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**CHAT, "model": 3}, "model"),
        ({"messages": USER}, "model"),
        ({**CHAT, "messages": "hello"}, "messages"),
        ({**CHAT, "messages": []}, "messages"),
        ({**CHAT, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        # the runtime's own checks (message parser, parameter ranges) name the field too
        ({**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
         "messages[0].content[0].image_url.url"),
        ({**CHAT, "temperature": 500}, "temperature"),
        ({**CHAT, "tools": [{"type": "function"}]}, "tools[0].function.name"),
        ({**CHAT, "stream": "yes"}, "stream"),
        ({**CHAT, "temperature": "hot"}, "temperature"),
        ({**CHAT, "top_p": "high"}, "top_p"),
        ({**CHAT, "seed": 1.5}, "seed"),
        ({**CHAT, "top_k": "4"}, "top_k"),
        ({**CHAT, "stop": 7}, "stop"),
        ({**CHAT, "stop": ["a", 1]}, "stop"),
        ({**CHAT, "frequency_penalty": [1]}, "frequency_penalty"),
        ({**CHAT, "logprobs": "yes"}, "logprobs"),
        ({**CHAT, "top_logprobs": "3"}, "top_logprobs"),
        ({**CHAT, "response_format": "json"}, "response_format"),
        ({**CHAT, "tools": {"type": "function"}}, "tools"),
        ({**CHAT, "tool_choice": 3}, "tool_choice"),
        ({**CHAT, "functions": [{"name": "f"}]}, "functions"),
        ({**CHAT, "max_tokens": 1.5}, "max_tokens"),
        ({**CHAT, "max_tokens": 0}, "max_tokens"),
        ({**CHAT, "max_tokens": 32769}, "max_tokens"),
        ({**CHAT, "max_completion_tokens": 10**30}, "max_completion_tokens"),
        ({**CHAT, "kind": "a b"}, "kind"),
        ({**CHAT, "n": 2}, "n"),
        ({**CHAT, "messages": USER * 257}, "messages"),
        ({**CHAT, "messages": [{"role": "user", "content": "x" * 200_001}]},
         "messages[0].content"),
    ],
)  # fmt: skip
async def test_openai_bad_fields_are_400_naming_the_field(
    shared: Facade, body: dict[str, Any], param: str
) -> None:
    async with shared.client() as http, no_backend_call(shared):
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/chat", {**CHAT, "options": {"num_predict": 40_000}}, "options.num_predict"),
        ("/api/chat", {**CHAT, "options": {"num_predict": "5"}}, "options.num_predict"),
        ("/api/chat", {**CHAT, "options": {"temperature": True}}, "options.temperature"),
        ("/api/chat", {**CHAT, "options": {"top_p": "x"}}, "options.top_p"),
        ("/api/chat", {**CHAT, "options": {"seed": 0.5}}, "options.seed"),
        ("/api/chat", {**CHAT, "options": {"stop": 3}}, "options.stop"),
        ("/api/chat", {**CHAT, "options": []}, "options"),
        ("/api/chat", {**CHAT, "format": 5}, "format"),
        ("/api/chat", {**CHAT, "format": "yaml"}, "format"),
        ("/api/chat", {**CHAT, "tools": "all"}, "tools"),
        ("/api/chat", {**CHAT, "logprobs": 1}, "logprobs"),
        ("/api/chat", {**CHAT, "prompt": "hi"}, "prompt"),
        ("/api/generate", {"model": "gen", "prompt": 7}, "prompt"),
        ("/api/generate", {"model": "gen", "prompt": "x", "system": ["s"]}, "system"),
        ("/api/generate", {"model": "gen", "prompt": "x", "images": "aGk="}, "images"),
        ("/api/generate", {"model": "gen", "prompt": "x", "suffix": "end"}, "suffix"),
        ("/api/generate", {"model": "gen", "prompt": "x", "context": [1, 2]}, "context"),
        ("/api/generate", {"model": "gen", "prompt": "x", "raw": True}, "raw"),
        ("/api/generate", {"model": "gen", "prompt": "x", "template": "{{ .P }}"}, "template"),
        ("/api/generate", {**GENERATE, "messages": USER}, "messages"),
        ("/api/embed", {"model": "llama3", "input": [1, 2]}, "input"),
        ("/api/embed", {"model": "llama3", "input": []}, "input"),
        ("/api/embed", {"model": "llama3", "input": "x", "dimensions": "8"}, "dimensions"),
        ("/api/embeddings", {"model": "llama3", "prompt": ["x"]}, "prompt"),
        ("/api/show", {"name": 3}, "model"),
    ],
)
async def test_ollama_bad_fields_are_400_naming_the_field(
    shared: Facade, path: str, body: dict[str, Any], field: str
) -> None:
    async with shared.client() as http, no_backend_call(shared):
        response = await http.post(path, json=body)
    assert response.status_code == 400 and f"'{field}'" in message_of(response)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b"", b'"text"', b"[" * 5000 + b"]" * 5000, b"\xff\xfe"],
    ids=["truncated", "array", "empty", "string", "deep", "not-utf8"],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
async def test_malformed_json_is_400(shared: Facade, path: str, content: bytes) -> None:
    async with shared.client() as http, no_backend_call(shared):
        response = await http.post(path, content=content)
    assert response.status_code == 400 and "JSON" in message_of(response)


async def test_unknown_routes_and_methods_answer_json(shared: Facade) -> None:
    async with shared.client() as http:
        missing = await http.get("/v1/nothing")
        wrong = await http.get("/api/chat")
    assert missing.status_code == 404 and "routes: /v1/chat/completions" in message_of(missing)
    assert wrong.status_code == 405 and "GET /api/chat" in message_of(wrong)
