"""The command line: ``python -m runtime.inspect LOG [COMMAND] [options]``.

Parses the arguments, opens the log read-only, runs one command and turns every
expected mistake into one ``error: ...`` line on stderr (exit 2; ``verify`` exits 1 when
the log has problems). Ctrl-C ends ``--follow`` quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO, cast

from events import EventLogError, SqliteEventLog, default_registry
from events._postgres_schema import mask_url
from runtime.inspect._errors import InspectError
from runtime.inspect._escape import TerminalSafe, escape
from runtime.inspect._explain import run_explain
from runtime.inspect._filters import DEFAULT_LIMIT, Filter, Matcher, build_filter, parse_time
from runtime.inspect._open import open_log
from runtime.inspect._postgres import is_postgres_url, open_postgres_log, run_postgres
from runtime.inspect._range import run_range
from runtime.inspect._render import UNLIMITED_WIDTH, Style
from runtime.inspect._requests_args import add_requests_parsers, request_query
from runtime.inspect._requests_model import Kind
from runtime.inspect._requests_view import run_requests
from runtime.inspect._state import run_state
from runtime.inspect._stats import Window, run_stats
from runtime.inspect._tail import run_tail
from runtime.inspect._timeline import run_timeline
from runtime.inspect._verify import run_verify

__all__ = ["COMMANDS", "build_parser", "main", "style_for"]

COMMANDS = (
    "tail", "stats", "verify", "state", "explain", "timeline", "range", "slow", "failed", "web"
)  # fmt: skip
_INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""

_DESCRIPTION = """\
Read-only viewer of a runtime's event log (an SQLite file). Safe while a runtime is
writing to it: the file is opened read-only and nothing in it is ever executed.
Without COMMAND, prints `stats`."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors become ``InspectError`` (one line)."""

    def error(self, message: str) -> NoReturn:
        raise InspectError(f"{message} (see {self.prog} --help)")


def _output_options() -> _Parser:
    """``--json``, ``--color``, ``--width``: accepted before or after the command."""
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="machine-readable JSON output")
    group.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        help="colour: auto (default: only on a terminal and without NO_COLOR), always, never",
    )
    group.add_argument(
        "--width", type=int, metavar="N", help="line width (default: the terminal's)"
    )
    return common


def _tail_parser(commands: Any, common: _Parser) -> None:
    tail = commands.add_parser(
        "tail",
        parents=[common],
        help="the last events, optionally filtered; --follow for new ones",
        description="Show the last matching events (20 unless -n or --all), oldest first.",
    )
    tail.add_argument("-f", "--follow", action="store_true", help="keep waiting for new events")
    tail.add_argument(
        "-n", "--limit", type=int, metavar="N", help=f"last N (default {DEFAULT_LIMIT})"
    )
    tail.add_argument("--all", action="store_true", help="every matching event")
    where = tail.add_argument_group("filters (all must hold)")
    where.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="TYPE",
        help="event type, e.g. AttemptFailed, or a base such as HealthEvent (repeatable)",
    )
    where.add_argument("--model", help="events about this model")
    where.add_argument("--endpoint", help="events about this endpoint")
    where.add_argument("--deployment", metavar="MODEL@ENDPOINT", help="events about it")
    where.add_argument("--role", help="events of requests for this role")
    where.add_argument("--request", metavar="ID", help="events of this request (or id prefix)")
    where.add_argument("--stream", help="one stream, e.g. health/llama3@local")
    where.add_argument("--since", metavar="TIME", help="ISO-8601, epoch seconds, or 10m / 2h / 1d")
    where.add_argument("--until", metavar="TIME", help="same forms as --since")
    where.add_argument("--from-position", type=int, metavar="P", help="start at position P")


def _stats_parser(commands: Any, common: _Parser) -> None:
    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="counts by type, size, time span, requests (default); --since/--until: a window",
        description="What the log holds: events by type, requests by outcome, time span, "
        "file size. With --since/--until every count is of the events committed in that "
        "window (the file size stays the whole file's).",
    )
    window = stats.add_argument_group("window (commit times)")
    window.add_argument(
        "--since", metavar="TIME", help="ISO-8601, epoch seconds, or 10m / 2h / 1d (ago)"
    )
    window.add_argument("--until", metavar="TIME", help="same forms as --since")


