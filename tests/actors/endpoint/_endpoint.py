"""``Endpoint``: an endpoint actor and its transport behind one object, for the tests.

It spawns a real ``EndpointActor`` (in its own ``ActorSystem``) over a real
``EndpointTransport`` and offers the calls the transport tests make: every call goes
``Call`` -> ``CallHandle`` -> HTTP -> ``EndCall``, as the runtime's do. ``statistics``
and ``inflight`` are the actor's own answers (``ask_nowait``, so queued reports are
counted first).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal

import httpx

from actors import ActorSystem
from actors.endpoint import (
    Api,
    Call,
    CallResult,
    ChatRequest,
    Chunk,
    Deadlines,
    EndpointActor,
    EndpointStatistics,
    EndpointTransport,
    GetEndpointStatistics,
    call_chat,
    call_list_models,
)

_made: list[Endpoint] = []

Http = Literal["aiohttp", "httpx"]
HTTPS: tuple[Http, ...] = ("aiohttp", "httpx")
"""The transports every real-socket test runs on (the ``http`` fixture)."""


class Endpoint:
    """One endpoint actor and its transport (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        api: Api,
        api_key: str | None = None,
        deadlines: Deadlines = Deadlines(),  # noqa: B008 - frozen
        max_concurrency: int = 8,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_line_bytes: int = 1024 * 1024,
        transport: httpx.AsyncBaseTransport | None = None,
        wall: Callable[[], float] | None = None,
        http: Http = "aiohttp",
        verify_tls: bool = True,
    ) -> None:
        extra: dict[str, Any] = {} if wall is None else {"wall": wall}
        self.transport = EndpointTransport(
            name=name, url=url, api=api, api_key=api_key, deadlines=deadlines,
            max_connections=max_concurrency, max_response_bytes=max_response_bytes,
            max_line_bytes=max_line_bytes, transport=transport, http=http,
            verify_tls=verify_tls, **extra,
        )  # fmt: skip
        self.system = ActorSystem()
        self.ref = self.system.spawn(
            lambda: EndpointActor(self.transport, max_concurrency=max_concurrency),
            name=f"endpoint:{name}",
        )
        _made.append(self)

    @property
    def name(self) -> str:
        return self.transport.name

    @property
    def url(self) -> str:
        return self.transport.url

    @property
    def api(self) -> Api:
        return self.transport.api

    @property
    def inflight(self) -> int:
        return self.statistics().inflight

    def statistics(self) -> EndpointStatistics:
        return self.ref.ask_nowait(GetEndpointStatistics())

    async def started(self) -> Endpoint:
        """Wait until the actor took its first message (``ask_nowait`` works from then)."""
        await self.ref.ask(GetEndpointStatistics())
        return self

    async def chat(self, req: ChatRequest, *, deadlines: Deadlines | None = None) -> CallResult:
        return await call_chat(self.ref, req, deadlines)

    async def stream(
        self, req: ChatRequest, *, deadlines: Deadlines | None = None
    ) -> AsyncGenerator[Chunk, None]:
        handle = await self.ref.ask(Call("stream"), timeout=None)
        async with contextlib.aclosing(handle.stream(req, deadlines)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def list_models(self) -> tuple[str, ...]:
        return await call_list_models(self.ref)

    async def aclose(self) -> None:
        await self.transport.aclose()


async def shut_down_all() -> None:
    """Stop every endpoint made during a test (the autouse fixture calls it)."""
    while _made:
        endpoint = _made.pop()
        await endpoint.system.shutdown(timeout=1.0)
        await endpoint.transport.aclose()
