"""Text rendering for the viewer: aligned tables, colour tones, one-line JSON.

Pure: no I/O here; the CLI (``runtime.inspect._cli.style_for``) decides colour and width
from the output stream and writes the text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from events import StoredEvent, UnknownEvent
from runtime.inspect._escape import escape, json_safe

__all__ = [
    "Style",
    "Table",
    "colorize",
    "dumps_json",
    "event_record",
    "event_tone",
    "event_fields",
    "format_event_line",
    "local_time",
    "render_table",
    "tone_of",
    "UNLIMITED_WIDTH",
    "truncate",
    "utc_iso",
]

# Piped output is never truncated: a width no line reaches.
UNLIMITED_WIDTH = 1_000_000

_ANSI = {
    "good": "\x1b[32m",
    "bad": "\x1b[31m",
    "warn": "\x1b[33m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}
_RESET = "\x1b[0m"

_GOOD = frozenset(
    {"healthy", "succeeded", "success", "ok", "recovered", "passed", "stabilized", "closed"}
)
_WARN = frozenset(
    {
        "quarantined",
        "degraded",
        "probing",
        "warning",
        "fallback",
        "retry",
        "reserved",
        "half-open",
        "open",
    }
)
_BAD = frozenset({"failed", "error", "failure", "exceeded", "rejected", "down", "unavailable"})
_DIM = frozenset({"unknown", "-", ""})

_encoder = msgspec.json.Encoder()

# Columns whose cells are coloured by their value (see ``render_table``).
_STATUS_HEADERS = frozenset({"status", "state", "outcome", "result", "health"})


class Style(msgspec.Struct, frozen=True, kw_only=True):
    """How to render: colour on or off and the line width to fit."""

    color: bool = False
    """Emit ANSI colour codes (only on a terminal, unless forced)."""
    width: int = 100
    """The widest line to produce; long cells are truncated with an ellipsis."""


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A titled table of text cells."""

    title: str
    """Printed above the table (bold when coloured)."""
    headers: tuple[str, ...]
    """Column names."""
    rows: tuple[tuple[str, ...], ...]
    """Cells, one tuple per row, as many cells as headers."""
    note: str = ""
    """Printed under the table when not empty."""


def colorize(text: str, tone: str, style: Style) -> str:
    """Wrap ``text`` in the ANSI colour of ``tone`` when ``style.color``; else return it.

    Args:
        text: The text to colour.
        tone: One of ``good``, ``bad``, ``warn``, ``dim``, ``bold`` or ``""`` (no colour).
        style: Colour is applied only when ``style.color`` is true.

    The text is escaped first (newlines kept): data can never forge our colour codes.
    """
    text = escape(text, keep_newlines=True)
    code = _ANSI.get(tone)
    if not style.color or code is None or not text:
        return text
    return f"{code}{text}{_RESET}"


def tone_of(status: str) -> str:
    """Return the tone for a status word (``healthy`` -> ``good``, ``failed`` -> ``bad``).

    Matching ignores case and looks at the first word, so ``"failed (timeout)"`` is bad.
    """
    word = status.strip().lower()
    first = word.split()[0].rstrip(":,") if word else ""
    for candidate in (word, first):
        if candidate in _BAD:
            return "bad"
        if candidate in _WARN:
            return "warn"
        if candidate in _GOOD:
            return "good"
        if candidate in _DIM:
            return "dim"
    return ""


def dumps_json(obj: object) -> str:
    """Encode ``obj`` (builtins or msgspec Structs) as one line of terminal-safe JSON."""
    return json_safe(_encoder.encode(msgspec.to_builtins(obj)).decode("utf-8"))