def _stats_window(args: argparse.Namespace) -> Window | None:
    """The ``stats`` window ``--since``/``--until`` give (None: the whole log)."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is None and until is None:
        return None
    now = time.time()
    return Window(
        since=None if since is None else parse_time(since, now),
        until=None if until is None else parse_time(until, now, option="--until"),
    )


def _view_parsers(commands: Any, common: _Parser) -> None:
    """``state``, ``explain`` and ``timeline``: views rebuilt from the events."""
    state = commands.add_parser(
        "state", parents=[common], help="health, routing and quota state, now or at a time"
    )
    state.add_argument("--at", metavar="TIME|POSITION", help="as of a time or a position")
    state.add_argument(
        "--window",
        type=int,
        default=100,
        metavar="N",
        help="samples per performance window (100, the runtime's default)",
    )
    explain = commands.add_parser(
        "explain", parents=[common], help="why a request went where it went"
    )
    explain.add_argument("request_id", metavar="REQUEST_ID", help="the id, or a unique prefix")
    timeline = commands.add_parser(
        "timeline",
        parents=[common],
        help="health transitions over time; outages still going, flapping folded",
        description="Quarantine and recovery history per deployment. An outage still going "
        "is counted up to the log's last event (so far); a run of degraded <-> healthy "
        "flapping shows as one line with a count.",
    )
    timeline.add_argument("model", metavar="MODEL", nargs="?", help="only this model")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m runtime.inspect``."""
    common = _output_options()
    parser = _Parser(
        prog="python -m runtime.inspect",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("log", metavar="LOG", help="SQLite file or postgresql:// URL")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour: auto (only on a terminal and without NO_COLOR), always, never",
    )
    parser.add_argument(
        "--width", type=int, metavar="N", help="line width (default: the terminal's)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _tail_parser(commands, common)
    _stats_parser(commands, common)
    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="check integrity, gap-free positions, that every event decodes",
        description="Check the log; exit 0 when intact, 1 when a problem was found.",
    )
    verify.add_argument(
        "--strict", action="store_true", help="events of unknown types count as problems"
    )
    _view_parsers(commands, common)
    commands.add_parser(
        "range", parents=[common], help="positions and times held; what was compacted before"
    )
    add_requests_parsers(commands, common)
    from runtime.inspect.web._command import add_web_parser

    add_web_parser(commands, common)
    return parser


def style_for(stream: TextIO, color_mode: str = "auto", width: int | None = None) -> Style:
    """Choose colour and width for output to ``stream``.

    Colour: ``always`` forces it, ``never`` disables it, ``auto`` colours a terminal
    only, and only when the ``NO_COLOR`` environment variable is unset or empty. Width:
    ``width`` if given; the terminal's width on a terminal; unlimited when piped.
    """
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        tty = False
    if color_mode == "always":
        color = True
    elif color_mode == "never":
        color = False
    else:
        color = tty and not os.environ.get("NO_COLOR")
    if width is None:
        width = shutil.get_terminal_size().columns if tty else UNLIMITED_WIDTH
    return Style(color=color, width=max(width, 20))


async def _dispatch(args: argparse.Namespace, style: Style, out: TextIO, err: TextIO) -> int:
    """Open the log and run the command ``args`` name."""
    command = args.command or "stats"
    if command == "web":  # imported here: the other commands need no web stack
        from runtime.inspect.web._command import run_web

        return await run_web(args.log, args, out, err)
    matcher = None
    if command == "tail":
        matcher = Matcher(_filter_of(args))  # check the options before opening the file
    window = _stats_window(args) if command == "stats" else None
    if is_postgres_url(args.log):  # a PostgreSQL log: the viewer's commands that apply
        if window is not None:
            raise InspectError(
                "stats --since/--until counts an SQLite file's rows; for a PostgreSQL log "
                "use `tail --since ... --json` or SQL on the events table"
            )
        if command in ("slow", "failed"):  # only EventLog reads: the same code serves
            async with open_postgres_log(args.log) as opened:
                shown = mask_url(args.log)
                return await _run_requests(command, cast(Any, opened), args, style, out, shown)
        return await run_postgres(args, matcher, style, out)
    async with open_log(args.log, err=err) as log:
        if matcher is not None:
            return await run_tail(
                log, matcher, json=args.json, follow=args.follow, style=style, out=out
            )
        if command == "stats":
            return await run_stats(log, json=args.json, style=style, out=out, window=window)
        if command == "range":
            return await run_range(log, json=args.json, style=style, out=out)
        if command == "verify":
            return await run_verify(
                log, json=args.json, style=style, out=out, err=err, strict=args.strict
            )
        return await _run_view(command, log, args, style, out)


