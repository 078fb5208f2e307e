"""Opening the event log the config names: an SQLite file or a PostgreSQL database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from events import EventLog, PostgresEventLog, SqliteEventLog

if TYPE_CHECKING:
    from runtime._config import EventLogConfig

__all__ = ["is_postgres_url", "open_event_log", "open_log_target"]


def is_postgres_url(target: str) -> bool:
    """Whether ``target`` (a LOG argument, a config value) is a PostgreSQL URL."""
    return target.lower().startswith(("postgresql://", "postgres://"))


async def open_event_log(section: EventLogConfig) -> EventLog:
    """Open (creating if needed) the log of the ``event_log`` section for writing.

    ``url`` set: the PostgreSQL log (shared by every runtime with the same URL); else
    the SQLite file at ``path``, with the section's durability.
    """
    if section.url is not None:
        return await PostgresEventLog.open(section.url)
    return await SqliteEventLog.open(section.path, durability=section.durability)


async def open_log_target(target: str) -> tuple[str, EventLog]:
    """Open the LOG an admin command names (a file or a PostgreSQL URL) for writing.

    Returns how to name it in messages (a URL with its password masked) and the log.

    Raises:
        FileNotFoundError: ``target`` is a path and no file is there.
        EventLogError: The log cannot be opened.
    """
    if is_postgres_url(target):
        log = await PostgresEventLog.open(target)
        return log.url, log
    path = Path(target)
    if not await asyncio.to_thread(path.is_file):
        raise FileNotFoundError(str(path))
    return str(path), await SqliteEventLog.open(path)
