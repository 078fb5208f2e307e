"""Capturing the runtime's log lines in tests, through the standard ``logging`` tree.

``capture_logs()`` attaches a handler to the ``runtime`` logger (at debug, for the
duration of the block) and collects each line as a dict: ``event``, ``log_level``, the
line's fields and ``exception`` (traceback text) -- redacted, as every handler gets them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from events import ROOT_LOGGER


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        event = getattr(record, "llmrt_event", record.getMessage())
        fields = getattr(record, "llmrt_fields", {})
        line = {"event": event, **fields, "log_level": record.levelname.lower()}
        if record.exc_text:
            line["exception"] = record.exc_text  # the redacted traceback
        self.lines.append(line)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """Collect the lines logged under ``runtime`` in the block (``level`` and up)."""
    logger = logging.getLogger(ROOT_LOGGER)
    handler, saved = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


@contextmanager
def capture_records(level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Like ``capture_logs``, the ``logging.LogRecord`` objects themselves."""
    logger = logging.getLogger(ROOT_LOGGER)
    handler, saved = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
