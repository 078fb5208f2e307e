"""The ``postgres`` backend of the contract suites: ``PostgresEventLog`` on a test database.

``Backend.open`` calls ``open_postgres`` with ``backend.dsn``, a fresh database on the
session's throw-away cluster (``tests._postgres``). ``make_full`` makes the database
refuse further appends the way a full disk does (SQLSTATE 53100, ``disk_full``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from events._codec import EventRegistry

__all__ = ["BackendName", "make_full", "open_postgres", "open_postgres_at"]


class BackendName(str):
    """A backend's name that also carries the PostgreSQL URL (``dsn``) when it has one."""

    dsn: str | None = None

    @classmethod
    def of(cls, name: str, dsn: str | None) -> BackendName:
        named = cls(name)
        named.dsn = dsn
        return named


async def open_postgres(backend: Any, registry: EventRegistry, now: Callable[[], float]) -> Any:
    """A ``PostgresEventLog`` on ``backend.dsn``."""
    return await open_postgres_at(backend.dsn, registry=registry, now=now)


async def open_postgres_at(dsn: str | None, **options: Any) -> Any:
    """A ``PostgresEventLog`` on ``dsn`` with the given ``open`` options."""
    from events._postgres import PostgresEventLog

    assert dsn is not None, "the postgres backend needs the postgres_dsn fixture"
    return await PostgresEventLog.open(dsn, **options)


_FULL = """
CREATE OR REPLACE FUNCTION llmrt_test_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'could not extend file: No space left on device'
        USING ERRCODE = 'disk_full';
END $$;
CREATE TRIGGER llmrt_test_full BEFORE INSERT ON llmrt_events
    FOR EACH STATEMENT EXECUTE FUNCTION llmrt_test_full();
"""


async def make_full(dsn: str) -> None:
    """From now on, every insert into the log fails as on a full disk (53100)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_FULL)
    finally:
        await conn.close()
