"""Running the app with uvicorn in this event loop: start, learn the URL, stop.

``uvicorn.Server.serve`` installs its own SIGINT/SIGTERM handlers and re-raises the
signal after shutting down, which would kill the process before the Runtime is
closed; ``AppServer`` leaves signals to its caller (the CLI sets ``should_exit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Generator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from events import LLMRuntimeError, get_logger
from runtime.serve._connections import bounded_protocol
from runtime.serve._settings import ServeSettings

__all__ = ["AppServer", "ServerStartError"]

log = get_logger(__name__)

_FD_SPARE = 256
"""Open files kept beside ``max_connections``: the log, backends' connections, the
listening socket, connections lingering after a 503."""


class ServerStartError(LLMRuntimeError, RuntimeError):
    """The server could not start listening (address in use, not permitted...)."""


class AppServer(uvicorn.Server):
    """uvicorn's server, with a start-up event and no signal handling of its own."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        settings: ServeSettings | None = None,
        **options: Any,
    ) -> None:
        """Configure (nothing runs yet).

        Args:
            app: The ASGI app.
            host: Address to listen on (validated by ``ServeSettings``).
            port: TCP port; 0 picks a free one (see ``url`` once started).
            settings: Whose connection limits to enforce (``max_concurrency``,
                ``max_connections``, ``max_connections_per_client``, ``header_timeout``,
                ``keep_alive_timeout``; see ``runtime.serve._connections``); None:
                uvicorn's defaults (no limits). With settings, WebSocket upgrades are
                not offered (no route uses them; an upgraded connection would escape
                the limits) and the open-file limit is raised to fit ``max_connections``.
            options: More ``uvicorn.Config`` options (``timeout_graceful_shutdown``...).
        """
        if settings is not None:
            options["http"] = bounded_protocol(settings)
            options.setdefault("ws", "none")
            _fd_room(settings.max_connections)
        # log_config=None: the process's own logging set-up applies (uvicorn's would
        # replace it). access_log=False is left to the CLI: uvicorn applies it to the
        # process-wide "uvicorn.access" logger, which an embedding process may use.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            lifespan="on",
            server_header=False,
            **options,
        )
        super().__init__(config)
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, then wake ``start``; a failed start-up stops the server
        instead of exiting the process (uvicorn calls ``sys.exit`` there)."""
        try:
            await super().startup(sockets)
        except SystemExit:
            self.should_exit = True
            return
        self._ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """No signal handling here: the owner of the process decides (see module)."""
        yield

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (valid after ``start``)."""
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> str:
        """Bind, start serving in a background task; return the URL once listening.

        Raises:
            ServerStartError: The address could not be bound, or the app's start-up
                failed (uvicorn logged why).
        """
        host, port = self.config.host, self.config.port
        try:
            sock = _bind(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ServerStartError(f"could not listen on {host}:{port}: {reason}") from None
        self._task = asyncio.create_task(self.serve(sockets=[sock]))
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait((self._task, ready), return_when=asyncio.FIRST_COMPLETED)
        if not self._ready.is_set():
            ready.cancel()
            sock.close()
            await asyncio.wait((ready, self._task))
            raise ServerStartError(f"the app failed to start on {host}:{port}; see the log")
        return self.url

    async def wait(self) -> None:
        """Until the server has stopped (after ``should_exit`` or ``stop``)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop accepting, let in-flight responses finish (bounded), and wait."""
        self.should_exit = True
        await self.wait()


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host is)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    # asyncio only disables Nagle on sockets created with proto=IPPROTO_TCP, which this
    # one is not; accepted sockets inherit the option, so set it here (else every
    # keep-alive response waits ~40 ms for a delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _fd_room(connections: int) -> None:
    """Raise the soft open-file limit (up to the hard one) to hold ``connections``: at
    the limit, accepting fails and asyncio stops accepting for a second, which would
    refuse everyone. Logs a warning when the hard limit is too low."""
    if sys.platform == "win32":
        return
    import resource

    wanted = connections + _FD_SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        log.info("serve.fd_limit.raised", before=soft, after=target)
    if target < wanted:
        log.warning(
            "serve.fd_limit.low",
            limit=target,
            max_connections=connections,
            hint=f"raise the hard open-file limit (ulimit -Hn) to {wanted} or lower "
            "max_connections",
        )
