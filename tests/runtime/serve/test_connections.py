"""Connection limits on real sockets: one client (a slowloris) cannot starve the others,
slow headers are cut off, and every refusal says which limit and what to do.

The clients differ by source address: the attacker connects from 127.0.0.1, the
legitimate client from 127.0.0.2 (both loopback on Linux).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runtime.serve import ServeSettings, ServeSettingsError
from runtime.testing import ChaosServer
from tests.runtime.serve._support import AUTH, KEY, PATIENT_HTTP, Facade, facade

Servers = tuple[ChaosServer, ChaosServer]

HEAD = b"GET /v1/models HTTP/1.1\r\nHost: test\r\n"
"""An unfinished request head: no Authorization line yet, no blank line."""

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def slow_connection(url: str, source: str = "127.0.0.1") -> Conn:
    """A connection that sent part of a request head and holds it."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, local_addr=(source, 0)
    )
    writer.write(HEAD)
    await writer.drain()
    return reader, writer


async def answer(conn: Conn) -> tuple[int, dict[str, object]]:
    """The status and JSON body the server sent before closing its side."""
    raw = await asyncio.wait_for(conn[0].read(), PATIENT_HTTP)
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def legit(served: Facade) -> httpx.AsyncClient:
    """A well-behaved client from another address (127.0.0.2)."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    return httpx.AsyncClient(
        base_url=served.url, headers=AUTH, timeout=PATIENT_HTTP, transport=transport
    )


@pytest.fixture
async def held() -> AsyncIterator[list[Conn]]:
    """Connections a test opened; closed at its end."""
    conns: list[Conn] = []
    yield conns
    for _, writer in conns:
        writer.close()


async def test_a_slowloris_client_cannot_starve_others(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    settings = ServeSettings(api_key=KEY, max_concurrency=16, max_connections_per_client=4)
    async with facade(tmp_path, servers, settings) as served:
        held += [await slow_connection(served.url) for _ in range(40)]  # 2.5x max_concurrency
        refusals = [await answer(conn) for conn in held[4:]]
        async with legit(served) as http:
            models = await http.get("/v1/models")
            chat = await http.post(
                "/v1/chat/completions",
                json={"model": "llama3", "messages": [{"role": "user", "content": "hi"}]},
            )
        # the held connections were only slow: finishing a head is served normally
        held[0][1].write(f"Authorization: Bearer {KEY}\r\nConnection: close\r\n\r\n".encode())
        finished, _ = await answer(held[0])
    assert models.status_code == 200 and chat.status_code == 200
    assert finished == 200
    assert len(refusals) == 36
    for status, body in refusals:
        error = body["error"]
        assert isinstance(error, dict)
        assert status == 503 and error["code"] == "too_many_connections"
        assert "at most 4 at once: max_connections_per_client" in str(error["message"])


async def test_a_head_that_does_not_arrive_in_time_is_answered_408(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    # the timeout is the point here: a short one, and a patient read of its answer
    settings = ServeSettings(api_key=KEY, header_timeout=0.3)
    async with facade(tmp_path, servers, settings) as served:
        held.append(await slow_connection(served.url))
        status, body = await answer(held[0])
        async with legit(served) as http:
            after = await http.get("/v1/models")
    error = body["error"]
    assert isinstance(error, dict)
    assert status == 408 and error["code"] == "header_timeout"
    assert "within 0.3 s (header_timeout)" in str(error["message"])
    assert after.status_code == 200


async def test_the_overall_cap_answers_503_saying_which_limit(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    settings = ServeSettings(api_key=KEY, max_concurrency=2, max_connections_per_client=2)
    async with facade(tmp_path, servers, settings) as served:
        held += [await slow_connection(served.url) for _ in range(2)]
        async with legit(served) as http:
            busy = await http.get("/v1/models")
        held[0][1].write(f"Authorization: Bearer {KEY}\r\nConnection: close\r\n\r\n".encode())
        finished, _ = await answer(held[0])
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "server_busy"
    assert "maximum of 2 connections" in busy.json()["error"]["message"]
    assert finished == 200  # the admitted connections are served


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_connections_per_client": 0}, "max_connections_per_client must be"),
        ({"header_timeout": 0.0}, "header_timeout must be"),
        ({"header_timeout": math.nan}, "header_timeout must be"),
        ({"header_timeout": 1e9}, "header_timeout must be"),
    ],
)
def test_bad_connection_limits_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ServeSettingsError, match=message):
        ServeSettings(**changes)  # type: ignore[arg-type]
