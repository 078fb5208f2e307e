"""``python -m runtime.inspect postgresql://... COMMAND``: the viewer on a PostgreSQL log.

The log is opened with ``PostgresEventLog.open_readonly`` (read-only sessions: the
server refuses any write). ``tail``, ``range``, ``state``, ``explain`` and ``timeline``
use only the ``EventLog``/``SnapshotStore`` methods, so they run unchanged; ``stats``
(without a command) shows the range, and ``verify``, which checks an SQLite file's
pages and rows, is refused with what to use instead.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TextIO

from events import EventLogError, PostgresEventLog
from events._postgres_schema import mask_url
from runtime._open_log import is_postgres_url
from runtime.inspect._errors import InspectError
from runtime.inspect._explain import run_explain
from runtime.inspect._filters import Matcher
from runtime.inspect._range import run_range
from runtime.inspect._render import Style
from runtime.inspect._state import run_state
from runtime.inspect._tail import run_tail
from runtime.inspect._timeline import run_timeline

__all__ = ["is_postgres_url", "open_postgres_log", "run_postgres"]


@contextlib.asynccontextmanager
async def open_postgres_log(url: str) -> AsyncIterator[PostgresEventLog]:
    """Open the log at ``url`` read-only; its errors come out as ``InspectError``."""
    try:
        log = await PostgresEventLog.open_readonly(url)
    except EventLogError as exc:
        raise InspectError(str(exc)) from exc
    try:
        yield log
    except EventLogError as exc:
        raise InspectError(f"{mask_url(url)}: {exc}") from exc
    finally:
        await log.close()


async def run_postgres(
    args: argparse.Namespace, matcher: Matcher | None, style: Style, out: TextIO
) -> int:
    """Run the command ``args`` name against the PostgreSQL log ``args.log``."""
    command = args.command or "stats"
    if command == "verify":
        raise InspectError(
            "verify checks an SQLite file's pages and rows; for a PostgreSQL log use "
            "`range`, `state` or `timeline`, and PostgreSQL's own tools (amcheck, pg_dump)"
        )
    async with open_postgres_log(args.log) as opened:
        # The commands are annotated with the SQLite log but use only the EventLog and
        # SnapshotStore methods, which PostgresEventLog has too.
        log: Any = opened
        if matcher is not None:
            return await run_tail(
                log, matcher, json=args.json, follow=args.follow, style=style, out=out
            )
        if command in ("stats", "range"):
            return await run_range(log, json=args.json, style=style, out=out)
        if command == "state":
            if args.window < 1:
                raise InspectError(f"--window must be >= 1, not {args.window}")
            return await run_state(
                log, at=args.at, json=args.json, style=style, out=out, window=args.window
            )
        if command == "explain":
            return await run_explain(log, args.request_id, json=args.json, style=style, out=out)
        return await run_timeline(log, args.model, json=args.json, style=style, out=out)
