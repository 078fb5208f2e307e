"""``python -m runtime.serve --config FILE``: load, start, serve until SIGINT/SIGTERM.

Prints ``serving on http://HOST:PORT`` on stdout once listening (``--port 0`` picks a
free port). Exit status: 0 after a clean shutdown (signal), 1 when the runtime or the
server could not start, 2 for a bad command line, config, key or setting (one line on
stderr, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from events import EventLogError, get_logger
from runtime._errors import ConfigError, LLMRuntimeError
from runtime._logging import LEVELS, configure_logging, log_requests
from runtime._metrics import RuntimeMetrics
from runtime._runtime import Runtime
from runtime.serve._app import create_app
from runtime.serve._loop import LOOPS, loop_factory, run_on, running_loop_name
from runtime.serve._server import AppServer, ServerStartError
from runtime.serve._settings import ServeSettings, ServeSettingsError
from runtime.serve._ui import ServedView

__all__ = ["DEFAULT_KEY_ENV", "main", "parser", "serve", "settings_from"]

log = get_logger(__name__)

DEFAULT_KEY_ENV = "LLMRT_API_KEY"
"""Environment variable read for the API key when no other source is named."""

_GRACE_S = 10
"""Seconds in-flight responses get to finish on shutdown before they are cancelled."""


def parser() -> argparse.ArgumentParser:
    """The command line (see ``runtime.serve``'s docstring for every option)."""
    defaults = ServeSettings()
    p = argparse.ArgumentParser(
        prog="python -m runtime.serve",
        description="OpenAI- and Ollama-compatible HTTP facade over the runtime, with "
        "/health, /metrics and /performance-metrics.",
    )
    p.add_argument("--config", required=True, help="the runtime config (YAML or TOML)")
    p.add_argument(
        "--host",
        default=defaults.host,
        help="address to listen on (127.0.0.1); any other needs an API key",
    )
    p.add_argument("--port", type=int, default=defaults.port, help="port (8080; 0: any free)")
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help=f"environment variable holding the bearer key (default: {DEFAULT_KEY_ENV}, if set)",
    )
    p.add_argument("--api-key-file", metavar="FILE", help="file holding the bearer key")
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=defaults.max_body_bytes,
        help="largest request body; 413 above it (1048576)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=defaults.max_tokens_cap,
        help=f"cap on max_tokens per request ({defaults.max_tokens_cap})",
    )
    p.add_argument(
        "--max-messages",
        type=int,
        default=defaults.max_messages,
        help="most messages per request (256)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout,
        help="seconds per request, whole streams included (600)",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=defaults.max_concurrency,
        help="requests served at once (open connections not counted); more get 503 (256)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="connections open at once in all; a new one beyond it replaces the one that "
        "waited longest without a request (1024)",
    )
    p.add_argument(
        "--max-connections-per-client",
        type=int,
        default=defaults.max_connections_per_client,
        help="connections open at once from one client address; more get 503 (64)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout,
        help="seconds a connection may take to send its request headers; then 408 (10)",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=defaults.keep_alive_timeout,
        help="seconds a connection may stay idle after a response before it is closed (5)",
    )
    p.add_argument(
        "--loop",
        default=LOOPS[0],
        choices=LOOPS,
        help="event loop: asyncio (default) or uvloop (faster; the uvloop extra)",
    )
    p.add_argument(
        "--no-ui",
        dest="ui",
        action="store_false",
        help="do not serve the web view of the log at /ui",
    )
    p.add_argument(
        "--ui-keep",
        type=float,
        default=defaults.ui_keep_s,
        metavar="SECONDS",
        help="seconds of the log the web view at /ui keeps in memory and shows (86400: a day)",
    )
    p.add_argument("--log-json", action="store_true", help="JSON log lines even on a TTY")
    p.add_argument("--log-level", default="info", choices=sorted(LEVELS))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the facade; returns the exit status (see the module docstring)."""
    args = parser().parse_args(argv)
    handler = configure_logging(json=True if args.log_json else None, level=args.log_level)
    _route_uvicorn(handler, LEVELS[args.log_level])
    try:
        settings = settings_from(args, os.environ)
        factory = loop_factory(args.loop)
        rt = Runtime.from_config(args.config)
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        return _fail(f"invalid configuration {args.config}: {problems}", 2)
    except ServeSettingsError as exc:
        return _fail(str(exc), 2)
    return run_on(factory, serve(rt, settings))


def _route_uvicorn(handler: logging.Handler, level: int) -> None:
    """Send uvicorn's own lines (start-up errors, ASGI exceptions) to our handler.

    The server runs with ``log_config=None`` (uvicorn installs nothing) and
    ``configure_logging`` touches the ``runtime`` logger only, so this process -- the
    entry point, which owns its logging -- routes ``uvicorn`` (and the ``uvicorn.error``
    and ``uvicorn.access`` loggers under it) explicitly: same handler, same level, no
    propagation to a root handler that would print them a second time.
    """
    uvicorn_log = logging.getLogger("uvicorn")
    for old in [h for h in uvicorn_log.handlers if isinstance(h, type(handler))]:
        uvicorn_log.removeHandler(old)
    uvicorn_log.addHandler(handler)
    uvicorn_log.setLevel(level)
    uvicorn_log.propagate = False


async def serve(rt: Runtime, settings: ServeSettings) -> int:
    """Start ``rt``, serve it until SIGINT/SIGTERM, then close everything; exit status."""
    try:
        await rt.start()
    except (LLMRuntimeError, EventLogError, OSError) as exc:
        await rt.aclose()
        return _fail(f"could not start the runtime: {_first_line(exc)}", 1)
    metrics = RuntimeMetrics(rt)
    undo_log = log_requests(rt)
    loop = asyncio.get_running_loop()
    ui = ServedView(rt.config, keep_s=settings.ui_keep_s) if settings.ui else None
    try:
        if ui is not None:
            try:
                await ui.start()
            except (EventLogError, OSError) as exc:
                return _fail(f"could not open the log for the web view: {_first_line(exc)}", 1)
        app = create_app(rt, settings, metrics=metrics, ui=ui)
        server = AppServer(
            app,
            host=settings.host,
            port=settings.port,
            settings=settings,  # connection limits: per client, header deadline, overall
            access_log=False,  # uvicorn's lines carry query strings; Observe logs instead
            timeout_graceful_shutdown=_GRACE_S,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _on_signal, server, sig)
        try:
            url = await server.start()
        except ServerStartError as exc:
            return _fail(str(exc), 1)
        print(f"serving on {url}", flush=True)
        log.info(
            "serve.started", url=url, keyed=settings.api_key is not None, loop=running_loop_name()
        )
        await server.wait()
        log.info("serve.stopped")
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        undo_log()
        metrics.close()
        if ui is not None:
            await ui.aclose()
        await rt.aclose()


def _on_signal(server: AppServer, sig: signal.Signals) -> None:
    if server.should_exit:  # a second signal: stop waiting for in-flight responses
        server.force_exit = True
    server.should_exit = True
    log.info("serve.stopping", signal=sig.name)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServeSettings:
    """The ``ServeSettings`` of a parsed command line, the key read from ``environ`` or
    the key file.

    Raises:
        ServeSettingsError: A key source is unusable, or a setting is unsafe or invalid.
    """
    return ServeSettings(
        host=args.host,
        port=args.port,
        api_key=_api_key(args.api_key_env, args.api_key_file, environ),
        max_body_bytes=args.max_body_bytes,
        max_tokens_cap=args.max_tokens,
        max_messages=args.max_messages,
        request_timeout=args.request_timeout,
        max_concurrency=args.max_concurrency,
        max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client,
        header_timeout=args.header_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        ui=args.ui,
        ui_keep_s=args.ui_keep,
    )


def _api_key(env_name: str | None, file: str | None, environ: Mapping[str, str]) -> str | None:
    """The key from ``--api-key-file``, ``--api-key-env`` or ``LLMRT_API_KEY`` (if set).

    Keys are never taken from the command line: it is visible to every local user.
    """
    if env_name is not None and file is not None:
        raise ServeSettingsError("give --api-key-env or --api-key-file, not both")
    if file is not None:
        return _read_key_file(Path(file))
    if env_name is not None:
        value = environ.get(env_name)
        if not value:
            raise ServeSettingsError(
                f"--api-key-env {env_name}: that environment variable is not set or empty"
            )
        return value
    return environ.get(DEFAULT_KEY_ENV) or None


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeSettingsError(
            f"--api-key-file {path}: cannot read it ({_first_line(exc)})"
        ) from None
    key = text.strip()
    if not key:
        raise ServeSettingsError(f"--api-key-file {path}: the file is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "serve.key_file.shared", path=str(path), hint="other users can read it; chmod 600"
        )
    return key


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
