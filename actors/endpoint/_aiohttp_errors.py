"""aiohttp's exceptions as the httpx exceptions httpx's transport raises for the same
fault, so the endpoint classifies a failure the same way on either transport.

========================================  ==========================  ==================
aiohttp                                   httpx                       class (``_translate``)
========================================  ==========================  ==================
``ConnectionTimeoutError`` (sock_connect)  ``ConnectTimeout``          timeout_connect
``ServerTimeoutError`` (a read timer)      ``ReadTimeout``             the read's deadline
``ClientConnectorError`` (refused, DNS,    ``ConnectError``            connection
TLS handshake, certificate)
``ServerDisconnectedError``                ``RemoteProtocolError``     connection
``ClientPayloadError`` (body cut short,    ``ReadError`` (reset) or    connection
broken chunked framing)                    ``RemoteProtocolError``
``ClientConnectionResetError`` (writing)   ``WriteError``              connection
``ClientOSError``, other ``OSError``       ``ReadError``               connection
``ClientResponseError`` (a malformed       ``RemoteProtocolError``     connection
status line or header, one too long)
``InvalidURL``, ``NonHttpUrlClientError``  ``UnsupportedProtocol``     unknown
any other ``ClientError``                  ``TransportError``          unknown
========================================  ==========================  ==================

The httpx reference is httpcore over asyncio streams: a reset mid-body is its
``ReadError``, a server that closes before the response is complete its
``RemoteProtocolError``. Unlike httpx-aiohttp's map, a connection lost after it was
opened is never reported as a connect timeout.
"""

from __future__ import annotations

import aiohttp
import httpx

__all__ = ["httpx_error"]


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for ``exc`` (raised by aiohttp or its socket), see the table."""
    kind = _kind(exc)
    return kind(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, request=request)


def _kind(exc: BaseException) -> type[httpx.TransportError]:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return httpx.ReadTimeout
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError
    if isinstance(exc, aiohttp.ClientPayloadError):
        reset = isinstance(exc.__cause__, OSError) or isinstance(exc.__context__, OSError)
        return httpx.ReadError if reset else httpx.RemoteProtocolError
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return httpx.WriteError
    if isinstance(exc, OSError | aiohttp.ClientConnectionError):
        return httpx.ReadError
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol
    return httpx.TransportError
