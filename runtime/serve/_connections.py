"""Connection limits uvicorn lacks: per client, slow headers, and 503s that say why.

uvicorn's own ``limit_concurrency`` counts every open connection, including ones that
never finish sending their headers, and has no deadline for the headers at all (its
keep-alive timer only runs *between* requests): a slowloris client that opens
``max_concurrency`` connections and drips a header byte now and then gets every other
client a bare "Service Unavailable". Headers arrive before any ASGI middleware runs,
so the fix has to live in the HTTP protocol: ``bounded_protocol`` subclasses uvicorn's
h11 protocol with

* **a per-client cap** (``max_connections_per_client``, by peer IP address): a
  connection beyond it is answered ``503 too_many_connections`` at once, before its
  request is read, and closed; it never counts against anyone's limits;
* **a header deadline** (``header_timeout``): a connection that has not sent a whole
  request head within that many seconds of connecting (or of its previous response)
  is answered ``408 header_timeout`` and closed;
* **the overall cap** (``max_concurrency``): counted over admitted connections and
  requests, answered ``503 server_busy`` with a ``Retry-After``.

The client key is the peer address, so clients behind one reverse proxy share one
cap (set ``max_connections_per_client`` to ``max_concurrency`` there). Request bodies
are read by the app and bounded by ``max_body_bytes`` and ``request_timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from events import get_logger
from runtime.serve._errors import HttpError
from runtime.serve._openai import error_body
from runtime.serve._responses import error_response
from runtime.serve._settings import ServeSettings

__all__ = ["bounded_protocol"]

log = get_logger(__name__)

_LINGER_S = 2.0
"""How long a refused connection is kept half-open, its input discarded, so the client
reads the 503 instead of a reset."""


_REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


def bounded_protocol(settings: ServeSettings) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``settings``' connection limits (see the module)."""
    return type("BoundedH11Protocol", (_Bounded,), {"settings": settings})


class _Bounded(H11Protocol):
    settings: ClassVar[ServeSettings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # checked by _admit instead, with a reason
        self.refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self.app = self._admit(self.app)

    # --- per client, at connect ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.settings.max_connections_per_client
        if self.client is not None and _admitted(self.connections, self.client[0]) > cap:
            self.refused = True
            log.warning("serve.connection.refused", client=self.client[0], limit=cap)
            self._raw(
                HttpError(
                    503,
                    f"too many connections from your address (at most {cap} at once: "
                    "max_connections_per_client); reuse connections or wait for yours "
                    "to finish",
                    code="too_many_connections",
                    headers={"retry-after": "1"},
                )
            )
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(_LINGER_S, transport.close)
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self.refused:  # a refused connection's input is discarded
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- the header deadline -------------------------------------------------------------

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head has the same deadline

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.settings.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or (self.cycle and not self.cycle.response_complete):
            return  # closed already, or a request is being served (its head arrived)
        seconds = self.settings.header_timeout
        log.warning("serve.connection.header_timeout", client=_host(self.client), seconds=seconds)
        self._raw(
            HttpError(
                408,
                f"the request's headers did not arrive within {seconds:g} s (header_timeout); "
                "send the whole request head at once",
                code="header_timeout",
            )
        )
        self.transport.close()

    # --- the overall cap, per request ----------------------------------------------------

    def _admit(self, app: ASGIApp) -> ASGIApp:
        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            self._disarm()
            limit = self.settings.max_concurrency
            busy = _admitted(self.connections, None) > limit or len(self.tasks) > limit
            if scope["type"] != "http" or not busy:
                await app(scope, receive, send)
                return
            error = HttpError(
                503,
                f"the server is serving its maximum of {limit} connections and requests "
                "at once (max_concurrency); retry shortly",
                code="server_busy",
                headers={"retry-after": "1", "connection": "close"},
            )
            await error_response(scope["path"], error)(scope, receive, send)

        return admitted

    def _raw(self, error: HttpError) -> None:
        """Write ``error`` as a whole HTTP/1.1 response, outside h11 (no request yet)."""
        body = msgspec.json.encode(error_body(error))
        head = [
            f"HTTP/1.1 {error.status} {_REASONS[error.status]}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
            *(f"{k}: {v}" for k, v in error.headers.items()),
        ]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _admitted(connections: set[Any], host: str | None) -> int:
    """Open connections not refused, from ``host`` (None: from anyone)."""
    return sum(
        1
        for c in connections
        if not getattr(c, "refused", False)
        and (host is None or (c.client is not None and c.client[0] == host))
    )


def _host(client: tuple[str, int] | None) -> str | None:
    return None if client is None else client[0]