def truncate(text: str, width: int) -> str:
    """Shorten ``text`` to at most ``width`` characters, ending with "…" when cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return "…"
    return text[: width - 1] + "…"


def _fit_widths(widths: list[int], budget: int) -> list[int]:
    """Shrink the widest columns one character at a time until they fit ``budget``."""
    fitted = list(widths)
    while sum(fitted) > budget and max(fitted, default=0) > 1:
        widest = max(range(len(fitted)), key=lambda i: fitted[i])
        fitted[widest] -= 1
    return fitted


def _cells(row: tuple[str, ...], count: int) -> list[str]:
    """Pad or cut ``row`` to exactly ``count`` cells, escaped (a newline shows as ``\\n``)."""
    cells = [escape(cell) for cell in row[:count]]
    return cells + [""] * (count - len(cells))


def render_table(table: Table, style: Style) -> str:
    """Render ``table`` as aligned text no wider than ``style.width``.

    The title is the first line; columns are separated by two spaces; when the table is
    too wide the widest column is truncated with "…" until it fits. With colour, the title
    is bold, the header dim, and cells of a status-like column (``status``, ``state``,
    ``outcome``, ``result``, ``health``) are coloured by ``tone_of``. The result ends
    without a newline.
    """
    count = len(table.headers)
    rows = [_cells(row, count) for row in table.rows]
    natural = [len(h) for h in table.headers]
    for row in rows:
        natural = [max(w, len(cell)) for w, cell in zip(natural, row, strict=True)]
    separators = 2 * max(count - 1, 0)
    widths = _fit_widths(natural, max(style.width - separators, count))
    status_columns = {
        i for i, header in enumerate(table.headers) if header.lower() in _STATUS_HEADERS
    }
    lines = [colorize(escape(table.title), "bold", style)] if table.title else []
    if count:
        header = _join(list(table.headers), widths, style, set(), header=True)
        lines.append(header)
        lines.extend(_join(row, widths, style, status_columns, header=False) for row in rows)
    if not rows and count:
        lines.append(colorize("(none)", "dim", style))
    if table.note:
        lines.append(colorize(table.note, "dim", style))
    return "\n".join(lines)


def _join(
    cells: list[str], widths: list[int], style: Style, coloured: set[int], *, header: bool
) -> str:
    """Join one row's cells padded to ``widths``; colour after padding keeps alignment."""
    parts: list[str] = []
    last = len(cells) - 1
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        text = truncate(cell, width)
        padded = text if i == last else text.ljust(width)
        if header:
            padded = colorize(padded, "dim", style) if padded.strip() else padded
        elif i in coloured:
            padded = colorize(text, tone_of(cell), style) + padded[len(text) :]
        parts.append(padded)
    return "  ".join(parts).rstrip()


# Event lines (``tail``) ---------------------------------------------------------------

_STREAM_COLUMN = 28
"""Wide enough for ``request/<20-hex-digit id>``."""
_TYPE_COLUMN = 24
"""Wide enough for the longest built-in type name (``DeploymentProbingStarted``)."""
_WIDE = 120
"""Terminals at least this wide get the aligned layout with dates."""
_VALUE_WIDTH = 60
"""Longest single ``key=value`` value on a terminal line."""
_TIME_FIELDS = frozenset({"at", "until", "resets_at"})
"""Fields holding wall-clock epoch seconds: shown as local times."""
_BAD_TYPES = frozenset({"StreamInterrupted", "QuotaExceededRecorded"})
_WARN_TYPES = frozenset(
    {
        "DeploymentQuarantined",
        "DeploymentDegraded",
        "DeploymentProbingStarted",
        "CandidateSkipped",
        "FallbackSwitched",
        "QuotaWarningIssued",
        "ActorRestarted",
        "RequestCancelled",
    }
)
_GOOD_TYPES = frozenset({"DeploymentRecovered", "DeploymentStabilized", "CheckPassed"})


