"""``stats`` and ``verify`` on real logs, and on logs damaged on purpose with sqlite3."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from events import SqliteEventLog, StoredEvent
from runtime.inspect import _verify, main
from runtime.inspect._stats import human_bytes, human_span
from runtime.inspect._verify import Decoding, SqlFacts, checks_of
from tests.runtime.inspect._logs import (
    copy_log,
    delete_rows,
    set_columns,
    set_payload,
    set_type,
)

pytestmark = pytest.mark.usefixtures("keep_logging")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def as_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(*argv, "--json")
    assert err == "" and out.count("\n") == 1
    return code, json.loads(out)


def damaged(source: Path, tmp_path: Path, damage: Callable[[sqlite3.Connection], None]) -> Path:
    """A copy of ``source`` changed with raw SQL, as a bug or a bad disk might."""
    path = copy_log(source, tmp_path)
    conn = sqlite3.connect(path)
    with conn:
        damage(conn)
    conn.close()
    return path


def test_stats_counts_what_the_log_holds(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    code, stats = as_json(str(demo[0]), "stats")
    types = Counter(e.type for e in everything)
    assert code == 0 and stats["events"] == len(everything)
    assert stats["by_type"] == dict(types)
    assert list(stats["by_type"].values()) == sorted(types.values(), reverse=True)
    assert (stats["first_position"], stats["last_position"]) == (1, everything[-1].position)
    assert stats["span_seconds"] == pytest.approx(
        everything[-1].timestamp - everything[0].timestamp
    )
    assert stats["first_time"].endswith("Z") and stats["file_bytes"] > 0
    assert stats["streams"] == len({e.stream for e in everything})
    assert stats["unknown"] == 0
    assert stats["requests"] == {
        "started": types["RequestStarted"],
        "succeeded": types["RequestSucceeded"],
        "failed": 1,
        "cancelled": 0,
        "fell_back": 1,
    }


def test_stats_is_the_default_command_and_reads_well(demo: tuple[Path, dict[str, str]]) -> None:
    code, text, err = run(str(demo[0]))
    assert (code, err) == (0, "")
    assert text.startswith(f"Event log {demo[0]}") and "Events by type" in text
    assert "1 failed" in text and "1 fell back" in text
    assert run(str(demo[0]), "stats")[1] == text


async def test_stats_of_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    await (await SqliteEventLog.open(path)).close()
    code, stats = await asyncio.to_thread(as_json, str(path), "stats")
    assert code == 0 and stats["events"] == 0 and stats["first_time"] is None
    assert stats["by_type"] == {} and stats["span_seconds"] == 0.0
    code, text, _ = await asyncio.to_thread(run, str(path))
    assert code == 0 and "0 (empty)" in text


def test_stats_counts_unknown_types_and_newer_schemas(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    def damage(conn: sqlite3.Connection) -> None:
        set_type(conn, 2, "FromTheFuture")
        set_columns(conn, 3, schema=9)

    path = damaged(demo[0], tmp_path, damage)
    assert as_json(str(path), "stats")[1]["unknown"] == 2


def test_verify_passes_an_intact_log(demo: tuple[Path, dict[str, str]]) -> None:
    code, report = as_json(str(demo[0]), "verify")
    assert code == 0 and report["ok"] is True
    assert [c["check"] for c in report["checks"]] == [
        "integrity",
        "positions",
        "stream versions",
        "decoding",
        "row shape",
        "timestamps",
        "payload numbers",
        "snapshots",
    ]
    assert {c["status"] for c in report["checks"]} == {"ok"}
    code, text, _ = run(str(demo[0]), "verify")
    assert code == 0 and text.splitlines()[-1] == "OK: the log is intact"


def adjacent_pair(everything: list[StoredEvent], after: int) -> tuple[int, int, str]:
    """Two consecutive positions (after ``after``) of one stream, and the stream."""
    for first, second in itertools.pairwise(everything):
        if first.position > after and first.stream == second.stream:
            return first.position, second.position, first.stream
    raise AssertionError("no two consecutive events of one stream")


def test_verify_finds_a_missing_row(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent], tmp_path: Path
) -> None:
    a, b, stream = adjacent_pair(everything, 30)
    path = damaged(demo[0], tmp_path, lambda conn: delete_rows(conn, a, b, 77))
    code, report = as_json(str(path), "verify")
    checks = {c["check"]: c for c in report["checks"]}
    assert code == 1 and report["ok"] is False
    assert checks["positions"]["status"] == "failed"
    assert checks["positions"]["detail"] == f"3 positions missing (first gaps: {a}..{b}, 77)"
    assert checks["stream versions"]["status"] == "failed"
    assert stream in checks["stream versions"]["detail"]
    # The snapshots taken after the deleted rows no longer match a replay of the events.
    assert checks["snapshots"]["status"] == "failed"
    assert "differs from a replay of the events" in checks["snapshots"]["detail"]
    code, text, _ = run(str(path), "verify")
    assert code == 1 and "FAILED: 3 problem(s) found" in text


def test_verify_finds_a_corrupt_payload(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path = damaged(demo[0], tmp_path, lambda conn: set_payload(conn, 9, b'{"a":'))
    code, report = as_json(str(path), "verify")
    decoding = next(c for c in report["checks"] if c["check"] == "decoding")
    assert code == 1 and decoding["status"] == "failed"
    assert decoding["detail"] == "1 undecodable events (at 9)"
    assert report["unknown_by_reason"] == {"undecodable payload": 1}


def test_verify_counts_unknown_types_as_a_warning_unless_strict(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    def damage(conn: sqlite3.Connection) -> None:
        set_type(conn, 5, "FromTheFuture")
        conn.execute("DELETE FROM snapshots")  # they summarise position 5 as the type it was

    path = damaged(demo[0], tmp_path, damage)
    code, report = as_json(str(path), "verify")
    unknown = next(c for c in report["checks"] if c["check"] == "unknown types")
    assert code == 0 and report["ok"] is True and unknown["status"] == "warning"
    assert "FromTheFuture (1)" in unknown["detail"] and "at 5" in unknown["detail"]
    assert report["unknown_by_reason"] == {"unknown type": 1}
    assert as_json(str(path), "verify", "--strict")[0] == 1


def test_verify_finds_stream_versions_out_of_order(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent], tmp_path: Path
) -> None:
    # Swap the versions of two events of one stream: still 1..n, but in the wrong order.
    a, b, _ = adjacent_pair(everything, 30)
    version = next(e.stream_version for e in everything if e.position == a)

    def swap(conn: sqlite3.Connection) -> None:  # one at a time: (stream, version) is unique
        set_columns(conn, a, version=-1)
        set_columns(conn, b, version=version)
        set_columns(conn, a, version=version + 1)

    path = damaged(demo[0], tmp_path, swap)
    code, report = as_json(str(path), "verify")
    streams = next(c for c in report["checks"] if c["check"] == "stream versions")
    assert code == 1 and streams["detail"] == "1 stream versions out of position order"


def test_integrity_failures_are_reported() -> None:
    facts = SqlFacts(
        integrity=("row 3 missing from index events_type_position",),
        count=3,
        first=1,
        last=3,
        gaps=(),
        streams=1,
        bad_streams=(),
        bad_stream_count=0,
        out_of_order=0,
    )
    checks = checks_of(facts, Decoding(read=3), strict=False)
    assert checks[0].status == "failed" and "row 3 missing" in checks[0].detail
    assert [c.status for c in checks[1:]] == ["ok", "ok", "ok"]


def test_human_sizes_and_spans() -> None:
    assert [human_bytes(n) for n in (0, 1536, 5 * 1024**3)] == ["0 B", "1.5 KiB", "5.0 GiB"]
    assert [human_span(s) for s in (0.25, 59.0, 3725.0, 90000.0)] == [
        "0.25 s",
        "59 s",
        "1h 2m 5s",
        "1d 1h",
    ]


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_verify_shows_progress_on_a_terminal_only(
    demo: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_verify, "_PROGRESS_ABOVE", 10)  # the demo log counts as long
    terminal, out = Terminal(), io.StringIO()
    assert main([str(demo[0]), "verify", "--json"], stdout=out, stderr=terminal) == 0
    assert "decoding [" in terminal.getvalue() and json.loads(out.getvalue())["ok"] is True
    piped = io.StringIO()
    assert main([str(demo[0]), "verify"], stdout=io.StringIO(), stderr=piped) == 0
    assert piped.getvalue() == ""
