"""Logging set-up for entry points, secret redaction, and the canonical request line.

The runtime is silent in its host: library code logs through ``events.get_logger``
onto the standard ``logging`` tree under the ``runtime`` logger, which carries only a
``NullHandler``. A host sees the lines by configuring ``logging`` as usual (e.g.
``logging.getLogger("runtime").setLevel(logging.INFO)`` with a handler of its own, or
``logging.basicConfig``). Entry points (the CLIs, examples) call ``configure_logging``::

    configure_logging()                      # console on a TTY, JSON lines otherwise
    configure_logging(json=True, level="debug")
    undo = log_requests(rt)                  # one ``runtime.request`` line per request

``configure_logging`` touches the ``runtime`` logger only (its handler and level): the
root logger, uvicorn's and httpx's loggers keep their levels, handlers and formats. An
entry point that wants another library's lines in the same shape attaches the returned
handler to that library's logger itself (``runtime.serve`` does so for uvicorn).

Every line is redacted (``events._redaction``: secrets by field name and by value
pattern, prompt/completion bodies dropped unless ``log_bodies``), exception text too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

from events import (
    ROOT_LOGGER,
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
from runtime._log_format import LineFormatter, LineHandler, is_tty
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

_HANDLER_MARK = "_llmrt_handler"
"""Attribute set on the handler we install, so a second call replaces it."""

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

EventDict = MutableMapping[str, Any]

Redactor = Callable[[Any, str, EventDict], EventDict]
"""A structlog-style processor ``(logger, method, event_dict) -> event_dict``, for hosts
that log through structlog and want the runtime's redaction (``make_redactor``)."""


def make_redactor(*, log_bodies: bool = False) -> Redactor:
    """A structlog-style processor masking secrets; it keeps bodies if ``log_bodies``."""

    def redact(logger: Any, method: str, event_dict: EventDict) -> EventDict:
        return redact_mapping(event_dict, log_bodies=log_bodies)

    return redact


def redact_secrets(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """The default redaction processor: secrets masked, body fields dropped.

    By name: ``api_key``, ``token``, ``authorization``, ``password``, ``cookie``... (at
    any depth) become ``[redacted]``. By value: ``Bearer ...``, ``sk-...``,
    ``Authorization: ...``, ``?key=...``, ``user:pass@`` inside any string are masked.
    ``prompt``, ``messages``, ``content``, ``completion``, ``body``, ``text``, ``code``
    are dropped (use ``make_redactor(log_bodies=True)`` to keep them).
    """
    return redact_mapping(event_dict, log_bodies=False)


def _level(name: str) -> int:
    number = LEVELS.get(name.lower()) if isinstance(name, str) else None
    if number is None:
        valid = ", ".join(LEVELS)
        raise ValueError(f"unknown log level {name!r}; use one of: {valid}")
    return number


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "info",
    stream: TextIO | None = None,
    log_bodies: bool = False,
) -> logging.Handler:
    """Print the runtime's log lines: for entry points, never for a library's host.

    Installs one handler on the ``runtime`` logger and sets that logger's level; no
    other logger is touched (the root logger, uvicorn, httpx keep theirs).

    Args:
        json: True for JSON lines, False for console lines; None picks console lines
            when ``stream`` is a TTY, JSON lines otherwise.
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``; lines below
            it are dropped (it becomes the ``runtime`` logger's level).
        stream: Where lines go (default: ``sys.stderr``, looked up at each write).
            A reader that goes away (a closed pipe) turns the handler off, silently.
        log_bodies: Keep prompt/completion body fields (they are dropped otherwise).

    Returns:
        The handler, for an entry point that sends another library's logger to it.

    Raises:
        ValueError: ``level`` is not one of the names above.

    Calling it again replaces the handler installed by the previous call.
    """
    number = _level(level)
    handler = LineHandler(stream)
    tty = is_tty(handler.stream)
    handler.setFormatter(
        LineFormatter(as_json=(not tty) if json is None else json, colors=tty,
                      log_bodies=log_bodies)
    )  # fmt: skip
    setattr(handler, _HANDLER_MARK, True)
    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(number)
    return handler


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
