"""Checks of the ``event_log`` section's storage: an SQLite ``path`` or a PostgreSQL ``url``.

A problem names its key path and never shows the URL's password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from events._postgres_schema import mask_url
from runtime._config_rules import event_log_path_problem
from runtime._errors import ConfigProblem

if TYPE_CHECKING:
    from runtime._config import EventLogConfig

__all__ = ["DEFAULT_LOG_PATH", "POSTGRES_SCHEMES", "event_log_problems"]

DEFAULT_LOG_PATH = "runtime-events.sqlite3"
"""``event_log.path`` when the config names none (must match ``EventLogConfig.path``)."""

POSTGRES_SCHEMES = ("postgresql", "postgres")

_EXAMPLE = "postgresql://user:password@host:5432/database"


def event_log_problems(section: EventLogConfig) -> list[ConfigProblem]:
    """What is wrong with where ``section`` keeps the log (path or url)."""
    if section.url is None:
        problem = event_log_path_problem(section.path)
        return [] if problem is None else [ConfigProblem("event_log.path", problem)]
    problems = []
    if section.path != DEFAULT_LOG_PATH:
        problems.append(
            ConfigProblem(
                "event_log.url",
                f"event_log.url and event_log.path ({section.path!r}) are both set; the log "
                "lives in one place: keep event_log.url (PostgreSQL) or event_log.path "
                "(SQLite), not both",
            )
        )
    problem = url_problem(section.url)
    if problem is not None:
        problems.append(ConfigProblem("event_log.url", problem))
    return problems


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a PostgreSQL event log, or None (never shows a password)."""
    shown = mask_url(url)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return f"{shown!r} contains spaces or control characters; write the URL as {_EXAMPLE}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{shown!r} is not a valid URL ({exc}); write it as {_EXAMPLE}"
    scheme = parts.scheme.lower()
    if scheme not in POSTGRES_SCHEMES:
        named = f"scheme {scheme!r}" if scheme else "no scheme"
        return (
            f"{shown!r} has {named}; the event log URL must be a PostgreSQL URL "
            f"({_EXAMPLE}); for an SQLite file use event_log.path"
        )
    if not parts.hostname:
        return f"{shown!r} names no host; write it as {_EXAMPLE}"
    if port == 0:
        return f"{shown!r} has port 0; use the server's port (PostgreSQL's default: 5432)"
    if not parts.path.strip("/"):
        return f"{shown!r} names no database; add it after the host: {_EXAMPLE}"
    return None
