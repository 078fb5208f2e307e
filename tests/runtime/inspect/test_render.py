"""Text rendering: tables, tones, colour only when asked, event lines and JSON records."""

from __future__ import annotations

import json

import msgspec

from events import (
    AttemptFailed,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    HealthOutcomeRecorded,
    RequestSucceeded,
    StoredEvent,
    UnknownEvent,
)
from runtime.inspect._render import (
    UNLIMITED_WIDTH,
    Style,
    Table,
    colorize,
    dumps_json,
    event_fields,
    event_record,
    event_tone,
    format_event_line,
    render_table,
    tone_of,
    truncate,
    utc_iso,
)

PLAIN = Style(color=False, width=100)
COLOUR = Style(color=True, width=100)
ESC = "\x1b["


def stored(event: Event | UnknownEvent, *, position: int = 7, stream: str = "s") -> StoredEvent:
    name = event.type if isinstance(event, UnknownEvent) else type(event).__name__
    return StoredEvent(
        position=position,
        stream=stream,
        stream_version=1,
        timestamp=1_700_000_000.25,
        type=name,
        schema_version=1,
        idempotency_key=None,
        event=event,
    )


def test_table_aligns_columns_under_a_title_with_a_note() -> None:
    table = Table(
        title="Health",
        headers=("deployment", "status"),
        rows=(("llama3@a", "healthy"), ("qwen@b", "quarantined")),
        note="2 deployments",
    )
    lines = render_table(table, PLAIN).splitlines()
    assert lines == [
        "Health",
        "deployment  status",
        "llama3@a    healthy",
        "qwen@b      quarantined",
        "2 deployments",
    ]


def test_table_shrinks_the_widest_column_with_an_ellipsis() -> None:
    long = "x" * 200
    table = Table(title="T", headers=("a", "b"), rows=(("short", long),))
    lines = render_table(table, Style(width=40)).splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines[2].startswith("short  ") and lines[2].endswith("…")


def test_table_without_rows_says_none_and_pads_short_rows() -> None:
    empty = render_table(Table(title="T", headers=("a", "b"), rows=()), PLAIN)
    assert empty.splitlines()[-1] == "(none)"
    ragged = render_table(Table(title="", headers=("a", "b"), rows=(("1",),)), PLAIN)
    assert ragged.splitlines() == ["a  b", "1"]


def test_plain_style_has_no_ansi_and_colour_marks_title_and_status() -> None:
    table = Table(title="T", headers=("name", "status"), rows=(("x", "failed"), ("y", "ok")))
    assert ESC not in render_table(table, PLAIN)
    coloured = render_table(table, COLOUR)
    assert "\x1b[1mT\x1b[0m" in coloured
    assert "\x1b[31mfailed\x1b[0m" in coloured and "\x1b[32mok\x1b[0m" in coloured
    # Colour codes do not change the visible layout.
    visible = [line.replace("\x1b[0m", "") for line in coloured.splitlines()]
    stripped = ["".join(part.split("m", 1)[-1] for part in v.split(ESC)) for v in visible]
    assert stripped == render_table(table, PLAIN).splitlines()


def test_tone_of_status_words() -> None:
    assert [tone_of(s) for s in ("healthy", "Succeeded", "ok")] == ["good"] * 3
    assert [tone_of(s) for s in ("quarantined", "degraded", "probing", "warning")] == ["warn"] * 4
    assert [tone_of(s) for s in ("failed", "error", "failed (timeout)")] == ["bad"] * 3
    assert tone_of("unknown") == "dim" and tone_of("something else") == ""


def test_colorize_only_with_colour_and_a_known_tone() -> None:
    assert colorize("x", "bad", PLAIN) == "x"
    assert colorize("x", "bad", COLOUR) == "\x1b[31mx\x1b[0m"
    assert colorize("x", "", COLOUR) == "x" and colorize("", "good", COLOUR) == ""


