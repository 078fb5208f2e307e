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
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ROOT_LOGGER", "KeywordLogger", "LogLine", "get_logger"]

ROOT_LOGGER = "runtime"
"""Every logger of the runtime's packages is a child of this one."""

logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())


class LogLine:
    """A record's message: an event name and its fields, rendered only when read."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: dict[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        if not self.fields:
            return self.event
        rendered = " ".join(f"{key}={value!r}" for key, value in self.fields.items())
        return f"{self.event} {rendered}"


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
        exc_info = fields.pop("exc_info", None)
        merged = {**self._context, **fields} if self._context else fields
        self._logger.log(
            level,
            LogLine(event, merged),
            exc_info=exc_info,
            extra={"llmrt_event": event, "llmrt_fields": merged},
            stacklevel=3,
        )


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
