"""Command line: run the chaos backend until Ctrl-C / SIGTERM.

Example: ``python -m runtime.testing --port 11434 --models llama3,qwen --fail 503
--fail-every 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import NoReturn

import msgspec

from runtime._logging import configure_logging
from runtime.testing._faults import FAULT_KINDS, Fault, FaultSpecError, decode_fault
from runtime.testing._server import HOST, ChaosServer

_PROG = "python -m runtime.testing"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one clear line."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` (no usage dump) and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> _Parser:
    """The argparse definition of every flag."""
    p = _Parser(
        prog=_PROG,
        description="Fault-injecting fake Ollama/OpenAI server "
        f"on {HOST} (never any other address).",
        epilog="Serves chat, completion and embedding routes of both dialects "
        "(/api/chat, /api/generate, /api/embed, /api/embeddings, /api/tags, /api/show, "
        "/api/ps, /api/version, /v1/chat/completions, /v1/completions, /v1/embeddings, "
        "/v1/models) and answers JSON when a request asks for it (format / "
        "response_format). Control API on the same port: POST /_chaos/faults, "
        'POST /_chaos/script {"model": M, "replies": ["text", {"text": T, '
        '"tool_calls": [{"name": N, "arguments": {...}}]}]}, GET|POST /_chaos/received '
        '{"route"?, "model"?} (request bodies), GET /_chaos/stats, POST /_chaos/reset.',
    )
    p.add_argument(
        "--port", type=int, default=11434, help="TCP port; 0 picks a free one (default: 11434)"
    )
    p.add_argument(
        "--models", default="llama3", help="comma-separated model names (default: llama3)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for text and probabilities")
    p.add_argument("--fault", choices=FAULT_KINDS, help="inject this fault kind")
    p.add_argument(
        "--fail",
        type=int,
        metavar="STATUS",
        help="shorthand: fail with this HTTP status (429 = rate_limit, "
        "404 = model_not_found, other = http_error)",
    )
    p.add_argument("--fail-every", type=int, metavar="N", help="hit only every Nth request")
    p.add_argument("--fail-count", type=int, metavar="N", help="hit only the next N requests")
    p.add_argument("--probability", type=float, default=1.0, help="chance of a hit (0-1)")
    p.add_argument("--delay", type=float, default=0.0, help="seconds for latency faults")
    p.add_argument("--after-chunks", type=int, default=0, help="good chunks before a stream fault")
    p.add_argument("--retry-after", default="1", help="Retry-After value for 429")
    p.add_argument(
        "--flavor",
        choices=("ollama", "openai", "llamacpp"),
        help="error body style (default: the route's)",
    )
    p.add_argument("--fault-model", metavar="MODEL", help="apply the fault to MODEL only")
    p.add_argument(
        "--fault-json",
        metavar="JSON",
        help='a full fault spec, e.g. \'{"kind": "reset", "after_chunks": 2}\'',
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error", "critical"),
        default="info",
        help="log level on stderr (default: info)",
    )
    p.add_argument(
        "--log-json",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JSON log lines (default: console on a TTY, JSON otherwise)",
    )
    return p


def _fault_from_args(args: argparse.Namespace) -> Fault | None:
    """The fault the flags describe, or None; raises FaultSpecError when invalid."""
    if args.fault_json is not None:
        try:
            return decode_fault(msgspec.json.decode(args.fault_json))
        except msgspec.DecodeError as exc:
            raise FaultSpecError(f"--fault-json is not JSON: {exc}") from exc
    kind, status = args.fault, None
    if args.fail is not None:
        kind = {429: "rate_limit", 404: "model_not_found"}.get(args.fail, "http_error")
        status = args.fail
    elif kind is None:
        if args.fail_every is not None or args.fail_count is not None:
            raise FaultSpecError("--fail-every/--fail-count need --fail or --fault")
        return None
    return Fault(
        kind=kind,
        status=status,
        probability=args.probability,
        every_nth=args.fail_every,
        count=args.fail_count,
        delay=args.delay,
        after_chunks=args.after_chunks,
        retry_after=args.retry_after,
        flavor=args.flavor,
    )


async def _run(server: ChaosServer) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    try:
        await server.start()
    except OSError as exc:
        print(
            f"{_PROG}: error: cannot listen on {HOST}:{server.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"chaos backend listening on {server.url} (models: {', '.join(server.models)})", flush=True
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.aclose()
    print("chaos backend stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the server, return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(json=args.log_json, level=args.log_level)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        fault = _fault_from_args(args)
        server = ChaosServer(
            models,
            seed=args.seed,
            port=args.port,
            faults=[] if fault is None or args.fault_model else [fault],
        )
    except (FaultSpecError, ValueError) as exc:
        parser.error(str(exc))
    if fault is not None and args.fault_model:
        server.set_fault(fault, model=args.fault_model)
    return asyncio.run(_run(server))


if __name__ == "__main__":
    sys.exit(main())
