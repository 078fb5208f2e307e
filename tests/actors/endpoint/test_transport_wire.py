"""Byte-level faults and TLS, on both HTTP transports (aiohttp's pool and httpx's).

A hand-written server on 127.0.0.1 sends exactly the bytes under test (a body cut off
by a clean close, broken chunked framing, a header too long, a self-signed
certificate); each case must come out as the same failure class on both transports,
and never as a connect timeout.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import ipaddress
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from actors.endpoint import BackendError, FailureClass
from tests.actors.endpoint._endpoint import Endpoint, Http

Respond = Callable[[asyncio.StreamWriter], Awaitable[None]]
MODELS = b'{"object": "list", "data": [{"id": "m1", "object": "model"}]}'


def _head(*lines: str) -> bytes:
    return ("\r\n".join(("HTTP/1.1 200 OK", *lines)) + "\r\n\r\n").encode()


async def _serve(respond: Respond, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # GET requests: no body
                await respond(writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away (or refused the certificate)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(respond: Respond, tls: ssl.SSLContext | None = None) -> str:
        server = await _serve(respond, tls)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _list_models(url: str, http: Http, *, verify_tls: bool = True) -> tuple[str, ...]:
    client = Endpoint(name="raw", url=url, api="openai", http=http, verify_tls=verify_tls)
    try:
        return await client.list_models()
    finally:
        await client.aclose()


async def _failure(url: str, http: Http) -> BackendError:
    with pytest.raises(BackendError) as info:
        await _list_models(url, http)
    assert not isinstance(info.value.__cause__, httpx.ConnectTimeout)
    return info.value


async def test_a_good_reply_with_a_long_header_is_read(
    http: Http, serve: Callable[..., Awaitable[str]]
) -> None:
    # Proxies in front of LLM backends send long headers; 32 KiB is within both limits.
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(_head("X-Trace: " + "t" * 32_000, f"Content-Length: {len(MODELS)}"))
        writer.write(MODELS)

    assert await _list_models(await serve(respond), http) == ("m1",)


@pytest.mark.parametrize(
    "reply",
    [
        _head("Content-Length: 1000") + MODELS[:20],  # then a clean close (FIN)
        _head("Transfer-Encoding: chunked") + b"zz\r\nbroken\r\n",
        _head("X-Huge: " + "h" * 200_000, "Content-Length: 2") + b"{}",
        b"",  # the request is read, then the connection closed without an answer
    ],
    ids=["body-cut-by-close", "broken-chunked", "header-too-long", "closed-before-reply"],
)
async def test_broken_reply_is_a_connection_failure(
    reply: bytes, http: Http, serve: Callable[..., Awaitable[str]]
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(reply)
        await writer.drain()
        writer.close()

    err = await _failure(await serve(respond), http)
    assert err.failure is FailureClass.CONNECTION and err.retryable, err.message
    assert isinstance(err.__cause__, httpx.ReadError | httpx.RemoteProtocolError)


async def test_reset_mid_body_is_a_connection_failure(
    http: Http, serve: Callable[..., Awaitable[str]]
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(_head("Content-Length: 1000") + MODELS[:20])
        await writer.drain()
        writer.transport.abort()  # RST

    err = await _failure(await serve(respond), http)
    assert err.failure is FailureClass.CONNECTION and err.retryable, err.message


# --- TLS ------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_self_signed_server_needs_verify_tls_off(
    http: Http, serve: Callable[..., Awaitable[str]], tmp_path: Path
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(f"Content-Length: {len(MODELS)}") + MODELS)

    url = await serve(respond, _self_signed(tmp_path))
    assert await _list_models(url, http, verify_tls=False) == ("m1",)
    with pytest.raises(BackendError) as info:
        await _list_models(url, http)  # verify_tls=True: the certificate is refused
    assert info.value.failure is FailureClass.CONNECTION
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_aclose_leaves_no_unclosed_session(
    http: Http, serve: Callable[..., Awaitable[str]]
) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(f"Content-Length: {len(MODELS)}") + MODELS)

    url = await serve(respond)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await _list_models(url, http) == ("m1",)  # opens, then closes, the pool
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], caught
