"""The command line: ``python -m runtime.admin [options] COMMAND TARGET``.

Parses the arguments, runs one command through a running serve (``--serve URL`` or
``LLMRT_SERVE_URL``) or, without one, on the config's event log, and turns every
expected problem into one ``error: ...`` line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TextIO

import msgspec

from runtime._logging import configure_logging
from runtime.admin._backup import add_backup_parser, render_backup, run_backup
from runtime.admin._compact import add_compact_parser, render_compact, run_compact
from runtime.admin._errors import AdminError
from runtime.admin._offline import load, probe_offline, reset_offline
from runtime.admin._remote import call_serve, check_url
from runtime.inspect._escape import escape
from runtime.serve._admin_body import DEFAULT_REASON, MAX_REASON, target_problem
from runtime.serve._cli import DEFAULT_KEY_ENV
from runtime.serve._cli import _api_key as serve_api_key
from runtime.serve._settings import ServeSettingsError

__all__ = ["COMMANDS", "PROBE_FAILED", "SERVE_URL_ENV", "build_parser", "main"]

COMMANDS = ("reset-health", "probe", "compact", "backup")
SERVE_URL_ENV = "LLMRT_SERVE_URL"
"""Environment variable read for the serve's URL when ``--serve`` is not given."""
PROBE_FAILED = 1
"""Exit status of ``probe`` when a check failed."""
_INTERRUPTED = 130

