"""Connection limits on real sockets: one client (a slowloris) cannot starve the others,
slow headers are cut off, and every refusal says which limit and what to do.

The clients differ by source address: the attacker connects from 127.0.0.1, the
legitimate client from 127.0.0.2 (both loopback on Linux).
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from runtime.serve import ServeSettings, ServeSettingsError
from runtime.serve._cli import parser, settings_from
from runtime.serve._server import AppServer
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
        # each one beyond the cap made its address's longest-waiting connection give way
        displaced = [await answer(conn) for conn in held[:36]]
        async with legit(served) as http:
            models = await http.get("/v1/models")
            chat = await http.post(
                "/v1/chat/completions",
                json={"model": "llama3", "messages": [{"role": "user", "content": "hi"}]},
            )
        # the held connections were only slow: finishing a head is served normally
        held[-1][1].write(f"Authorization: Bearer {KEY}\r\nConnection: close\r\n\r\n".encode())
        finished, _ = await answer(held[-1])
    assert models.status_code == 200 and chat.status_code == 200
    assert finished == 200
    assert len(displaced) == 36
    for status, body in displaced:
        error = body["error"]
        assert isinstance(error, dict)
        assert status == 503 and error["code"] == "too_many_connections"
        assert "at most 4 at once: max_connections_per_client" in str(error["message"])
        assert "closed to make room for a newer one" in str(error["message"])


async def test_a_keyed_client_at_the_slowloris_address_is_still_served(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    settings = ServeSettings(api_key=KEY, max_connections_per_client=4)
    async with facade(tmp_path, servers, settings) as served:
        held += [await slow_connection(served.url) for _ in range(4)]
        async with served.client() as http:  # from 127.0.0.1 too
            models = await http.get("/v1/models")
        status, body = await answer(held[0])  # the longest-waiting one made way
    assert models.status_code == 200
    assert status == 503 and body["error"]["code"] == "too_many_connections"  # type: ignore[index]


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


async def in_flight(url: str) -> Conn:
    """A keyed request being served: its head arrived, the app asked for the body (the
    server sent ``100 Continue``), and the body is never sent."""
    parts = urlsplit(url)
    conn = await asyncio.open_connection(parts.hostname, parts.port, local_addr=("127.0.0.3", 0))
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    )
    conn[1].write(head.encode())
    interim = await asyncio.wait_for(conn[0].readuntil(b"\r\n\r\n"), PATIENT_HTTP)
    assert interim.startswith(b"HTTP/1.1 100 ")
    return conn


async def test_max_concurrency_counts_requests_not_open_connections(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    settings = ServeSettings(api_key=KEY, max_concurrency=2, max_connections_per_client=8)
    async with facade(tmp_path, servers, settings) as served:
        held += [await slow_connection(served.url) for _ in range(4)]  # waiting: not counted
        async with legit(served) as http:
            served_while_waiting = await http.get("/v1/models")
            held += [await in_flight(served.url) for _ in range(2)]
            busy = await http.get("/v1/models")
        held[-1][1].write(b"x" * 100)  # one body completes: that request is answered
        finished, _ = await answer(held[-1])
        held[-2][1].close()  # the other one goes away: nothing left in flight
    assert served_while_waiting.status_code == 200
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "server_busy"
    assert "maximum of 2 requests at once (max_concurrency)" in busy.json()["error"]["message"]
    assert finished == 400  # served (the body is not JSON), not refused


async def test_the_total_cap_makes_room_and_refuses_only_when_all_are_serving(
    tmp_path: Path, servers: Servers, held: list[Conn]
) -> None:
    settings = ServeSettings(api_key=KEY, max_connections=2, max_connections_per_client=8)
    async with facade(tmp_path, servers, settings) as served:
        held += [await in_flight(served.url) for _ in range(2)]  # both serving
        held.append(await slow_connection(served.url, "127.0.0.4"))
        status, body = await answer(held[-1])
        for _, writer in held[:2]:  # nothing left in flight
            writer.close()
    assert status == 503 and body["error"]["code"] == "too_many_connections"  # type: ignore[index]
    message = str(body["error"]["message"])  # type: ignore[index]
    assert "maximum of 2 connections open (max_connections)" in message
    assert "all of them are serving requests" in message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_connections_per_client": 0}, "max_connections_per_client must be"),
        ({"max_connections": 0}, "max_connections must be"),
        ({"keep_alive_timeout": 0.0}, "keep_alive_timeout must be"),
        ({"keep_alive_timeout": math.inf}, "keep_alive_timeout must be"),
        ({"header_timeout": 0.0}, "header_timeout must be"),
        ({"header_timeout": math.nan}, "header_timeout must be"),
        ({"header_timeout": 1e9}, "header_timeout must be"),
    ],
)
def test_bad_connection_limits_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ServeSettingsError, match=message):
        ServeSettings(**changes)  # type: ignore[arg-type]


def test_the_command_line_sets_the_connection_limits() -> None:
    args = parser().parse_args(
        ["--config", "x.yaml", "--max-connections", "300", "--keep-alive-timeout", "2.5"]
    )
    settings = settings_from(args, {})
    assert settings.max_connections == 300 and settings.keep_alive_timeout == 2.5
    defaults = settings_from(parser().parse_args(["--config", "x.yaml"]), {})
    assert (defaults.max_connections, defaults.keep_alive_timeout) == (1024, 5.0)


def test_the_server_raises_the_open_file_limit_to_fit_max_connections() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"the hard open-file limit ({hard}) is below what this test sets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))
    try:
        settings = ServeSettings(max_connections=1500)
        AppServer(_no_content, host="127.0.0.1", port=0, settings=settings)
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert raised >= 1500


async def _no_content(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app answering 204 (the server is only constructed here)."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
