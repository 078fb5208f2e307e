"""Issue 19: anyone who can connect could stop the facade. 1,000 idle connections and
300 slow-header ones (real sockets on 127.0.0.1) must leave room for a keyed request,
answered 200 within a second, and idle connections are closed on their timeouts.

The idle connections come from 20 loopback addresses (50 each: under the per-client
cap, so the total cap is what they hit); the slow-header ones from 127.0.0.1, the same
address as the keyed client (so the per-client cap is what they hit).
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runtime.serve import ServeSettings
from runtime.testing import ChaosServer
from tests._wait import eventually
from tests.runtime.serve._support import AUTH, KEY, PATIENT_HTTP, USER, facade

Servers = tuple[ChaosServer, ChaosServer]

IDLE = 1000
SLOW = 300
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\n"
"""An unfinished request head (no key, no blank line)."""

FDS_NEEDED = 2 * (IDLE + SLOW) + 512
"""Both ends of every connection live in this process, plus the runtime's own files."""


class Held:
    """A client connection this test opened, and a task reading it until the server
    closes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.answer: asyncio.Task[bytes] = asyncio.create_task(reader.read())
        self.opened = asyncio.get_running_loop().time()
        self.closed_at: float | None = None
        self.answer.add_done_callback(self._closed)

    def _closed(self, _: object) -> None:
        self.closed_at = asyncio.get_running_loop().time()

    @property
    def open(self) -> bool:
        return not self.answer.done()


@pytest.fixture
def fd_room() -> Iterator[None]:
    """Raise this process's soft fd limit for the connections (skip if the hard one is
    too low); restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= FDS_NEEDED:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < FDS_NEEDED:
        pytest.skip(f"needs {FDS_NEEDED} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (FDS_NEEDED, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
async def held() -> AsyncIterator[list[Held]]:
    conns: list[Held] = []
    yield conns
    for conn in conns:
        conn.writer.close()
        conn.answer.cancel()
    await asyncio.gather(*(c.answer for c in conns), return_exceptions=True)


async def connect(url: str, source: str, first: bytes = b"") -> Held:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, local_addr=(source, 0)
    )
    if first:
        writer.write(first)
        await writer.drain()
    return Held(reader, writer)


def keyed(url: str, source: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=url, headers=AUTH, timeout=PATIENT_HTTP, transport=transport)


@pytest.mark.usefixtures("fd_room")
async def test_idle_and_slow_header_connections_leave_room_for_a_keyed_request(
    tmp_path: Path, servers: Servers, held: list[Held]
) -> None:
    # long header deadline: nothing may expire while the connections are being opened
    settings = ServeSettings(api_key=KEY, header_timeout=600.0, keep_alive_timeout=600.0)
    async with facade(tmp_path, servers, settings) as served:
        for i in range(IDLE):
            held.append(await connect(served.url, f"127.0.1.{1 + i % 20}"))
        for _ in range(SLOW):
            held.append(await connect(served.url, "127.0.0.1", HEAD))
        loop = asyncio.get_running_loop()
        async with keyed(served.url, "127.0.0.1") as http, keyed(served.url, "127.0.0.2") as other:
            started = loop.time()
            chat = await http.post(
                "/v1/chat/completions", json={"model": "llama3", "messages": USER}
            )
            took = loop.time() - started
            assert chat.status_code == 200, chat.text
            models = await other.get("/v1/models")  # while the first one stays open
            # each keyed connection made room: the longest-waiting connection was closed
            evicted = IDLE + SLOW - settings.max_connections + 2
            await eventually(lambda: sum(not c.open for c in held) >= evicted)
        still_open = sum(c.open for c in held)
        slow_open = [c.open for c in held[IDLE:]]
    assert took < 1.0, f"the keyed request took {took:.2f} s"
    assert models.status_code == 200, models.text
    assert still_open == IDLE + SLOW - evicted
    # the keyed client's address kept its newest slow connections (one made way for it)
    assert sum(slow_open) == settings.max_connections_per_client - 1
    assert all(slow_open[-(settings.max_connections_per_client - 1) :])
    answer = held[IDLE].answer.result()
    assert b" 503 " in answer.split(b"\r\n")[0] and b"too_many_connections" in answer


@pytest.mark.usefixtures("fd_room")
async def test_idle_connections_are_closed_within_their_timeouts(
    tmp_path: Path, servers: Servers, held: list[Held]
) -> None:
    # short timeouts are the point here; the wait for the closes is generous
    settings = ServeSettings(api_key=KEY, header_timeout=1.0, keep_alive_timeout=1.0)
    request = f"GET /v1/models HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    async with facade(tmp_path, servers, settings) as served:
        for i in range(IDLE):  # connect and send nothing at all
            held.append(await connect(served.url, f"127.0.1.{1 + i % 20}"))
        kept = [await connect(served.url, "127.0.0.2", request.encode()) for _ in range(20)]
        held += kept
        await eventually(lambda: not any(c.open for c in held), within=120.0)
    lifetimes = [c.closed_at - c.opened for c in held if c.closed_at is not None]
    assert len(lifetimes) == len(held)
    assert min(lifetimes) >= 0.9  # not before their timeout...
    assert max(lifetimes) < 30.0  # ...and soon after it (generous: a busy machine)
    for conn in held[:IDLE]:
        assert b"header_timeout" in conn.answer.result()
    for conn in kept:  # one response, then closed when idle (keep_alive_timeout)
        answer = conn.answer.result()
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1


async def test_keep_alive_timeout_closes_an_idle_connection_before_the_header_deadline(
    tmp_path: Path, servers: Servers, held: list[Held]
) -> None:
    settings = ServeSettings(api_key=KEY, header_timeout=600.0, keep_alive_timeout=1.0)
    request = f"GET /v1/models HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    async with facade(tmp_path, servers, settings) as served:
        held.append(await connect(served.url, "127.0.0.2", request.encode()))
        await eventually(lambda: not held[0].open, within=60.0)
    closed_at = held[0].closed_at
    assert closed_at is not None and closed_at - held[0].opened >= 0.9
    assert held[0].answer.result().startswith(b"HTTP/1.1 200 ")
