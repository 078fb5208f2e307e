"""Logging set-up for entry points, secret redaction, and the canonical request line.

Only entry points (CLIs, the HTTP server, examples) call ``configure_logging``; library
code just does ``log = structlog.get_logger()`` and logs dotted events with keyword
values. One configuration serves both structlog and the standard library (uvicorn and
httpx log through ``logging``), so every line has the same shape::

    configure_logging()                      # console on a TTY, JSON lines otherwise
    configure_logging(json=True, level="debug")
    undo = log_requests(rt)                  # one ``runtime.request`` line per request

Every line goes through the redaction processor (``redact_secrets``: secrets by field
name and by value pattern, prompt/completion bodies dropped unless ``log_bodies``).
Exceptions are formatted to text before it runs and other objects become their repr, so
a secret inside a traceback or an object's ``repr`` is masked too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from events import (
    AttemptFailed,
    AttemptSucceeded,
    Event,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
    get_logger,
)
from runtime._redaction import redact_mapping
from runtime._request_line import RequestLines

if TYPE_CHECKING:
    from runtime._runtime import Runtime

__all__ = [
    "LEVELS",
    "Redactor",
    "configure_logging",
    "log_requests",
    "make_redactor",
    "redact_secrets",
]

log = get_logger(__name__)

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
"""Level names ``configure_logging`` accepts (case-insensitive)."""

_LEADING = ("timestamp", "level", "logger", "event")

_HANDLER_MARK = "_llmrt_handler"
"""Attribute set on the stdlib handler we install, so a second call replaces it."""

_REQUEST_EVENTS: tuple[type[Event], ...] = (
    RequestStarted,
    AttemptSucceeded,
    AttemptFailed,
    StreamInterrupted,
    FallbackSwitched,
    RequestSucceeded,
    RequestFailed,
    RequestCancelled,
)


Redactor = Callable[[WrappedLogger, str, EventDict], EventDict]
"""A structlog processor that returns the event dict (what ``make_redactor`` builds)."""


def make_redactor(*, log_bodies: bool = False) -> Redactor:
    """A structlog processor masking secrets; it keeps body fields if ``log_bodies``."""

    def redact(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        return redact_mapping(event_dict, log_bodies=log_bodies)

    return redact


def redact_secrets(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """The default redaction processor: secrets masked, body fields dropped.

    By name: ``api_key``, ``token``, ``authorization``, ``password``, ``cookie``... (at
    any depth) become ``[redacted]``. By value: ``Bearer ...``, ``sk-...``,
    ``Authorization: ...``, ``?key=...``, ``user:pass@`` inside any string are masked.
    ``prompt``, ``messages``, ``content``, ``completion``, ``body``, ``text``, ``code``
    are dropped (use ``make_redactor(log_bodies=True)`` to keep them).
    """
    return redact_mapping(event_dict, log_bodies=False)


def _leading(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Put ``timestamp``, ``level``, ``event`` first: JSON lines read (and grep) better."""
    head = {k: event_dict.pop(k) for k in _LEADING if k in event_dict}
    return {**head, **event_dict}


def _level(name: str) -> int:
    number = LEVELS.get(name.lower()) if isinstance(name, str) else None
    if number is None:
        valid = ", ".join(LEVELS)
        raise ValueError(f"unknown log level {name!r}; use one of: {valid}")
    return number


class _StderrProxy:
    """Writes to whatever ``sys.stderr`` is *now* (pytest and ``redirect_stderr`` swap it;
    a stream bound once would end up closed)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return _is_tty(sys.stderr)


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty):
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # a closed or detached stream is not a terminal
        return False


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "info",
    stream: TextIO | None = None,
    log_bodies: bool = False,
) -> None:
    """Configure structlog and the stdlib root logger to write one shape of line.

    Args:
        json: True for JSON lines, False for the console renderer; None picks the
            console renderer when ``stream`` is a TTY, JSON lines otherwise.
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``; lines below
            it are dropped (structlog's filtering logger, and the root logger's level).
        stream: Where lines go (default: ``sys.stderr``, looked up at each write).
        log_bodies: Keep prompt/completion body fields (they are dropped otherwise).

    Raises:
        ValueError: ``level`` is not one of the names above.

    Calling it again replaces the previous configuration (the stdlib handler too).
    """
    number = _level(level)
    out: Any = _StderrProxy() if stream is None else stream
    tty = _is_tty(out)
    as_json = (not tty) if json is None else json
    renderer: Processor
    if as_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=tty, exception_formatter=structlog.dev.plain_traceback
        )
    # Exceptions are formatted to text *before* redaction, so a secret in a message or
    # traceback is masked; the console renderer then prints that text as it is.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        make_redactor(log_bodies=log_bodies),
    ]
    if as_json:
        shared.append(_leading)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        context_class=dict,
        # Not cached: module-level loggers must follow a later configure_logging (or
        # structlog.testing.capture_logs) instead of keeping the first configuration.
        cache_logger_on_first_use=False,
    )
    _configure_stdlib(out, number, shared, renderer)


def _configure_stdlib(
    out: TextIO, number: int, shared: list[Processor], renderer: Processor
) -> None:
    """Route stdlib ``logging`` (uvicorn, httpx) through the same processors.

    uvicorn's loggers reach this handler when uvicorn is run with ``log_config=None``
    (its default config installs handlers of its own and stops propagation).
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(number)
    # httpx logs every request at info, which the runtime's own lines already cover;
    # httpcore's debug lines are per-socket-operation noise. Both show at debug.
    quiet = logging.WARNING if number > logging.DEBUG else logging.NOTSET
    logging.getLogger("httpx").setLevel(quiet)
    logging.getLogger("httpcore").setLevel(quiet)


def log_requests(rt: Runtime) -> Callable[[], None]:
    """Log one ``runtime.request`` line per finished request of ``rt``; returns an undo.

    The line is at info level (warning when the request failed or a stream was
    interrupted) and carries the request's id, role, asked model, kind, stream flag,
    outcome, who answered, attempts, fallbacks (count and ``a->b`` chain), failure
    classes, latency, TTFT, token counts, and the error when it failed. Call after
    ``rt.start()``.
    """
    lines = RequestLines()

    def feed(event: Event) -> None:
        line = lines.feed(event)
        if line is None:
            return
        fields = line.fields()
        if line.outcome in ("failed", "interrupted"):
            log.warning("runtime.request", **fields)
        else:
            log.info("runtime.request", **fields)

    undos = [rt.on(event_type, feed) for event_type in _REQUEST_EVENTS]

    def undo() -> None:
        for remove in undos:
            remove()

    return undo
