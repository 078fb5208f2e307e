"""``python -m runtime.demo``: watch the runtime keep requests answered while a backend fails.

Needs nothing but this package: it starts two fake LLM backends (chaos servers) on
127.0.0.1, sends traffic through a ``Runtime``, takes one backend down and brings it
back, and narrates what the runtime does: requests moved to the other backend, a
quarantine, a fallback to the smaller model, the recovery, a quota warning. Every fact
lands in an event log (``./runtime-demo.sqlite3`` by default); the demo ends by showing
``python -m runtime.inspect`` on it and the commands to explore it further.

Usage::

    python -m runtime.demo [--log PATH] [--fast] [--no-color]

Exit status: 0 when every request was answered, 1 when something went wrong, 2 for a
bad argument, 130 when interrupted (Ctrl-C); everything is closed in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from events import EventLogError, SqliteEventLog
from runtime._demo_output import Narrator, OutputClosed, wants_color
from runtime._demo_phases import run_scenario
from runtime._demo_scenario import FAST, NORMAL, DemoResult, Pace
from runtime._errors import LLMRuntimeError
from runtime._logging import configure_logging
from runtime.inspect import main as inspect_main

__all__ = ["DEFAULT_LOG", "main"]

DEFAULT_LOG = "runtime-demo.sqlite3"
"""The event log's file name in the current directory unless ``--log`` names one."""
_SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's companion files of a log, removed together with it."""


class _UsageError(Exception):
    """A bad argument: printed as ``error: ...``, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.demo",
        description=(
            "Start two fake LLM backends on 127.0.0.1, send traffic through the runtime, "
            "take one backend down and bring it back; narrate the retries, quarantine, "
            "fallback, recovery and a quota warning; then show the event log with "
            "runtime.inspect. Needs no LLM; takes about 15 seconds."
        ),
    )
    parser.add_argument(
        "--log",
        metavar="PATH",
        help=(
            f"event log to write (default: ./{DEFAULT_LOG}, replaced on each run); "
            "a PATH that already exists is refused rather than overwritten"
        ),
    )
    parser.add_argument(
        "--fast", action="store_true", help="shorter phases (a few seconds; for tests)"
    )
    parser.add_argument("--no-color", action="store_true", help="no ANSI colours")
    return parser


def _prepare_log(option: str | None, out: Narrator) -> Path:
    """The log path to write, fresh: the default one replaced, an explicit one never.

    Raises:
        _UsageError: The directory is missing, or ``--log`` names an existing file.
    """
    path = Path(option if option is not None else DEFAULT_LOG)
    if path.is_dir():
        raise _UsageError(f"--log {path}: is a directory; name a file such as {DEFAULT_LOG}")
    if not path.parent.is_dir():
        raise _UsageError(f"--log {path}: directory {path.parent} does not exist; create it")
    if option is not None and path.exists():
        raise _UsageError(
            f"--log {path}: the file exists; the demo writes a fresh log, so delete it "
            "or name another file"
        )
    if path.exists():
        out.say(f"removing {_shown(path)} (and its -wal/-shm files) left by an earlier run")
        for name in (path.name, *(path.name + suffix for suffix in _SIDE_FILES)):
            (path.parent / name).unlink(missing_ok=True)
    return path


def _shown(path: Path) -> str:
    """``path`` as a person would type it: relative to here when inside it, quoted."""
    try:
        text = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        text = str(path)
    return shlex.quote(text)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the demo; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    stream = sys.stdout if stdout is None else stdout
    out = Narrator(stream, color=wants_color(stream, no_color=args.no_color))
    out.say("runtime demo: two local LLM backends; one fails; the caller never notices", "bold")
    try:
        log = _prepare_log(args.log, out)
    except (_UsageError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The demo narrates for itself; the runtime's warnings would repeat it (errors stay).
    configure_logging(level="error")
    started = time.monotonic()
    try:
        status = _run(log, FAST if args.fast else NORMAL, out, started)
    except KeyboardInterrupt:
        out.end_status()
        out.say("interrupted: the backends and the event log were closed", "yellow")
        return 130
    except OutputClosed:
        status = 1
    except Exception as exc:  # a bug: still one line, never a traceback
        out.end_status()
        print(f"error: the demo failed unexpectedly: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if out.closed:
        # Keep the interpreter's final flush from complaining about the broken pipe.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        return 1
    return status


def _run(log: Path, pace: Pace, out: Narrator, started: float) -> int:
    """The scenario, then the inspect views; the exit status."""
    shown = _shown(log)
    where = "" if Path(shown).is_absolute() else f" (in {log.resolve().parent})"
    out.say(f"event log: {shown}{where}")
    try:
        result = asyncio.run(run_scenario(log, pace, out))
    except (LLMRuntimeError, EventLogError, OSError) as exc:
        out.end_status()
        print(f"error: the demo could not run: {exc}", file=sys.stderr)
        return 1
    events = asyncio.run(_count_events(log))
    out.say(f"  event log: {_shown(log)} holds {events} events")
    inspected = _show_inspect(log, result, out)
    _next_steps(log, result, out)
    elapsed = time.monotonic() - started
    out.say()
    out.say(f"demo finished in {elapsed:.1f} s", "dim")
    return 0 if result.errors == 0 and inspected else 1


async def _count_events(log: Path) -> int:
    async with await SqliteEventLog.open_readonly(log) as events:
        return await events.last_position()


def _show_inspect(log: Path, result: DemoResult, out: Narrator) -> bool:
    """Print ``inspect state`` and ``inspect explain`` of the fallen-back request."""
    commands = [["state"]]
    if result.fallback_request is not None:
        commands.append(["explain", result.fallback_request])
    else:
        out.say("  (no request fell back this time, so there is nothing to explain)", "red")
    ok = True
    for command in commands:
        out.say()
        out.say(f"$ python -m runtime.inspect {_shown(log)} {shlex.join(command)}", "bold")
        # Captured (not a terminal): plain text, whatever the demo's own stream is.
        text, errors = io.StringIO(), io.StringIO()
        status = inspect_main([str(log), *command], stdout=text, stderr=errors)
        for line in (text.getvalue() + errors.getvalue()).splitlines():
            out.say(line)
        if status != 0:
            out.say(f"(runtime.inspect exited with status {status})", "red")
            ok = False
    return ok


def _next_steps(log: Path, result: DemoResult, out: Narrator) -> None:
    shown = _shown(log)
    request = result.fallback_request or "REQUEST_ID"
    out.say()
    out.say("Explore the log yourself:", "bold")
    steps = [
        ("tail", "the last 20 events (-n N for more, --all for every one, -f to follow)"),
        (
            "tail --type DeploymentQuarantined --type DeploymentRecovered",
            "quarantines and recoveries",
        ),
        ("timeline", "each deployment's health over time"),
        (f"explain {request}", "why this request went where it went"),
        ("state", "health, usage and quotas, rebuilt by replaying the log"),
    ]
    for command, why in steps:
        out.say(f"  # {why}", "dim")
        out.say(f"  python -m runtime.inspect {shown} {command}")
    out.say("  # add --json to any of them for machine-readable output", "dim")


if __name__ == "__main__":
    sys.exit(main())