async def _run_view(
    command: str, log: SqliteEventLog, args: argparse.Namespace, style: Style, out: TextIO
) -> int:
    """Run ``state``, ``explain``, ``timeline``, ``slow`` or ``failed``."""
    if command == "state":
        if args.window < 1:
            raise InspectError(f"--window must be >= 1, not {args.window}")
        return await run_state(
            log, at=args.at, json=args.json, style=style, out=out, window=args.window
        )
    if command == "explain":
        return await run_explain(log, args.request_id, json=args.json, style=style, out=out)
    if command in ("slow", "failed"):
        return await _run_requests(command, log, args, style, out, str(log.path))
    return await run_timeline(log, args.model, json=args.json, style=style, out=out)


async def _run_requests(
    command: str,
    log: SqliteEventLog,
    args: argparse.Namespace,
    style: Style,
    out: TextIO,
    name: str,
) -> int:
    """Run ``slow`` or ``failed`` (on an SQLite or, typed as one, a PostgreSQL log)."""
    query = request_query(args, time.time())
    kind: Kind = "slow" if command == "slow" else "failed"
    return await run_requests(log, query, kind, json=args.json, style=style, out=out, name=name)


def _filter_of(args: argparse.Namespace) -> Filter:
    """The ``tail`` filter the options describe (checked: ``InspectError`` if invalid)."""
    return build_filter(
        now=time.time(),
        known_types=default_registry.types,
        types=args.type,
        model=args.model,
        endpoint=args.endpoint,
        deployment=args.deployment,
        role=args.role,
        request=args.request,
        stream=args.stream,
        since=args.since,
        until=args.until,
        from_position=args.from_position,
        limit=args.limit,
        show_all=args.all,
    )


def _parse(argv: list[str], out: TextIO, err: TextIO) -> argparse.Namespace:
    """Parse ``argv``; ``--help`` writes to ``out`` and raises ``SystemExit(0)``."""
    if argv and argv[0] in COMMANDS and any(a in ("-h", "--help") for a in argv):
        argv = ["LOG", *argv]  # `inspect tail --help` without a LOG still shows tail's help
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args = build_parser().parse_args(argv)
    if args.width is not None and args.width < 20:
        raise InspectError(f"--width must be >= 20, not {args.width}")
    return args


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the viewer; returns the exit code (0 ok, 1 problems found, 2 usage/file error).

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` if None.
        stdout: Where output goes (default ``sys.stdout``).
        stderr: Where errors and progress go (default ``sys.stderr``).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parse(arguments, out, err)
        _configure_logging(err)
        style = style_for(out, args.color, args.width)
        safe = cast(TextIO, TerminalSafe(out, color=style.color))  # the write boundary
        return asyncio.run(_dispatch(args, style, safe, err))
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except (InspectError, EventLogError) as exc:
        err.write(f"error: {escape(_one_line(str(exc)))}\n")
        return 2
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, ValueError):
            out.flush()
        return _INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe(out)
        return 0


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _configure_logging(err: TextIO) -> None:
    """Library logs go to stderr and only from warnings up: they must not mix with output."""
    from runtime._logging import configure_logging

    configure_logging(level="warning", stream=err)


def _quiet_broken_pipe(out: TextIO) -> None:
    """After ``| head`` closed the pipe: stop Python complaining when it flushes stdout."""
    if out is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
