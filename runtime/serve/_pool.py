"""``ConnectionPool``: the facade's open connections, by client address, and which of
them are waiting (not serving a request), oldest first. No I/O: it decides, the
protocol in ``runtime.serve._connections`` closes.

A connection is *waiting* from the moment it connects until its request head has
arrived, and again from the end of each response until the next head arrives (idle
keep-alive); it is *serving* while a request is being answered. Only waiting
connections are ever chosen to make room: one that is serving is never closed here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

__all__ = ["Admission", "ConnectionPool"]

C = TypeVar("C", bound=Hashable)

Limit = Literal["max_connections_per_client", "max_connections"]


@dataclass(frozen=True)
class Admission(Generic[C]):
    """What ``ConnectionPool.admit`` decided for a new connection."""

    refused: Limit | None = None
    """The limit the new connection was refused by (every connection it would have
    displaced is serving a request); None: admitted."""
    evicted: tuple[C, ...] = ()
    """Waiting connections removed to make room for it (close them)."""
    by: Limit | None = None
    """The limit that made room necessary (None when nothing was evicted)."""


@dataclass
class ConnectionPool(Generic[C]):
    """Connections open at once: at most ``per_client`` from one address and ``total``
    in all. A new connection beyond a cap takes the place of the connection that has
    been waiting longest (from its own address for the per-client cap, from anyone for
    the total); it is refused only when none is waiting."""

    per_client: int
    total: int
    _host: dict[C, str | None] = field(default_factory=dict, repr=False)
    _by_host: dict[str, dict[C, None]] = field(default_factory=dict, repr=False)
    _waiting: dict[C, None] = field(default_factory=dict, repr=False)
    _waiting_by_host: dict[str, dict[C, None]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self._host)

    def waiting_count(self) -> int:
        """Connections open and not serving a request."""
        return len(self._waiting)

    def admit(self, conn: C, host: str | None) -> Admission[C]:
        """Add ``conn`` (from ``host``; None: unknown) as waiting, making room first."""
        evicted: list[C] = []
        by: Limit | None = None
        if host is not None and len(self._by_host.get(host, ())) >= self.per_client:
            victim = _oldest(self._waiting_by_host.get(host, {}))
            if victim is None:
                return Admission(refused="max_connections_per_client")
            self.remove(victim)
            evicted.append(victim)
            by = "max_connections_per_client"
        if len(self._host) >= self.total:
            victim = _oldest(self._waiting)
            if victim is None:
                return Admission(refused="max_connections")
            self.remove(victim)
            evicted.append(victim)
            by = "max_connections"
        self._host[conn] = host
        if host is not None:
            self._by_host.setdefault(host, {})[conn] = None
        self.waiting(conn)
        return Admission(evicted=tuple(evicted), by=by)

    def serving(self, conn: C) -> None:
        """``conn``'s request head arrived: it cannot be evicted until it waits again."""
        self._waiting.pop(conn, None)
        host = self._host.get(conn)
        if host is not None:
            _discard(self._waiting_by_host, host, conn)

    def waiting(self, conn: C) -> None:
        """``conn`` has no request being served (again): the newest waiting one."""
        if conn not in self._host:
            return
        self.serving(conn)  # re-insert at the end: waiting since now
        self._waiting[conn] = None
        host = self._host[conn]
        if host is not None:
            self._waiting_by_host.setdefault(host, {})[conn] = None

    def remove(self, conn: C) -> None:
        """``conn`` is gone (closed, evicted); no-op if it is not here."""
        if conn not in self._host:
            return
        self.serving(conn)
        host = self._host.pop(conn)
        if host is not None:
            _discard(self._by_host, host, conn)


def _oldest(conns: dict[C, None]) -> C | None:
    return next(iter(conns), None)


def _discard(index: dict[str, dict[C, None]], host: str, conn: C) -> None:
    conns = index.get(host)
    if conns is None:
        return
    conns.pop(conn, None)
    if not conns:
        del index[host]
