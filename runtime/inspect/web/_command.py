"""``python -m runtime.inspect LOG web [--port N] [--since TIME] [--keep DURATION]
[--no-follow]``: the web view of a log.

Opens the log read-only (an SQLite file, or a PostgreSQL URL), reads it into the web
view's index (progress on stderr for long logs), then serves the pages on 127.0.0.1
only (the log may hold prompts: there is no option to listen elsewhere) until Ctrl-C,
following the log unless ``--no-follow``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from events import EventLog
from events._postgres_schema import mask_url
from runtime.inspect._errors import InspectError
from runtime.inspect._filters import parse_time
from runtime.inspect._open import open_log
from runtime.inspect._postgres import is_postgres_url, open_postgres_log
from runtime.inspect.web._app import WebView

__all__ = ["HOST", "add_web_parser", "run_web"]

HOST = "127.0.0.1"
"""The only address the web view listens on."""
_PROGRESS_FROM = 100_000
"""Events from which reading the log reports its progress (smaller logs read at once)."""


def add_web_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``web`` command to ``inspect``'s sub-commands.

    ``common`` (the output options ``--json``, ``--color``, ``--width``) is not given to
    it: they mean nothing for a web page, so ``web --json`` is refused as unknown rather
    than silently ignored.
    """
    web = commands.add_parser(
        "web",
        help="browse the log in a web browser (127.0.0.1 only)",
        description=(
            "Serve a web view of the log on 127.0.0.1: status bands per deployment, "
            "latency and errors, slowest and failed requests, each request as a "
            "waterfall, quota burn-down and the flow of requests. It follows the log "
            "(pages update as events arrive) unless --no-follow. Read-only."
        ),
    )
    web.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="TCP port on 127.0.0.1 (default 0: any free port; the URL is printed)",
    )
    web.add_argument(
        "--since",
        metavar="TIME",
        help="read and show the log only from TIME: ISO-8601, epoch seconds, or 10m / 2h / 1d",
    )
    web.add_argument(
        "--keep",
        metavar="DURATION",
        help=(
            "keep only the last DURATION in memory (seconds, or 30m / 12h / 1d): a followed "
            "log is then read from that long ago and what falls out of it is forgotten"
        ),
    )
    web.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="show the log as it is now; do not follow new events",
    )


def _progress_printer(err: TextIO) -> Callable[[int, int], None]:
    """``on_progress`` that prints ``reading 1,000,000 events: 40%`` every 10 %."""
    shown = {-1}

    def progress(done: int, total: int) -> None:
        if total < _PROGRESS_FROM:
            return
        tenth = min(done * 10 // total, 10)
        if tenth in shown:
            return
        shown.add(tenth)
        err.write(f"reading {total:,} events: {tenth * 10}%\n")
        err.flush()

    return progress


async def run_web(log_arg: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve the web view of ``log_arg`` until cancelled (Ctrl-C); returns 0.

    Raises:
        InspectError: A bad ``--port``, a log that cannot be opened, or a port that
            cannot be listened on.
    """
    port = int(getattr(args, "port", 0))
    if not 0 <= port <= 65535:
        raise InspectError(f"--port must be between 0 and 65535, not {port}")
    follow = bool(getattr(args, "follow", True))
    window = _window(getattr(args, "since", None), getattr(args, "keep", None), time.time())
    if is_postgres_url(log_arg):
        async with open_postgres_log(log_arg) as opened:
            pg: Any = opened  # PostgresEventLog has every EventLog method the view uses
            masked = mask_url(log_arg)
            return await _serve(pg, masked, masked, port, follow, window, out, err)
    async with open_log(log_arg, err=err) as log:
        title = os.path.basename(log_arg) or log_arg
        return await _serve(log, log_arg, title, port, follow, window, out, err)


def _window(since: str | None, keep: str | None, now: float) -> tuple[float | None, float | None]:
    """``(since, keep_s)`` from ``--since`` and ``--keep``.

    Raises:
        InspectError: Either cannot be read, or ``--keep`` is not a positive duration.
    """
    start = None if since is None else parse_time(since, now)
    if keep is None:
        return start, None
    try:
        keep_s = float(keep)
    except ValueError:  # 30m, 12h, 1d: a duration before "now" (0 here)
        keep_s = -parse_time(keep, 0.0, option="--keep")
    if not (math.isfinite(keep_s) and keep_s > 0):
        raise InspectError(f"--keep must be a duration > 0 (3600, 30m, 12h, 1d), not {keep!r}")
    return start, keep_s


async def _serve(
    log: EventLog,
    name: str,
    title: str,
    port: int,
    follow: bool,
    window: tuple[float | None, float | None],
    out: TextIO,
    err: TextIO,
) -> int:
    from runtime.serve._server import AppServer, ServerStartError

    view = WebView(log, title=title, live=follow, since=window[0], keep_s=window[1])
    began = time.monotonic()
    try:
        await view.start(on_progress=_progress_printer(err))
        if view.index.events >= _PROGRESS_FROM:
            took = time.monotonic() - began
            err.write(f"indexed {view.index.events:,} events in {took:.1f} s\n")
        server = AppServer(view.app, host=HOST, port=port, access_log=False)
        try:
            url = await server.start()
        except ServerStartError as exc:
            raise InspectError(f"{exc}; choose another --port (0 picks a free one)") from None
        try:
            out.write(f"web view of {name} at {url}/ (Ctrl-C to stop)\n")
            out.flush()
            # Shielded: a cancel (Ctrl-C) must not cancel uvicorn mid-flight but stop it
            # below, gracefully, so the port is released and the lifespan ends cleanly.
            await asyncio.shield(server.wait())
        finally:
            await server.stop()
    finally:
        await view.aclose()
    return 0
