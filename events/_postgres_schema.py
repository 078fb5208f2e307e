"""The PostgreSQL event log's tables, opening, validation and error translation.

Tables (all prefixed ``llmrt_`` so the log can share a database with an application):
``llmrt_events`` (one row per event), ``llmrt_snapshots``, ``llmrt_stream_floors``
(the versions of streams whose events were compacted away) and ``llmrt_meta`` (schema
version, format, compaction marks). They are created on the first writable open, under
an advisory lock so that several processes starting at once create them exactly once.

asyncpg is imported lazily (``load_asyncpg``): ``events`` imports without it, and a log
opened without it says which extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from events._errors import (
    EventLogError,
    InvalidLogFile,
    LogFromNewerVersion,
    StorageFull,
    StorageUnavailable,
)
from events._secrets import register_secret

__all__ = [
    "CHANNEL",
    "COMMIT_LOCK",
    "SCHEMA_VERSION",
    "load_asyncpg",
    "mask_url",
    "remember_password",
    "prepare",
    "translate",
]

SCHEMA_VERSION = 1
"""``llmrt_meta.schema_version`` this release writes; a larger one is a newer release's."""

COMMIT_LOCK = 0x4C4C4D52_45564C47 & 0x7FFF_FFFF_FFFF_FFFF
"""``pg_advisory_xact_lock`` key every committing transaction takes first (ASCII
``LLMREVLG``): one commit at a time, so positions are handed out in commit order."""

_SCHEMA_LOCK = COMMIT_LOCK - 1
"""Taken while creating the tables (several processes may open a new log at once)."""

_META_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'llmrt_meta' AND n.nspname = current_schema())"
)
"""Whether the tables exist, read from the catalog with this statement's snapshot.
``to_regclass`` is not enough under the schema lock: it answers from the session's
catalog cache, which still remembers "no such table" from before the lock was granted
(an advisory lock does not refresh it), so a waiter would create the tables again."""

CHANNEL = "llmrt_events"
"""The ``NOTIFY`` channel: every commit announces its last position on it."""

_DDL = """
CREATE TABLE IF NOT EXISTS llmrt_meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS llmrt_events (
    position bigint PRIMARY KEY,
    stream text COLLATE "C" NOT NULL,
    stream_version bigint NOT NULL,
    timestamp double precision NOT NULL,
    type text COLLATE "C" NOT NULL,
    schema_version integer NOT NULL,
    idempotency_key text COLLATE "C",
    payload bytea NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS llmrt_events_idempotency_key ON llmrt_events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS llmrt_events_type_position ON llmrt_events (type, position);
CREATE TABLE IF NOT EXISTS llmrt_snapshots (
    name text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    created double precision NOT NULL,
    state bytea NOT NULL,
    PRIMARY KEY (name, position)
);
CREATE TABLE IF NOT EXISTS llmrt_stream_floors (
    stream text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL
)
"""

_INSTALL_HINT = (
    "the PostgreSQL event log needs asyncpg; install it with "
    "`pip install 'llm-reliability-runtime[postgres]'`"
)


def load_asyncpg() -> Any:
    """The asyncpg module; ``EventLogError`` saying what to install if it is missing."""
    try:
        return importlib.import_module("asyncpg")
    except ImportError as exc:
        raise EventLogError(_INSTALL_HINT) from exc


def remember_password(url: str) -> None:
    """Register the URL's password as a secret: every log sink redacts it by value."""
    try:
        parts = urlsplit(url)
        register_secret(parts.password, user=parts.username)
    except ValueError:
        return


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and error messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "postgresql://(unparsable URL)"


async def prepare(conn: Any, url: str, *, create: bool) -> None:
    """Validate the log's tables, creating them first when ``create`` and missing."""
    exists = await conn.fetchval("SELECT to_regclass('llmrt_meta') IS NOT NULL")
    if not exists:
        if not create:
            raise InvalidLogFile(
                f"{mask_url(url)} holds no event log (no llmrt_meta table); open it for "
                "writing once (PostgresEventLog.open) to create the log"
            )
        # Check and create under a transaction-scoped lock: of several processes opening
        # a new database at once, one creates the tables and the others then find them
        # (the DDL's IF NOT EXISTS and ON CONFLICT keep a repeat harmless regardless).
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            if not await conn.fetchval(_META_EXISTS):
                await conn.execute(_DDL)
                await conn.execute(
                    "INSERT INTO llmrt_meta (key, value) VALUES ('schema_version', $1), "
                    "('format', 'events.PostgresEventLog') ON CONFLICT (key) DO NOTHING",
                    str(SCHEMA_VERSION),
                )
    rows = await conn.fetch("SELECT key, value FROM llmrt_meta")
    meta = {row[0]: row[1] for row in rows}
    version = meta.get("schema_version", "")
    if not version.isdigit():
        raise InvalidLogFile(
            f"{mask_url(url)} has an llmrt_meta table without a schema version; it is not "
            "an event log this package wrote (or it is damaged): restore it from a backup"
        )
    if int(version) > SCHEMA_VERSION:
        raise LogFromNewerVersion(
            f"{mask_url(url)} has log schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this release reads; upgrade this package to open it"
        )


def translate(exc: BaseException, url: str, doing: str) -> EventLogError:
    """Map an asyncpg or socket error to our error tree, with what to check."""
    where = mask_url(url)
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    detail = _redact(str(exc), url) or type(exc).__name__
    if sqlstate == "53100" or sqlstate.startswith("53"):
        return StorageFull(
            f"the PostgreSQL event log {where} is out of space or resources ({detail}); "
            f"nothing of this {doing} was written. Free disk space on the server and retry"
        )
    if sqlstate in ("28P01", "28000"):
        return StorageUnavailable(
            f"PostgreSQL refused the login for the event log {where} ({detail}); check the "
            "user and password in event_log.url and the server's pg_hba.conf"
        )
    if sqlstate == "3D000":
        return StorageUnavailable(
            f"the database of the event log {where} does not exist ({detail}); create it "
            "(createdb) or fix the database name in event_log.url"
        )
    if sqlstate == "42501":
        return StorageUnavailable(
            f"the PostgreSQL user lacks a privilege for the event log {where} ({detail}); "
            "grant it CREATE on the schema (first open) and SELECT/INSERT/DELETE on llmrt_*"
        )
    if sqlstate == "25006":
        return StorageUnavailable(
            f"the event log {where} is on a read-only server or transaction ({detail}); "
            "point event_log.url at the primary"
        )
    lost = type(exc).__name__ in ("InterfaceError", "ConnectionDoesNotExistError")
    if lost or isinstance(exc, OSError | TimeoutError) or sqlstate.startswith("08"):
        return StorageUnavailable(
            f"cannot reach the PostgreSQL event log at {where} ({detail}) during {doing}; "
            "check that the server runs and listens on that host and port "
            "(listen_addresses, firewall) and that pg_hba.conf admits this client"
        )
    return StorageUnavailable(f"the PostgreSQL event log {where}: {doing} failed: {detail}")


def _redact(text: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
