"""Base URLs: ``http://host:port``, ``.../v1`` and a path prefix work for both APIs, and
the requests arrive at the right paths of a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import h11
import httpx
import msgspec
import pytest

from runtime import EndpointConfig, ModelConfig, Runtime, RuntimeConfig
from runtime._config_check import config_notes
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config

PREFIX = "/proxy/ollama"
CHAT = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}
LIST = {"ollama": "/api/tags", "openai": "/v1/models"}
META = {"ollama": (), "openai": ("/props",)}
"""Metadata asked at the first list: llama.cpp's ``/props`` (context windows), at the
server's root whatever the base URL; the chaos backend answers it 404, so only once."""


def one_endpoint(
    tmp_path: Path, server: ChaosServer, url: str, api: Literal["ollama", "openai"]
) -> RuntimeConfig:
    cfg = config(tmp_path, {"a": server}, {"llama3": ("a",)})
    endpoint = msgspec.structs.replace(cfg.endpoints[0], url=url, api=api)
    return msgspec.structs.replace(cfg, endpoints=(endpoint,))


@asynccontextmanager
async def prefixed(upstream: str, prefix: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback reverse proxy serving ``upstream`` under ``prefix`` only (anything else
    is 404); yields its URL with the prefix and the paths it received."""
    seen: list[str] = []
    client = httpx.AsyncClient(base_url=upstream)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    if not data:
                        return
                    continue
                if not isinstance(event, h11.Request):
                    return
                path, body = event.target.decode(), b""
                while not isinstance(part := conn.next_event(), h11.EndOfMessage):
                    if part is h11.NEED_DATA:
                        conn.receive_data(await reader.read(65536))
                    elif isinstance(part, h11.Data):
                        body += part.data
                seen.append(path)
                if path.startswith(prefix + "/"):
                    headers = [(k, v) for k, v in event.headers if k.lower() != b"host"]
                    answer = await client.request(
                        event.method.decode(), path[len(prefix) :], headers=headers, content=body
                    )
                    status, content = answer.status_code, answer.content
                    kind = answer.headers.get("content-type", "application/json")
                else:
                    status, content, kind = 404, b'{"error": "not here"}', "application/json"
                head = [("content-type", kind), ("content-length", str(len(content)))]
                writer.write(conn.send(h11.Response(status_code=status, headers=head)) or b"")
                writer.write(conn.send(h11.Data(data=content)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                conn.start_next_cycle()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{prefix}", seen
    finally:
        server.close()
        await client.aclose()


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_a_base_url_with_or_without_v1_reaches_the_api_paths(
    tmp_path: Path, api: Literal["ollama", "openai"], suffix: str
) -> None:
    async with ChaosServer(["llama3"]) as server:
        cfg = one_endpoint(tmp_path, server, server.url + suffix, api)
        async with Runtime.from_config(cfg) as rt:
            reply = await rt.chat(MESSAGES, model="llama3")
            streamed = [c async for c in rt.stream(MESSAGES, model="llama3")]
        routes = server.stats().by_route
    assert reply.endpoint == "a" and streamed[-1].done
    assert routes[CHAT[api]] == 2 and routes[LIST[api]] >= 1
    assert set(routes) == {CHAT[api], LIST[api], *META[api]}  # nothing went to /v1/v1/...


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize("suffix", ["", "/v1"])
async def test_a_path_prefix_is_kept(
    tmp_path: Path, api: Literal["ollama", "openai"], suffix: str
) -> None:
    async with ChaosServer(["llama3"]) as server, prefixed(server.url, PREFIX) as (url, seen):
        cfg = one_endpoint(tmp_path, server, url + suffix, api)
        async with Runtime.from_config(cfg) as rt:
            reply = await rt.chat(MESSAGES, model="llama3")
    assert reply.endpoint == "a" and reply.content
    assert set(seen) == {PREFIX + LIST[api], PREFIX + CHAT[api], *(PREFIX + m for m in META[api])}
    assert server.stats().by_route[CHAT[api]] == 1


def test_the_config_check_says_which_form_each_base_url_took() -> None:
    def notes(url: str, api: Literal["ollama", "openai"]) -> tuple[str, ...]:
        return config_notes(
            RuntimeConfig(
                endpoints=(EndpointConfig(name="a", url=url, api=api),),
                models=(ModelConfig(name="llama3", deployments=("a",)),),
            )
        )

    assert notes("http://127.0.0.1:8080/v1/", "openai") == (
        "endpoint 'a': base URL http://127.0.0.1:8080 (a trailing /v1 was removed; "
        "requests go to http://127.0.0.1:8080/v1/chat/completions)",
    )
    assert notes("http://h/proxy/ollama", "ollama") == (
        "endpoint 'a': base URL http://h/proxy/ollama "
        "(requests go to http://h/proxy/ollama/api/chat)",
    )
