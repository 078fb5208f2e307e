"""``compact LOG``: retention run by hand, on an event log file (no serve involved).

Opens the log, rebuilds the runtime's projections (latest snapshot + tail, as a start
does: the projection set of ``runtime._retention``, with the performance window of
``--config`` if given, else the default), snapshots them, and deletes the events at or
before ``--through POSITION``, or older than ``--retain 30d`` (default: the config's
``event_log.retain``), never past the snapshots (``compact_behind_snapshots``).
``--dry-run`` writes nothing and says what would go. It may run beside runtimes on the
same log (its snapshots are folded from the log itself; their next start uses the newest
snapshot), but ``--through`` a recent position can then delete events a runtime's tail
has not delivered yet: it logs ``eventlog.tail.compacted`` and skips them. Leave recent
events to ``--retain``.
"""

from __future__ import annotations

import argparse
import datetime
import time
from typing import Any

import msgspec

from events import EventLogError, LogBounds, LogCompacted, Projector
from events._postgres_schema import mask_url
from runtime._config import PerformanceConfig
from runtime._open_log import open_log_target
from runtime._retention import compact_behind_snapshots, position_before, runtime_projections
from runtime._retention_policy import parse_duration
from runtime.admin._errors import UNREACHABLE, AdminError
from runtime.admin._offline import load

__all__ = ["add_compact_parser", "render_compact", "run_compact"]


def add_compact_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``compact`` subcommand's arguments."""
    compact = commands.add_parser(
        "compact",
        parents=[common],
        help="delete old events of LOG behind snapshots of the runtime's state (retention)",
    )
    compact.add_argument("log", metavar="LOG", help="the event log file (SQLite)")
    which = compact.add_mutually_exclusive_group()
    which.add_argument(
        "--retain", metavar="DURATION", help="keep events newer than this (30d, 12h, 90m)"
    )
    which.add_argument("--through", type=int, metavar="POSITION", help="delete 1..POSITION")
    compact.add_argument("--dry-run", action="store_true", help="say what would go; write nothing")


async def run_compact(args: argparse.Namespace, *, now: float | None = None) -> dict[str, Any]:
    """Compact ``args.log``; the reply (what went, the range before and after).

    Raises:
        AdminError: A bad option or config (exit 2); the log cannot be opened, read,
            written, or its state rebuilt (exit 3).
    """
    if args.serve is not None:
        raise AdminError("compact works on the log file, not through a serve: drop --serve")
    config = load(args.config) if args.config is not None else None
    retain = args.retain
    if retain is None and args.through is None:
        retain = config.event_log.retain if config is not None else None
        if retain is None:
            raise AdminError("say what to delete: --retain DURATION or --through POSITION")
    cutoff = None
    if retain is not None:
        try:
            cutoff = (time.time() if now is None else now) - parse_duration(retain)
        except ValueError as exc:
            raise AdminError(f"--retain: {exc}") from None
    if args.through is not None and args.through < 0:
        raise AdminError(f"--through must be >= 0, not {args.through}")
    window = (config.performance if config is not None else PerformanceConfig()).window
    try:  # a file, or a postgresql:// URL (shown with its password masked)
        path, event_log = await open_log_target(args.log)
    except FileNotFoundError:
        raise AdminError(f"no event log at {args.log}: nothing to compact", UNREACHABLE) from None
    except EventLogError as exc:
        path = mask_url(args.log)
        raise AdminError(f"cannot open the event log {path}: {_line(exc)}", UNREACHABLE) from None
    try:
        last = await event_log.last_position()
        if args.through is not None and args.through > last:
            raise AdminError(f"--through {args.through} is past the log's last position {last}")
        projectors = [await Projector.start(event_log, p) for p in runtime_projections(window)]
        wanted = args.through if cutoff is None else await position_before(event_log, cutoff)
        done = await compact_behind_snapshots(event_log, projectors, wanted, dry_run=args.dry_run)
    except LogCompacted as exc:
        raise AdminError(f"cannot compact {path}: {_line(exc)}", UNREACHABLE) from None
    except EventLogError as exc:
        raise AdminError(f"cannot compact {path}: {_line(exc)}", UNREACHABLE) from None
    finally:
        await event_log.close()
    return {
        "log": str(path),
        "cutoff": cutoff,
        **msgspec.to_builtins(done),
    }


def render_compact(reply: dict[str, Any]) -> list[str]:
    """Text lines: what was (or would be) deleted, and the log's range afterwards."""
    before, after = reply["before"], reply["after"]
    verb = "would delete" if reply["dry_run"] else "deleted"
    lines = []
    if reply["deleted"]:
        lines.append(
            f"{verb} {reply['deleted']} events (positions {before['first_position']}.."
            f"{reply['through']}), behind snapshots at {_snapshots(reply['snapshots'])}"
        )
    else:
        lines.append(f"nothing to delete (the log holds {_range(before)})")
    if reply["wanted"] > reply["through"]:
        lines.append(f"asked for {reply['wanted']}: kept what follows the snapshots")
    if not reply["dry_run"]:
        lines.append(f"the log now holds {_range(after)}")
    return lines


def _range(bounds: dict[str, Any]) -> str:
    found = msgspec.convert(bounds, LogBounds)
    if found.first_position > found.last_position:
        held = "no events"
    else:
        count = found.last_position - found.first_position + 1
        held = f"{count} events, positions {found.first_position}..{found.last_position}"
        held += f" ({_iso(found.first_timestamp)} .. {_iso(found.last_timestamp)})"
    if found.compacted_through:
        held += f"; 1..{found.compacted_through} compacted at {_iso(found.compacted_at)}"
    return held


def _snapshots(snapshots: dict[str, int]) -> str:
    positions = sorted(set(snapshots.values()))
    return ", ".join(str(p) for p in positions) or "-"


def _iso(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")


def _line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
