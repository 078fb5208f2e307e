"""The lines ``configure_logging`` writes: a formatter (JSON or console) and a handler.

``LineFormatter`` renders any ``logging`` record. The runtime's own records (made by
``events.get_logger``) carry their event name and fields; other records (uvicorn, an
entry point's ``logging`` calls) become ``event`` = their message. Everything written
is redacted: fields by name and value, message and exception text by value.

``LineHandler`` writes one line per record to a stream, by default whatever
``sys.stderr`` is at that moment (pytest and ``redirect_stderr`` swap it). When the
reader has gone away (``python -m runtime.serve 2>&1 | head``) it stops writing for
good: no retry, no traceback printed to the dead stream, nothing blocks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from events import LogLine
from runtime._redaction import redact_mapping, redact_text

__all__ = ["LineFormatter", "LineHandler", "is_tty"]

_COLOURS = {
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_RESET, _DIM, _BOLD, _KEY = "\x1b[0m", "\x1b[2m", "\x1b[1m", "\x1b[36m"


def is_tty(stream: object) -> bool:
    """Whether ``stream`` is a terminal (a closed or detached stream is not)."""
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty):
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):
        return False


def _printable(text: str) -> str:
    """``text`` with control characters escaped (a terminal must not obey them)."""
    return text if text.isprintable() else repr(text)[1:-1]


class LineFormatter(logging.Formatter):
    """One JSON object, or one aligned console line, per record; secrets masked.

    Args:
        as_json: JSON lines (``timestamp``, ``level``, ``logger``, ``event`` first).
        colors: ANSI colours in console lines.
        log_bodies: Keep prompt/completion body fields (their text is still scanned).
    """

    def __init__(self, *, as_json: bool, colors: bool = False, log_bodies: bool = False):
        super().__init__()
        self.as_json = as_json
        self.colors = colors
        self.log_bodies = log_bodies

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record)
        return self._json(entry) if self.as_json else self._console(entry)

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as a dict: timestamp, level, logger, event, fields, exception."""
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "timestamp": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        line = record.msg
        if isinstance(line, LogLine):
            entry["event"] = line.event
            fields = redact_mapping(line.fields, log_bodies=True) if self.log_bodies else line.clean
        else:
            entry["event"] = redact_text(record.getMessage())
            fields = {}
        entry.update((k, v) for k, v in fields.items() if k not in entry)
        exception = self._exception(record)
        if exception:
            entry["exception"] = exception
        return entry

    def _exception(self, record: logging.LogRecord) -> str:
        # The runtime's records carry redacted exc_text only; others may carry exc_info.
        parts = [record.exc_text or ""]
        if not parts[0] and record.exc_info:
            parts[0] = self.formatException(record.exc_info)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return redact_text("\n".join(p for p in parts if p))

    def _json(self, entry: dict[str, Any]) -> str:
        return json.dumps(entry, default=repr)

    def _console(self, entry: dict[str, Any]) -> str:
        level, event = entry.pop("level"), _printable(entry.pop("event"))
        when, name = entry.pop("timestamp"), entry.pop("logger")
        exception = entry.pop("exception", None)
        pairs = [(k, v if isinstance(v, str) and v.isprintable() else repr(v))
                 for k, v in entry.items()]  # fmt: skip
        if self.colors:
            colour = _COLOURS.get(level, "")
            head = f"{_DIM}{when}{_RESET} [{colour}{level:<8}{_RESET}] {_BOLD}{event:<30}{_RESET}"
            body = " ".join(f"{_KEY}{k}{_RESET}={v}" for k, v in pairs)
            tail = f" {_DIM}({name}){_RESET}"
        else:
            head = f"{when} [{level:<8}] {event:<30}"
            body = " ".join(f"{k}={v}" for k, v in pairs)
            tail = f" ({name})"
        text = f"{head} {body}{tail}" if body else f"{head}{tail}"
        if exception:
            text += "\n" + "\n".join(_printable(part) for part in exception.split("\n"))
        return text


class LineHandler(logging.Handler):
    """Writes formatted records to ``stream`` (default: the current ``sys.stderr``).

    A ``BrokenPipeError`` (or a stream closed under it) means nobody reads any more: the
    handler turns itself off (``broken``) instead of raising, retrying, or printing a
    traceback to that same stream.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self.broken = False
        """True once writing failed because the reader is gone; nothing is written after."""

    @property
    def stream(self) -> TextIO:
        """Where lines go now."""
        return sys.stderr if self._stream is None else self._stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            text = self.format(record) + "\n"
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        try:
            stream = self.stream
            stream.write(text)
            stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: "I/O operation on closed file"
            self.broken = True
        except OSError:
            self.handleError(record)
