"""Terminal-safe output: ``escape`` itself, then every command over a hostile log.

The hostile log is the demo log with control characters (ESC sequences, BEL, CR,
backspace, C1, DEL, a bidi override, tab, newline) added to every name and text it holds
and to its stream names, plus a catalog failure and an event of an unknown, hostile type.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import Event, ModelListFailed, ModelListRefreshed, SqliteEventLog, StoredEvent
from runtime.inspect import main
from runtime.inspect._escape import OUR_COLOR_CODES, escape, is_unsafe, json_safe
from tests.runtime.inspect._logs import insert_row

EVIL = "\x1b]0;owned\x07\x1b[31m\x1b[2J\r\x08\x01\x7f\x9b6n\u202eevil\ttab\nnl"
"""Control characters a hostile backend or log could hold (no ``@`` or ``/``: see ``_evil``)."""
_OURS = re.compile("|".join(re.escape(code) for code in OUR_COLOR_CODES))
_CONTROL = st.characters(codec="utf-8", categories=("Cc", "Zl", "Zp", "Cf"))


# The escaping function -----------------------------------------------------------------


def test_escape_shows_controls_as_escapes() -> None:
    assert escape("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert escape("x\ny\r\tz") == "x\\ny\\r\\tz"
    assert escape("\x9b\x7f\x00") == "\\x9b\\x7f\\x00"
    assert escape("\u202eabc\u2028") == "\\u202eabc\\u2028"
    assert escape("two\nlines\x1b", keep_newlines=True) == "two\nlines\\x1b"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp"))))
def test_escape_leaves_printable_text_unchanged(text: str) -> None:
    if not any(is_unsafe(c) for c in text):  # only the bidi marks of Cf are unsafe
        assert escape(text) == text


@given(st.text(alphabet=st.one_of(_CONTROL, st.characters(codec="utf-8"))))
def test_escape_output_never_holds_an_unsafe_character(text: str) -> None:
    escaped = escape(text)
    assert not any(is_unsafe(c) for c in escaped)
    assert escape(escaped) == escaped
    kept = escape(text, keep_newlines=True)
    assert kept.count("\n") == text.count("\n")
    assert not any(is_unsafe(c) for c in kept.replace("\n", ""))


@given(st.text(alphabet=st.one_of(_CONTROL, st.characters(codec="utf-8"))))
def test_json_safe_keeps_the_document_and_escapes_what_json_leaves_raw(text: str) -> None:
    encoded = json_safe(msgspec.json.encode({"value": text}).decode("utf-8"))
    assert json.loads(encoded) == {"value": text}
    assert not any(is_unsafe(c) for c in encoded)


def test_every_escape_is_visible_text() -> None:
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        shown = escape(chr(code))
        assert shown.startswith("\\") and shown.isprintable() and shown.isascii()


# A hostile log -------------------------------------------------------------------------


def _evil(value: str) -> str:
    """``value`` with ``EVIL`` after each ``@``-separated part (deployments stay joinable)."""
    return "@".join(part + EVIL for part in value.split("@")) if value else value


def _evil_value(value: Any) -> Any:
    if isinstance(value, str):
        return _evil(value)
    if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
        return tuple(_evil(item) for item in value)
    return value


def _evil_event(event: Event) -> Event:
    changes = {
        f.name: _evil_value(getattr(event, f.name)) for f in msgspec.structs.fields(type(event))
    }
    return msgspec.structs.replace(event, **changes)


def _evil_stream(stream: str) -> str:
    kind, slash, subject = stream.partition("/")
    return f"{kind}/{_evil(subject)}" if slash else _evil(stream)


async def _write_hostile(path: Path, events: list[StoredEvent]) -> None:
    clock = [0.0]
    async with await SqliteEventLog.open(path, now=lambda: clock[0]) as log:
        for stored in events:
            assert isinstance(stored.event, Event)
            clock[0] = stored.timestamp
            await log.append(_evil_stream(stored.stream), [_evil_event(stored.event)])
        at = clock[0]
        endpoint = _evil("a")
        await log.append(
            f"catalog/{endpoint}",
            [
                ModelListRefreshed(endpoint=endpoint, models=(_evil("llama3"), EVIL), at=at),
                ModelListFailed(endpoint=endpoint, error=f"HTTP 500: {EVIL}", at=at),
            ],
        )


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory,
    demo: tuple[Path, dict[str, str]],
    everything: list[StoredEvent],
) -> tuple[Path, dict[str, str]]:
    """The hostile log's path and the demo's request ids (prefixes of the hostile ids)."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    asyncio.run(_write_hostile(path, everything))
    conn = sqlite3.connect(path)
    with conn:  # an event of a type no release knows, named and streamed with controls
        (last,) = conn.execute("SELECT MAX(position) FROM log_events").fetchone()
        insert_row(
            conn,
            last + 1,
            stream=f"odd/{EVIL}",
            version=1,
            timestamp=1_700_000_100.0,
            type=f"Evil{EVIL}",
            payload=b'{"x": 1}',
        )
    conn.close()
    return path, demo[1]