_DESCRIPTION = f"""\
Operator actions on deployment health: lift a quarantine now (reset-health), or run
the health check now and count its outcome (probe; a pass clears a quarantine).

With --serve URL (or {SERVE_URL_ENV}) the command goes through that running serve's
/admin/health/* routes, with its bearer key from --api-key-env NAME (default
{DEFAULT_KEY_ENV}, if set) or --api-key-file FILE, never the command line.
Without a serve, --config FILE is needed: reset-health appends the HealthReset events
to the config's event log (the next start begins with the deployments reset; no backend
is contacted) and probe starts the runtime briefly to run the check once. Do not use
this mode while a runtime runs on that log: it would not see the change.

TARGET: a model (name or alias), one deployment MODEL@ENDPOINT, or an endpoint name
(its every deployment).

compact LOG [--retain 30d | --through POSITION] [--dry-run] deletes old events of the
log file behind fresh snapshots of the runtime's state (health, quota, performance,
catalog, router); --retain defaults to the --config's event_log.retain.

backup LOG DEST [--force] copies the log file consistently with SQLite's online backup
API (safe beside a running runtime: the copy is the log as of one moment), then runs
inspect verify's checks on the copy and compares its event count and last position
before naming it DEST. Copying the file alone (cp) is not a backup: the newest events
live in LOG-wal until a checkpoint. A PostgreSQL log: use pg_dump.

exit status:
  0  done (probe: no check failed)
  1  probe: a check failed (its outcome was counted)
  2  bad command line, config, key or target (unknown or malformed); key refused (401)
  3  the serve could not be reached or answered an error; the event log or the
     runtime could not be opened or started"""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors become ``AdminError`` (one line)."""

    def error(self, message: str) -> NoReturn:
        raise AdminError(f"{message} (see {self.prog} --help)")


def _common(*, suppress: bool) -> _Parser:
    """The options accepted before or after the command."""
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS if suppress else None)
    common.add_argument(
        "--config", metavar="FILE", help="the runtime config (YAML or TOML); used without --serve"
    )
    common.add_argument("--serve", metavar="URL", help=f"a running serve (or {SERVE_URL_ENV})")
    common.add_argument(
        "--api-key-env", metavar="NAME", help=f"variable with the serve's key ({DEFAULT_KEY_ENV})"
    )
    common.add_argument("--api-key-file", metavar="FILE", help="file holding the serve's key")
    common.add_argument(
        "--timeout", type=float, metavar="S", help="seconds to wait for the serve (120)"
    )
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m runtime.admin``."""
    parser = _Parser(
        prog="python -m runtime.admin",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(suppress=False)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common(suppress=True)
    reset = commands.add_parser(
        "reset-health",
        parents=[common],
        help="reset TARGET's deployments to unknown (lifts quarantines now)",
    )
    reset.add_argument("target", metavar="TARGET")
    reset.add_argument(
        "--reason", default=DEFAULT_REASON, help=f"recorded in the events ({DEFAULT_REASON!r})"
    )
    probe = commands.add_parser(
        "probe", parents=[common], help="run TARGET's health check now and count the outcome"
    )
    probe.add_argument("target", metavar="TARGET")
    add_compact_parser(commands, common)
    add_backup_parser(commands, common)
    return parser


async def _run(args: argparse.Namespace, environ: Mapping[str, str], err: TextIO) -> dict[str, Any]:
    """Run the command; the reply in the routes' shape, plus ``via``."""
    if args.command == "compact":
        return await run_compact(args)
    if args.command == "backup":
        return await run_backup(args, err)
    reason = getattr(args, "reason", DEFAULT_REASON)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise AdminError(f"--reason must be non-empty and at most {MAX_REASON} characters")
    url = args.serve or environ.get(SERVE_URL_ENV)
    if url:
        return await _remote(args, check_url(url), reason.strip(), environ)
    if args.api_key_env is not None or args.api_key_file is not None:
        raise AdminError("--api-key-env/--api-key-file go with --serve (no serve, no key)")
    if args.config is None:
        raise AdminError("give --serve URL (a running serve) or --config FILE (see --help)")
    config = load(args.config)
    if args.command == "reset-health":
        done = await reset_offline(config, args.target, reason.strip())
        reset = [dataclasses.asdict(r) for r in done]
        return {"target": args.target, "reason": reason.strip(), "reset": reset, "via": "log"}
    results = await probe_offline(config, args.target, environ)
    ok = all(r.outcome != "failed" for r in results)
    found = [msgspec.to_builtins(r) for r in results]
    return {"target": args.target, "ok": ok, "results": found, "via": "runtime"}


async def _remote(
    args: argparse.Namespace, url: str, reason: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    problem = target_problem(args.target)
    if problem is not None:
        raise AdminError(problem)
    try:
        key = serve_api_key(args.api_key_env, args.api_key_file, environ)
    except ServeSettingsError as exc:
        raise AdminError(str(exc)) from None
    timeout = 120.0 if args.timeout is None else args.timeout
    if not timeout > 0:
        raise AdminError(f"--timeout must be > 0, not {timeout:g}")
    if args.command == "reset-health":
        body = {"target": args.target, "reason": reason}
        reply = await call_serve(url, "/admin/health/reset", body, key=key, wait=timeout)
    else:
        body = {"target": args.target}
        reply = await call_serve(url, "/admin/health/probe", body, key=key, wait=timeout)
    return {**reply, "via": url}


def _render(command: str, reply: dict[str, Any]) -> list[str]:
    """Text lines for a reply (one per deployment)."""
    if command == "compact":
        return render_compact(reply)
    if command == "backup":
        return render_backup(reply)
    if command == "reset-health":
        return [
            f"{r.get('deployment')}: {r.get('before')} -> {r.get('after')} (reset)"
            for r in reply.get("reset", [])
        ]
    lines = []
    for r in reply.get("results", []):
        change = f"({r.get('before')} -> {r.get('after')})"
        if r.get("outcome") == "failed":
            why = f"[{r.get('failure')}] {r.get('message')}".strip()
            lines.append(f"{r.get('deployment')}: failed {why} {change}")
        elif r.get("outcome") == "unlisted":
            lines.append(f"{r.get('deployment')}: unlisted by its endpoint; nothing counted")
        else:
            lines.append(f"{r.get('deployment')}: {r.get('outcome')} {change}")
    return lines


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one admin command; returns the exit status (see ``--help``).

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` if None.
        stdout: Where results go (default ``sys.stdout``).
        stderr: Where errors and log lines go (default ``sys.stderr``).
        environ: The environment (key and URL variables); ``os.environ`` if None.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    env = os.environ if environ is None else environ
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        configure_logging(level="warning", stream=err)
        reply = asyncio.run(_run(args, env, err))
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except AdminError as exc:
        err.write(f"error: {escape(' '.join(str(exc).split()))}\n")
        return exc.status
    except KeyboardInterrupt:
        return _INTERRUPTED
    if args.json:
        out.write(json.dumps(reply, indent=2, sort_keys=True) + "\n")
    else:
        for line in _render(args.command, reply):
            out.write(escape(line) + "\n")
    failed = args.command == "probe" and reply.get("ok") is False
    return PROBE_FAILED if failed else 0
