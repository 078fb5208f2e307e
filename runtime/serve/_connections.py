"""Connection limits uvicorn lacks, so that connecting is not enough to stop the facade.

uvicorn's own ``limit_concurrency`` counts every open connection, including ones that
never finish sending their headers, and has no deadline for the headers at all (its
keep-alive timer only runs *between* requests): 260 idle connections, or a slowloris
dripping header bytes, got every other client -- keyed or not -- a bare 503, since the
slots were taken before any key was read. Headers arrive before any ASGI middleware
runs, so the limits live in the HTTP protocol: ``bounded_protocol`` subclasses
uvicorn's h11 protocol with

* **a header deadline** (``header_timeout``): a connection that has not sent a whole
  request head within that many seconds of connecting (or of its previous response) is
  answered ``408 header_timeout`` and closed -- one that sends nothing at all included;
* **an idle keep-alive timeout** (``keep_alive_timeout``, uvicorn's
  ``timeout_keep_alive``): a connection idle that long after a response is closed;
* **connection caps that make room instead of refusing** (``max_connections_per_client``
  by peer IP address, ``max_connections`` in all; see ``runtime.serve._pool``): a new
  connection beyond a cap takes the place of the connection that has *waited* longest
  -- connected or idle with no request head received, i.e. not yet past auth -- from
  its own address for the per-client cap, from anyone for the total. The displaced one
  is closed (``503 too_many_connections`` naming the limit when it was sending a head,
  silently when it was idle after a response). A new connection is refused (the same
  503) only when every connection it could displace is serving a request;
* **a request cap** (``max_concurrency``): requests being served at once -- heads
  received, responses unfinished -- answered ``503 server_busy`` with ``Retry-After``
  beyond it. Open connections that wait do not count.

We chose displacing the oldest waiting connection over reserving headroom: whatever the
number of idle or slow connections, a client that sends its head promptly is admitted
(a flood would have to open ``max_connections`` new connections between its connect and
its head to displace it), and requests that passed auth are refused only by
``max_concurrency``, which unauthenticated ones hold for microseconds (the key is
checked before a body is read). The client key is the peer address, so clients behind
one reverse proxy share one cap (set ``max_connections_per_client`` to
``max_connections`` there). Request bodies are read by the app and bounded by
``max_body_bytes`` and ``request_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

import h11
import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from events import get_logger
from runtime.serve._errors import HttpError
from runtime.serve._openai import error_body
from runtime.serve._pool import ConnectionPool, Limit
from runtime.serve._responses import error_response
from runtime.serve._settings import ServeSettings

__all__ = ["bounded_protocol"]

log = get_logger(__name__)

_LINGER_S = 2.0
"""How long a refused or displaced connection is kept half-open, its input discarded,
so the client reads the 503 instead of a reset."""


_REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


def bounded_protocol(settings: ServeSettings) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``settings``' connection limits (see the module); one
    class per server: its connections share one pool."""
    pool: ConnectionPool[_Bounded] = ConnectionPool(
        per_client=settings.max_connections_per_client, total=settings.max_connections
    )
    return type("BoundedH11Protocol", (_Bounded,), {"settings": settings, "pool": pool})


class _Bounded(H11Protocol):
    settings: ClassVar[ServeSettings]
    pool: ClassVar[ConnectionPool[_Bounded]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # checked by _admit instead, with a reason
        self.timeout_keep_alive = self.settings.keep_alive_timeout  # type: ignore[assignment]
        self.refused = False
        self._partial = False  # bytes of a request head received, the head not whole
        self._deadline: asyncio.TimerHandle | None = None
        self.app = self._admit(self.app)

    # --- the connection caps, at connect --------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = _host(self.client)
        admission = self.pool.admit(self, host)
        for victim in admission.evicted:
            assert admission.by is not None
            victim._displaced(admission.by)
        if admission.refused is not None:
            log.warning("serve.connection.refused", client=host, limit=admission.refused)
            self._refuse(_too_many(admission.refused, self.settings, "refused"))
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.refused:  # a refused connection's input is discarded
            return
        if self.cycle is None or self.cycle.response_complete:
            self._partial = True  # waiting for a head: bytes of one arrived
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._partial = False
            self.pool.serving(self)  # its head arrived: never displaced while served

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.remove(self)
        self._disarm()
        super().connection_lost(exc)

    def _displaced(self, limit: Limit) -> None:
        """Close this waiting connection to make room for a newer one."""
        log.info("serve.connection.displaced", client=_host(self.client), limit=limit)
        if self.cycle is not None and not self._partial:
            self._disarm()  # idle after a response: closed as the keep-alive timer would
            self._unset_keepalive_if_required()
            self.refused = True
            with contextlib.suppress(h11.LocalProtocolError):  # already closing
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()
            return
        self._refuse(_too_many(limit, self.settings, "displaced"))

    def _refuse(self, error: HttpError) -> None:
        """Answer ``error``, stop reading, and close after a linger."""
        self.refused = True
        self._disarm()
        self._raw(error)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)

    # --- the header deadline -------------------------------------------------------------

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._partial = False
            self.pool.waiting(self)  # idle now: the newest waiting connection
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

    # --- the request cap, per request ----------------------------------------------------

    def _admit(self, app: ASGIApp) -> ASGIApp:
        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            self._disarm()
            limit = self.settings.max_concurrency
            if scope["type"] != "http" or len(self.tasks) <= limit:
                await app(scope, receive, send)
                return
            error = HttpError(
                503,
                f"the server is serving its maximum of {limit} requests at once "
                "(max_concurrency); retry shortly",
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


def _too_many(limit: Limit, settings: ServeSettings, what: str) -> HttpError:
    """503 ``too_many_connections`` for a connection ``what`` (refused or displaced)."""
    if limit == "max_connections_per_client":
        n = settings.max_connections_per_client
        cap = f"too many connections from your address (at most {n} at once: {limit})"
    else:
        n = settings.max_connections
        cap = f"the server has its maximum of {n} connections open ({limit})"
    if what == "refused":
        advice = "all of them are serving requests; reuse connections or retry shortly"
    else:
        advice = (
            "this connection had waited longest without a whole request head and was "
            "closed to make room for a newer one; send the request head at once"
        )
    return HttpError(
        503, f"{cap}; {advice}", code="too_many_connections", headers={"retry-after": "1"}
    )


def _host(client: tuple[str, int] | None) -> str | None:
    return None if client is None else client[0]
