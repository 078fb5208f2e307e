"""Keyword logging through the standard library: the runtime is a guest in its host.

Library code logs dotted event names with keyword fields::

    log = get_logger(__name__)
    log.info("eventlog.opened", path=str(path), durability="normal")

Every line goes to a standard ``logging`` logger under ``runtime`` (``runtime.events``,
``runtime.actors``...), and ``runtime`` carries a ``NullHandler``: nothing is printed
unless the host configures logging (or an entry point calls
``runtime.configure_logging``). A level the host filters out costs one
``isEnabledFor`` check.

A record's message is a :class:`LogLine`: ``str()`` of it reads ``event key=value ...``
for hosts with plain formatters; ``record.llmrt_event`` and ``record.llmrt_fields`` carry
the parts for formatters that render them (``configure_logging``'s JSON and console).

Secrets never reach a host's handler (RELIABILITY.md: redacted in every sink): the
fields a record carries, its message text and its exception text are redacted when the
line is logged (``events._redaction``: secrets by name and by value, prompt/completion
bodies dropped). An exception is attached as redacted ``record.exc_text`` — which
``logging.Formatter`` prints as it is — never as ``record.exc_info``, whose traceback a
formatter would render from the raw exception message.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from events._redaction import REDACTED, redact_mapping, redact_text

__all__ = ["ROOT_LOGGER", "KeywordLogger", "LogLine", "exception_text", "get_logger"]

ROOT_LOGGER = "runtime"
"""Every logger of the runtime's packages is a child of this one."""

logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class LogLine:
    """A record's message: an event name and its fields, rendered only when read.

    Attributes:
        event: The dotted event name (``endpoint.request.failed``).
        fields: The fields as logged, secrets included: for a formatter that redacts
            by itself with other options (``configure_logging(log_bodies=True)``).
        clean: The fields with secrets masked and body fields dropped; ``str()``
            renders these.
    """

    __slots__ = ("clean", "event", "fields")

    def __init__(
        self, event: str, fields: dict[str, Any], clean: dict[str, Any] | None = None
    ) -> None:
        self.event = event
        self.fields = fields
        self.clean = redact_mapping(fields) if clean is None else clean

    def __str__(self) -> str:
        if not self.clean:
            return self.event
        rendered = " ".join(f"{key}={_show(value)}" for key, value in self.clean.items())
        return f"{self.event} {rendered}"

    def __repr__(self) -> str:
        return f"LogLine({str(self)!r})"


def _show(value: Any) -> str:
    # repr escapes control characters (a backend's error text may hold some).
    return REDACTED if value == REDACTED else repr(value)


def _exc_info(value: object) -> ExcInfo | None:
    """``exc_info=`` as ``logging`` reads it: True, an exception, or a sys.exc_info()."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    if value is True or (value and not isinstance(value, tuple)):
        current = sys.exc_info()
        return None if current[0] is None else current
    return None


def exception_text(exc_info: ExcInfo) -> str:
    """The traceback ``logging`` would print for ``exc_info``, secrets masked."""
    text = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    return redact_text(text)


class KeywordLogger:
    """A standard-library logger that takes an event name and keyword fields."""

    __slots__ = ("_context", "_logger")

    def __init__(self, logger: logging.Logger, context: dict[str, Any] | None = None) -> None:
        self._logger = logger
        self._context = context or {}

    @property
    def name(self) -> str:
        """The standard-library logger's name."""
        return self._logger.name

    def bind(self, **context: Any) -> KeywordLogger:
        """A logger adding ``context`` to every line it logs."""
        return KeywordLogger(self._logger, {**self._context, **context})

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at debug level."""
        if self._logger.isEnabledFor(logging.DEBUG):
            self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at info level."""
        if self._logger.isEnabledFor(logging.INFO):
            self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at warning level."""
        if self._logger.isEnabledFor(logging.WARNING):
            self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` at error level (``exc_info=`` attaches an exception)."""
        if self._logger.isEnabledFor(logging.ERROR):
            self._log(logging.ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        exc_info = _exc_info(fields.pop("exc_info", None))
        merged = {**self._context, **fields} if self._context else fields
        line = LogLine(event, merged)
        caller = sys._getframe(2)  # whoever called debug()/info()/warning()/error()
        record = self._logger.makeRecord(
            self._logger.name,
            level,
            caller.f_code.co_filename,
            caller.f_lineno,
            line,
            (),
            None,  # never the raw exception: see the module docstring
            caller.f_code.co_name,
            {"llmrt_event": event, "llmrt_fields": line.clean},
        )
        if exc_info is not None:
            record.exc_text = exception_text(exc_info)
        self._logger.handle(record)


def get_logger(module: str) -> KeywordLogger:
    """The keyword logger for ``module`` (pass ``__name__``), under ``runtime``.

    ``events._sqlite`` logs as ``runtime.events._sqlite``; a module of the ``runtime``
    package keeps its name.
    """
    if module == ROOT_LOGGER or module.startswith(ROOT_LOGGER + "."):
        name = module
    else:
        name = f"{ROOT_LOGGER}.{module}"
    return KeywordLogger(logging.getLogger(name))
