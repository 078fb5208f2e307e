"""Run llama.cpp's HTTP server (embedded in the ``xllamacpp`` wheel) in this process.

Usage::

    python -m tests.real_backend._launch --model tiny.gguf --port 18080 [--alias tiny]
        [--ctx 256] [--n-predict 16] [--threads 1] [--parallel 1] [--seed 42]
        [--embedding --pooling mean]

The server always binds 127.0.0.1 (there is deliberately no ``--host``). The process
blocks until SIGTERM or SIGINT, then shuts the server down (bounded by a grace period)
and exits 0. It also asks Linux to send it SIGTERM when its parent dies, so a killed
pytest does not leave servers behind.

Once the model is loaded and the socket listens, one line ``READY <address>`` is
printed to stdout. llama.cpp's own logs go to stderr. If the server cannot start (bad
model, port taken), the process exits with status 3 and a message on stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_SHUTDOWN_GRACE_S = 5.0
# --pooling value -> name of the xllamacpp.llama_pooling_type member
POOLING = {
    "none": "LLAMA_POOLING_TYPE_NONE",
    "mean": "LLAMA_POOLING_TYPE_MEAN",
    "cls": "LLAMA_POOLING_TYPE_CLS",
    "last": "LLAMA_POOLING_TYPE_LAST",
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tests.real_backend._launch")
    ap.add_argument("--model", type=Path, required=True, help="path to a .gguf file")
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (1-65535)")
    ap.add_argument("--alias", default="tiny", help="model id listed by /v1/models")
    ap.add_argument("--ctx", type=int, default=256, help="context size (tokens, all slots)")
    ap.add_argument("--n-predict", type=int, default=16, help="default max tokens per request")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for generation/batch")
    ap.add_argument("--parallel", type=int, default=1, help="number of slots")
    ap.add_argument("--seed", type=int, default=42, help="sampling seed")
    ap.add_argument(
        "--embedding",
        action="store_true",
        help="serve /v1/embeddings (llama.cpp's --embeddings); chat keeps working",
    )
    ap.add_argument(
        "--pooling",
        choices=sorted(POOLING),
        default=None,
        help="embedding pooling type (default: the model's, llama.cpp's --pooling)",
    )
    args = ap.parse_args(argv)
    if not 0 < args.port < 65536:
        ap.error("--port must be in 1..65535")
    if not args.model.is_file():
        ap.error(f"--model {args.model} is not a file")
    return args


def _die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # parent already died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _build_params(xllamacpp: Any, args: argparse.Namespace) -> Any:
    p = xllamacpp.CommonParams()
    p.model.path = str(args.model)
    p.model_alias = {args.alias}
    p.hostnames = [LOOPBACK]
    p.port = args.port
    p.n_ctx = args.ctx
    p.n_predict = args.n_predict
    p.n_parallel = args.parallel
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.n_threads_http = max(4, args.parallel + 2)
    p.warmup = False
    p.sampling.seed = args.seed
    if args.embedding:
        p.embedding = True
    if args.pooling is not None:
        p.pooling_type = getattr(xllamacpp.llama_pooling_type, POOLING[args.pooling])
    return p


def _shutdown(box: list[Any]) -> None:
    """Destroy the server held in ``box`` (its only reference), bounded in time.

    Dropping the last reference runs ``~Server()``, which terminates the llama.cpp loop
    and joins its thread; that happens in a daemon thread so a hang cannot block exit.
    """

    def _destroy() -> None:
        box.clear()

    t = threading.Thread(target=_destroy, name="llama-shutdown", daemon=True)
    t.start()
    t.join(_SHUTDOWN_GRACE_S)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Block the stop signals before any server thread exists, so every thread inherits
    # the mask and only sigwait() below receives them (the extension installs no handlers).
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    _die_with_parent()

    import xllamacpp  # type: ignore[import-untyped]  # imported late: after the signal mask

    params = _build_params(xllamacpp, args)
    try:
        box: list[Any] = [xllamacpp.Server(params)]
    except Exception as exc:  # bind failure, unreadable model, ...
        print(f"_launch: server failed to start: {exc!r}", file=sys.stderr, flush=True)
        return 3
    print(f"READY {box[0].listening_address}", flush=True)

    received = signal.sigwait(_STOP_SIGNALS)
    print(f"_launch: got {signal.Signals(received).name}, shutting down", file=sys.stderr)
    _shutdown(box)
    sys.stderr.flush()
    sys.stdout.flush()
    # Skip interpreter teardown: the extension's static destructors are not needed and a
    # stuck shutdown thread must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
