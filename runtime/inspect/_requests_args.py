"""The ``slow`` and ``failed`` subcommands' options, and the query they describe.

Kept apart from ``_cli`` (which wires every command) so each stays small. Pure: the
current time comes in as an argument.
"""

from __future__ import annotations

import argparse
from typing import Any

from runtime.inspect._filters import DEFAULT_LIMIT, parse_time
from runtime.inspect._requests_model import RequestQuery

__all__ = ["add_requests_parsers", "request_query"]


def add_requests_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """``slow`` and ``failed``: the requests an on-call person looks for first."""
    slow = commands.add_parser(
        "slow",
        parents=[common],
        help="the slowest finished requests (top N), with filters",
        description="The slowest finished requests, slowest first: when, id (for explain), "
        "role, model, deployments tried, attempts, fallbacks, latency, outcome.",
    )
    failed = commands.add_parser(
        "failed",
        parents=[common],
        help="the failed and cancelled requests (newest first), with filters",
        description="The requests that failed or were cancelled, newest first, with their "
        "failure class and error. A request that succeeded after failed attempts is not "
        "among them (`slow` shows it).",
    )
    for parser in (slow, failed):
        parser.add_argument(
            "-n",
            "--limit",
            type=int,
            default=DEFAULT_LIMIT,
            metavar="N",
            help=f"show N (default {DEFAULT_LIMIT})",
        )
        where = parser.add_argument_group("filters (all must hold)")
        where.add_argument(
            "--since",
            metavar="TIME",
            help="requests that started at or after TIME: ISO-8601, epoch seconds, or "
            "10m / 2h / 1d (ago)",
        )
        where.add_argument("--until", metavar="TIME", help="that started at or before TIME")
        where.add_argument("--role", help="requests for this role")
        where.add_argument("--model", help="asked for, the role's primary, or answered by it")
        where.add_argument("--deployment", metavar="MODEL@ENDPOINT", help="that tried it")
        if parser is failed:
            where.add_argument(
                "--failure", metavar="CLASS", help="failure class, e.g. server_error, timeout_idle"
            )


def request_query(args: argparse.Namespace, now: float) -> RequestQuery:
    """The ``slow``/``failed`` query the options describe (times checked: ``InspectError``;
    relative times such as ``10m`` count back from ``now``)."""
    return RequestQuery(
        since=None if args.since is None else parse_time(args.since, now),
        until=None if args.until is None else parse_time(args.until, now, option="--until"),
        role=args.role,
        model=args.model,
        deployment=args.deployment,
        failure=getattr(args, "failure", None),
        limit=args.limit,
    )