def test_dumps_json_is_one_line_of_builtins() -> None:
    event = DeploymentRecovered(deployment="m@e", at=1.5, previous="probing")
    text = dumps_json({"event": event, "note": "two\nlines"})
    assert "\n" not in text
    assert json.loads(text)["event"]["previous"] == "probing"


def test_truncate() -> None:
    assert truncate("abcdef", 10) == "abcdef"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abcdef", 1) == "…" and truncate("abcdef", 0) == ""


def test_event_tone_by_kind() -> None:
    failed = AttemptFailed(
        request_id="r", at=1.0, attempt=1, deployment="m@e", failure="timeout", retryable=True
    )
    quarantined = DeploymentQuarantined(deployment="m@e", at=1.0, until=2.0, quarantine_count=1)
    recovered = DeploymentRecovered(deployment="m@e", at=1.0)
    success = RequestSucceeded(
        request_id="r", at=1.0, model="m", endpoint="e", attempts=1, latency_s=0.1
    )
    outcome = HealthOutcomeRecorded(deployment="m@e", at=1.0, ok=True)
    unknown = UnknownEvent(type="Future", schema_version=1, payload=b"{}")
    tones = [event_tone(stored(e)) for e in (failed, quarantined, recovered, success, outcome)]
    assert tones == ["bad", "warn", "good", "good", ""]
    assert event_tone(stored(unknown)) == "dim"


def test_event_fields_leave_out_defaults_and_what_the_stream_names() -> None:
    event = AttemptFailed(
        request_id="r1",
        at=1.0,
        attempt=2,
        deployment="llama3@a",
        failure="server_error",
        retryable=True,
        status=500,
        message="HTTP 500: boom",
    )
    fields = dict(event_fields(stored(event, stream="request/r1")))
    assert fields == {
        "attempt": "2",
        "deployment": "llama3@a",
        "failure": "server_error",
        "retryable": "true",
        "status": "500",
        "message": '"HTTP 500: boom"',
    }
    health = DeploymentRecovered(deployment="llama3@a", at=1.0, previous="probing")
    assert event_fields(stored(health, stream="health/llama3@a")) == [("previous", "probing")]


def test_event_line_fits_the_width_and_shows_the_essentials() -> None:
    event = AttemptFailed(
        request_id="r1",
        at=1.0,
        attempt=1,
        deployment="llama3@a",
        failure="timeout_first_byte",
        retryable=True,
        message="x" * 500,
    )
    line = format_event_line(stored(event, position=42, stream="request/r1"), Style(width=120))
    assert len(line) <= 120 and line.endswith("…")
    assert line.split()[0] == "42" and "AttemptFailed" in line and "attempt=1" in line
    assert ESC not in line
    piped = format_event_line(stored(event), Style(width=UNLIMITED_WIDTH))
    assert "x" * 500 in piped  # piped output is never truncated
    coloured = format_event_line(stored(event), Style(color=True, width=120))
    assert "\x1b[31mAttemptFailed" in coloured


def test_event_record_of_a_known_and_an_unknown_event() -> None:
    event = DeploymentRecovered(deployment="m@e", at=1.0, previous="degraded")
    record = json.loads(dumps_json(event_record(stored(event, stream="health/m@e"))))
    assert record["position"] == 7 and record["stream"] == "health/m@e"
    assert record["time"] == "2023-11-14T22:13:20.250Z" and record["timestamp"] == 1_700_000_000.25
    assert record["type"] == "DeploymentRecovered" and record["schema_version"] == 1
    assert record["stream_version"] == 1
    assert msgspec.convert(record["event"], DeploymentRecovered) == event
    unknown = UnknownEvent(
        type="Future", schema_version=3, payload=b'{"a":1}', reason="unknown type"
    )
    record = json.loads(dumps_json(event_record(stored(unknown))))
    assert record["event"] is None
    assert record["unknown"] == {"reason": "unknown type", "type": "Future", "payload": '{"a":1}'}


def test_utc_iso() -> None:
    assert utc_iso(0.0) == "1970-01-01T00:00:00.000Z"
