"""The four sides of the ``runtime_chat`` benchmark, each one chat call per ``await``.

Every side posts the same Ollama ``/api/chat`` request (``"stream": false`` or ``true``)
to the same ChaosServer and decodes what comes back the same way (msgspec's JSON
decoder, every NDJSON line of a stream to the last):

- ``httpx``: a plain ``httpx.AsyncClient`` (64 connections);
- ``aiohttp``: a plain ``aiohttp.ClientSession`` (``TCPConnector(limit=64)``);
- ``transport``: the runtime's endpoint actor and its transport alone (admission, the
  HTTP exchange with its deadlines, parsing), without router, health, quota or log;
- ``runtime``: ``Runtime.chat`` / ``Runtime.stream`` with everything on.

The runtime's request ids are kept (``Sides.request_ids``) so the benchmark can check
afterwards that every one of them reached the event log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec

from actors.endpoint import Call, ChatRequest, Message, call_chat
from runtime import EndpointConfig, EventLogConfig, ModelConfig, Runtime, RuntimeConfig

__all__ = [
    "MESSAGES",
    "MODEL",
    "SIDES",
    "SideCall",
    "Sides",
    "open_sides",
    "runtime_config",
]

MODEL = "llama3"
MESSAGES = [{"role": "user", "content": "say something short"}]
SIDES = ("httpx", "aiohttp", "transport", "runtime")
"""The sides, in table order."""
_CONNECTIONS = 64

SideCall = Callable[[], Awaitable[object]]
"""One request of one side (awaited to its last byte)."""


def _body(stream: bool) -> bytes:
    return msgspec.json.encode({"model": MODEL, "messages": MESSAGES, "stream": stream})


def runtime_config(url: str, log_path: Path, transport: str | None) -> RuntimeConfig:
    """One endpoint serving MODEL, a real SQLite log; ``transport`` if the config has it."""
    options: dict[str, Any] = {}
    if transport is not None and "transport" in EndpointConfig.__struct_fields__:
        options["transport"] = transport
    endpoint = EndpointConfig(name="local", url=url, max_concurrency=_CONNECTIONS, **options)
    return RuntimeConfig(
        endpoints=(endpoint,),
        models=(ModelConfig(name=MODEL, deployments=("local",)),),
        event_log=EventLogConfig(path=str(log_path)),
    )


def transport_in_force(rt: Runtime) -> str:
    """The endpoint transport the runtime uses (``httpx`` before the setting existed)."""
    return str(getattr(rt.config.endpoint("local"), "transport", "httpx"))


@dataclass
class Sides:
    """The calls of every side, for one mode (plain or stream)."""

    calls: dict[str, SideCall]
    request_ids: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def open_sides(rt: Runtime, url: str) -> AsyncIterator[Callable[[bool], Sides]]:
    """The clients of the direct sides, open for the block; yields ``sides(stream)``."""
    limits = httpx.Limits(max_connections=_CONNECTIONS, max_keepalive_connections=_CONNECTIONS)
    connector = aiohttp.TCPConnector(limit=_CONNECTIONS)
    async with (
        httpx.AsyncClient(base_url=url, limits=limits, trust_env=False) as hx,
        aiohttp.ClientSession(base_url=url, connector=connector) as aio,
    ):
        ids: list[str] = []

        def sides(stream: bool) -> Sides:
            make = _streaming if stream else _plain
            return Sides(calls=make(rt, hx, aio, ids), request_ids=ids)

        yield sides


def _plain(
    rt: Runtime, hx: httpx.AsyncClient, aio: aiohttp.ClientSession, ids: list[str]
) -> dict[str, SideCall]:
    decoder = msgspec.json.Decoder()
    body = _body(False)
    endpoint = rt._running().refs.endpoints["local"]  # the bench may look inside
    request = ChatRequest(
        model=MODEL, messages=(Message(role="user", content=MESSAGES[0]["content"]),)
    )

    async def with_httpx() -> object:
        response = await hx.post("/api/chat", content=body)
        response.raise_for_status()
        return decoder.decode(response.content)["message"]["content"]

    async def with_aiohttp() -> object:
        async with aio.post("/api/chat", data=body) as response:
            response.raise_for_status()
            return decoder.decode(await response.read())["message"]["content"]

    async def with_transport() -> object:
        return (await call_chat(endpoint, request)).result.content

    async def with_runtime() -> object:
        reply = await rt.chat(MESSAGES, model=MODEL)
        ids.append(reply.request_id)
        return reply.content

    return dict(zip(SIDES, (with_httpx, with_aiohttp, with_transport, with_runtime), strict=True))


def _streaming(
    rt: Runtime, hx: httpx.AsyncClient, aio: aiohttp.ClientSession, ids: list[str]
) -> dict[str, SideCall]:
    decoder = msgspec.json.Decoder()
    body = _body(True)
    endpoint = rt._running().refs.endpoints["local"]
    request = ChatRequest(
        model=MODEL, messages=(Message(role="user", content=MESSAGES[0]["content"]),), stream=True
    )

    async def with_httpx() -> object:
        pieces = []
        async with hx.stream("POST", "/api/chat", content=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line:
                    pieces.append(decoder.decode(line)["message"]["content"])
        return "".join(pieces)

    async def with_aiohttp() -> object:
        pieces = []
        async with aio.post("/api/chat", data=body) as response:
            response.raise_for_status()
            async for line in response.content:
                if line.strip():
                    pieces.append(decoder.decode(line)["message"]["content"])
        return "".join(pieces)

    async def with_transport() -> object:
        handle = await endpoint.ask(Call("stream"), timeout=None)
        pieces = []
        async with contextlib.aclosing(handle.stream(request)) as chunks:
            async for chunk in chunks:
                pieces.append(chunk.content)
        return "".join(pieces)

    async def with_runtime() -> object:
        pieces, request_id = [], ""
        async with contextlib.aclosing(rt.stream(MESSAGES, model=MODEL)) as chunks:
            async for chunk in chunks:
                pieces.append(chunk.content)
                request_id = chunk.request_id
        ids.append(request_id)
        return "".join(pieces)

    return dict(zip(SIDES, (with_httpx, with_aiohttp, with_transport, with_runtime), strict=True))