def _quoted(text: str) -> str:
    return f'"{text}"'


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _strings(value: object) -> list[str]:
    """Every string in decoded JSON, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *_strings(list(value.values()))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _assert_terminal_safe(text: str, *, color: bool) -> None:
    """No unsafe character but newlines (and our own colour codes when ``color``)."""
    rest = _OURS.sub("", text) if color else text
    raw = sorted({f"U+{ord(c):04X}" for c in rest if is_unsafe(c) and c != "\n"})
    assert not raw, f"raw control characters reached the output: {raw}"


def _commands(ids: dict[str, str]) -> list[list[str]]:
    explains = [["explain", ids[name]] for name in ("ok_request", "failed_request")]
    return [
        ["stats"],
        ["tail", "--all"],
        ["tail", "-n", "5"],
        ["verify"],
        ["verify", "--strict"],
        ["state"],
        ["state", "--at", "40"],
        *explains,
        ["explain", ids["fallback_request"]],
        ["timeline"],
        ["timeline", _evil("llama3")],
    ]


@pytest.mark.parametrize("color", ["never", "always"])
@pytest.mark.parametrize("width", ["", "80"])
def test_every_command_escapes_what_the_log_holds(
    hostile: tuple[Path, dict[str, str]], color: str, width: str
) -> None:
    path, ids = hostile
    options = ["--color", color, *(["--width", width] if width else [])]
    for command in _commands(ids):
        code, out, err = _run(str(path), *command, *options)
        assert code in (0, 1), (command, err)
        assert "Traceback" not in err, command
        _assert_terminal_safe(out, color=color == "always")
        _assert_terminal_safe(err, color=False)
        assert "\\x1b" in out, (command, out)
        if color == "always":
            assert "\x1b[" in out  # our colours survive


def test_tail_shows_each_hostile_value_escaped_on_one_line(
    hostile: tuple[Path, dict[str, str]],
) -> None:
    code, out, _ = _run(str(hostile[0]), "tail", "--all", "--color", "always")
    lines = _OURS.sub("", out).splitlines()
    assert code == 0 and all(line[:6].strip().isdigit() for line in lines)
    shown = escape(EVIL)
    assert "\\x1b]0;owned\\x07" in shown and "\\u202eevil\\ttab\\nnl" in shown
    # The type and stream columns are cut to their width, after escaping.
    assert any("odd/\\x1b]0;owned" in line and "Evil\\x1b]0;" in line for line in lines)
    assert any(f"reason={_quoted('shutdown' + shown)}" in line for line in lines)
    assert any(f'error="HTTP 500: {shown}"' in line for line in lines)


def test_json_output_is_terminal_safe_and_keeps_the_values(
    hostile: tuple[Path, dict[str, str]],
) -> None:
    path, ids = hostile
    for command in _commands(ids):
        code, out, err = _run(str(path), *command, "--json")
        assert code in (0, 1), (command, err)
        _assert_terminal_safe(out, color=False)
        records = [json.loads(line) for line in out.splitlines()]
        assert any(EVIL in text for text in _strings(records)), command


def test_an_error_line_escapes_what_the_user_or_log_put_in_it(
    hostile: tuple[Path, dict[str, str]],
) -> None:
    code, out, err = _run(str(hostile[0]), "explain", f"zz{EVIL}")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    _assert_terminal_safe(err, color=False)
    assert "\\x1b" in err