def utc_iso(timestamp: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds: ``2024-05-01T12:00:00.000Z``."""
    try:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, ValueError, OSError):  # a damaged row's timestamp
        return f"<bad time {timestamp:g}>"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(timestamp: float, *, date: bool = True) -> str:
    """Epoch seconds as local time: ``05-01 14:00:00`` (``date=False``: ``14:00:00``)."""
    try:
        moment = datetime.fromtimestamp(timestamp)
    except (OverflowError, ValueError, OSError):  # a damaged row's timestamp
        return f"<bad time {timestamp:g}>"
    return moment.strftime("%m-%d %H:%M:%S" if date else "%H:%M:%S")


def event_tone(stored: StoredEvent) -> str:
    """The tone of an event's type: failures bad, quarantines warn, recoveries good."""
    name = stored.type
    if isinstance(stored.event, UnknownEvent):
        return "dim"
    if name in _BAD_TYPES or name.endswith("Failed"):
        return "bad"
    if name in _WARN_TYPES:
        return "warn"
    if name in _GOOD_TYPES or name.endswith("Succeeded"):
        return "good"
    return ""


def event_record(stored: StoredEvent) -> dict[str, Any]:
    """The JSON object of one event (``tail --json``): envelope plus fields.

    An ``UnknownEvent`` has ``"event": null`` and ``"unknown": {"reason", "type",
    "payload"}`` (the raw payload as text).
    """
    record: dict[str, Any] = {
        "position": stored.position,
        "stream": stored.stream,
        "stream_version": stored.stream_version,
        "time": utc_iso(stored.timestamp),
        "timestamp": stored.timestamp,
        "type": stored.type,
        "schema_version": stored.schema_version,
    }
    event = stored.event
    if isinstance(event, UnknownEvent):
        record["event"] = None
        record["unknown"] = {
            "reason": event.reason,
            "type": event.type,
            "payload": event.payload.decode("utf-8", errors="replace"),
        }
    else:
        record["event"] = msgspec.to_builtins(event)
    return record


def _format_value(name: str, value: object) -> str:
    """One field value, compact: local times, short floats, quoted text with spaces."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and name in _TIME_FIELDS:
        return local_time(value, date=False)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple | list):
        return ",".join(_format_value(name, item) for item in value)
    if isinstance(value, str):
        plain = value and not any(c in value for c in ' \t\n"=')
        return escape(value) if plain else _quoted(value)
    return str(value)


def _quoted(value: str) -> str:
    """``value`` in double quotes, like JSON, but control characters shown as ``\\x1b``."""
    return '"' + escape(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def event_fields(stored: StoredEvent) -> list[tuple[str, str]]:
    """The event's fields worth a terminal line, as ``(name, text)`` pairs.

    Left out: values equal to their default or None, ``at`` (the time column shows when
    it was logged) and a value the stream name already holds (the ``request_id`` of a
    ``request/<id>`` stream, the ``deployment`` of ``health/<deployment>``...).
    """
    event = stored.event
    if isinstance(event, UnknownEvent):
        payload = event.payload.decode("utf-8", errors="replace")
        return [("reason", _format_value("reason", event.reason)), ("payload", escape(payload))]
    subject = stored.stream.partition("/")[2]
    pairs: list[tuple[str, str]] = []
    for field in msgspec.structs.fields(type(event)):
        value = getattr(event, field.name)
        if value is None or field.name == "at":
            continue
        if field.default is not msgspec.NODEFAULT and value == field.default:
            continue
        if isinstance(value, str) and value == subject:
            continue  # the stream already names it: request/<id>, health/<deployment>...
        pairs.append((field.name, _format_value(field.name, value)))
    return pairs


def format_event_line(stored: StoredEvent, style: Style, *, position_width: int = 6) -> str:
    """One terminal line: position, local time, stream, type, ``key=value`` fields.

    From ``_WIDE`` columns on, the columns are aligned and the time has its date; on a
    narrower terminal the line is compact (time of day, single spaces) so the fields
    still get room. Never wider than ``style.width``: long values are cut first, then
    the fields, then the columns.
    """
    wide = style.width >= _WIDE
    position = str(stored.position).rjust(position_width)
    when = local_time(stored.timestamp, date=wide)
    stream, kind = escape(stored.stream), escape(stored.type)
    if wide:
        stream = truncate(stream, _STREAM_COLUMN).ljust(_STREAM_COLUMN)
        kind = truncate(kind, _TYPE_COLUMN).ljust(_TYPE_COLUMN)
    values = _VALUE_WIDTH if style.width < UNLIMITED_WIDTH else UNLIMITED_WIDTH
    fields = " ".join(f"{k}={truncate(v, values)}" for k, v in event_fields(stored))
    segments = [(position, "dim"), (when, "dim"), (stream, ""), (kind, event_tone(stored))]
    segments.append((fields, ""))
    gap = "  " if wide else " "
    budget, parts = style.width, []
    for text, tone in segments:
        if budget <= 0:
            break
        cut = truncate(text, budget)
        parts.append(colorize(cut, tone, style) if cut.strip() else cut)
        budget -= len(cut) + len(gap)
    return gap.join(parts).rstrip()
