"""Connections of the PostgreSQL event log: opening them, and the read pool.

Every driver or socket error that leaves here is one of ours (``guard``), with the URL's
password masked and a hint of what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from events._base import StoredEvent
from events._codec import EventRegistry
from events._errors import EventLogClosed, EventLogError
from events._logger import get_logger
from events._postgres_plan import decode
from events._postgres_read import PgFilter
from events._postgres_schema import CHANNEL, load_asyncpg, mask_url, prepare, translate
from events._postgres_write import LAST_POSITION
from events._read_filter import Pages

__all__ = [
    "CONNECT_TIMEOUT",
    "Listener",
    "Reader",
    "connect",
    "create_pool",
    "finish",
    "guard",
    "open_writer",
]

log = get_logger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 10.0
"""Seconds to connect (or to get a pooled connection) before ``StorageUnavailable``."""

_SNAPSHOT_SAVE = (
    "INSERT INTO llmrt_snapshots (name, position, created, state) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (name, position) DO UPDATE SET created = excluded.created, state = excluded.state"
)
_SNAPSHOT_LOAD = (
    "SELECT position, state FROM llmrt_snapshots WHERE name = $1 AND position <= $2 "
    "ORDER BY position DESC LIMIT 1"
)


async def guard(awaitable: Awaitable[T], url: str, doing: str) -> T:
    """Await ``awaitable``, translating driver and socket errors into ours."""
    try:
        return await awaitable
    except (EventLogError, ValueError):
        raise
    except (OSError, TimeoutError) as exc:
        raise translate(exc, url, doing) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("asyncpg"):
            raise translate(exc, url, doing) from exc
        raise


async def connect(url: str) -> Any:
    """One connection (the writer's, the LISTEN one)."""
    asyncpg = load_asyncpg()
    return await guard(asyncpg.connect(url, timeout=CONNECT_TIMEOUT), url, "connect")


async def create_pool(url: str, size: int, *, readonly: bool) -> Any:
    """The read pool; ``readonly``: every session is read-only (the server refuses writes)."""
    asyncpg = load_asyncpg()
    settings = {"default_transaction_read_only": "on"} if readonly else None
    pool = asyncpg.create_pool(
        url, min_size=1, max_size=size, timeout=CONNECT_TIMEOUT, server_settings=settings
    )
    return await guard(pool, url, "connect")


async def finish(task: asyncio.Task[None]) -> None:
    """Let the writer flush; cancel it if it has not finished in a minute (server away)."""
    done, _ = await asyncio.wait([task], timeout=60)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Reader:
    """Reads on pooled connections, one page (or one statement) at a time."""

    def __init__(self, url: str, pool: Any, registry: EventRegistry) -> None:
        self.unknown = 0
        """Events handed out as ``UnknownEvent`` by reads."""
        self.closed = False
        self._url = url
        self._pool = pool
        self._registry = registry

    @contextlib.asynccontextmanager
    async def acquire(self, doing: str) -> AsyncIterator[Any]:
        """A pooled connection for one statement or transaction."""
        if self.closed:
            raise EventLogClosed(f"event log {mask_url(self._url)} is closed")
        conn = await guard(self._pool.acquire(timeout=CONNECT_TIMEOUT), self._url, doing)
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    async def run(self, doing: str, work: Callable[[Any], Awaitable[T]]) -> T:
        """``work(connection)`` on a pooled connection, errors translated."""
        async with self.acquire(doing) as conn:
            return await guard(work(conn), self._url, doing)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of one query."""
        rows: list[Any] = await self.run("read", lambda conn: conn.fetch(sql, *params))
        return rows

    async def fetchval(self, sql: str, *params: Any) -> Any:
        """The first column of the first row of one query."""
        return await self.run("read", lambda conn: conn.fetchval(sql, *params))

    async def events(
        self, from_position: int, where: PgFilter, limit: int | None
    ) -> AsyncGenerator[StoredEvent, None]:
        """Matching events in order, fetched in keyset pages of ``PAGE_SIZE``."""
        pages = Pages(from_position, limit)
        while size := pages.size():
            rows = await self.fetch(*where.query(pages.after, pages.after_version, size))
            before = self._registry.unknown_count
            page = decode(rows, self._registry)
            self.unknown += self._registry.unknown_count - before
            for event in page:
                yield event
            if not pages.advance(rows):
                return

    async def save_snapshot(self, name: str, position: int, created: float, state: bytes) -> None:
        """Store (or replace) a snapshot row."""
        await self.run(
            "save a snapshot",
            lambda conn: conn.execute(_SNAPSHOT_SAVE, name, position, created, state),
        )

    async def load_snapshot(self, name: str, at_or_before: int | None) -> tuple[int, bytes] | None:
        """The latest snapshot of ``name`` at or before a position, if any."""
        bound = at_or_before if at_or_before is not None else 2**63 - 1
        rows = await self.fetch(_SNAPSHOT_LOAD, [name, bound])
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def close(self) -> None:
        """Close the pool (bounded: a server that went away does not hang the close)."""
        self.closed = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT)


class Listener:
    """The LISTEN connection: calls ``on_notify(payload)`` for every commit's NOTIFY.

    Losing it costs only latency (the fallback poll still finds other writers' commits);
    ``ensure()`` opens it again.
    """

    def __init__(self, url: str, on_notify: Callable[[str], None]) -> None:
        self._url = url
        self._on_notify = on_notify
        self._conn: Any = None
        self._closed = False

    async def ensure(self) -> None:
        """Open (or re-open) the connection and LISTEN; a failure is logged, not raised."""
        if self._closed or (self._conn is not None and not self._conn.is_closed()):
            return
        try:
            conn = await connect(self._url)
            await conn.add_listener(CHANNEL, self._notified)
        except Exception as exc:
            log.warning("eventlog.listen.failed", url=mask_url(self._url), error=str(exc))
            return
        self._conn = conn

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._on_notify(payload)

    def close(self) -> None:
        """Drop the connection (the server ends the LISTEN)."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()


async def open_writer(url: str) -> tuple[Any, int]:
    """The writer connection, with the tables created or checked; the last position."""
    conn = await connect(url)
    try:
        await guard(prepare(conn, url, create=True), url, "open")
        last = int(await guard(conn.fetchval(LAST_POSITION), url, "open"))
    except BaseException:
        await conn.close()
        raise
    return conn, last
