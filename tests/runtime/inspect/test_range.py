"""``range``, and what ``stats``, ``verify``, ``explain`` and ``state`` say about a log whose
older events were compacted (``python -m runtime.admin compact``)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from events import REQUEST_STREAM_PREFIX, SqliteEventLog, StoredEvent
from runtime.admin import main as admin_main
from runtime.inspect import main
from tests.runtime.inspect._logs import copy_log

pytestmark = pytest.mark.usefixtures("keep_logging")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def as_json(*argv: str) -> dict[str, Any]:
    code, out, err = run(*argv, "--json")
    assert (code, err) == (0, "")
    found: dict[str, Any] = json.loads(out)
    return found


def last_of(everything: list[StoredEvent], request_id: str) -> int:
    return max(e.position for e in everything if e.stream == REQUEST_STREAM_PREFIX + request_id)


@pytest.fixture
def compacted(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent], tmp_path: Path
) -> tuple[Path, int]:
    """A copy of the demo log compacted (by the admin command) through the last event of
    its ``ok_request``; (path, that position)."""
    path = copy_log(demo[0], tmp_path)
    through = last_of(everything, demo[1]["ok_request"])
    out, err = io.StringIO(), io.StringIO()
    argv = ["compact", str(path), "--through", str(through)]
    assert admin_main(argv, stdout=out, stderr=err, environ={}) == 0, err.getvalue()
    assert f"deleted {through} events (positions 1..{through})" in out.getvalue()
    return path, through


def test_range_of_a_log_never_compacted(
    demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    found = as_json(str(demo[0]), "range")
    assert (found["first_position"], found["last_position"]) == (1, everything[-1].position)
    assert (found["events"], found["compacted_through"]) == (len(everything), 0)
    assert found["compacted_at"] is None and found["first_time"].endswith("Z")
    code, out, _ = run(str(demo[0]), "range")
    assert code == 0 and "compacted  never" in out


def test_range_of_a_compacted_log(
    compacted: tuple[Path, int], everything: list[StoredEvent]
) -> None:
    path, through = compacted
    last = everything[-1].position
    found = as_json(str(path), "range")
    assert (found["first_position"], found["last_position"]) == (through + 1, last)
    assert (found["events"], found["compacted_through"]) == (last - through, through)
    assert found["compacted_at"].endswith("Z")
    code, out, _ = run(str(path), "range")
    assert code == 0
    assert f"{through + 1}..{last} ({last - through} events)" in out
    assert f"positions 1..{through} at " in out and "older events were compacted" in out


def test_stats_notes_the_compaction(compacted: tuple[Path, int]) -> None:
    path, through = compacted
    stats = as_json(str(path), "stats")
    assert (stats["compacted_through"], stats["first_position"]) == (through, through + 1)
    code, out, _ = run(str(path), "stats")
    assert code == 0 and f"compacted  positions 1..{through} at" in out


def test_verify_does_not_count_the_compacted_prefix_as_damage(
    compacted: tuple[Path, int],
) -> None:
    path, through = compacted
    code, out, _ = run(str(path), "verify")
    assert code == 0, out
    assert "OK: the log is intact" in out
    assert f"positions 1..{through} were deleted" in out
    report = as_json(str(path), "verify")
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["compaction"]["status"] == "ok"
    assert f"(1..{through} compacted)" in checks["positions"]["detail"]
    assert checks["snapshots"]["status"] == "ok"


def test_verify_still_finds_a_gap_after_the_compacted_prefix(
    compacted: tuple[Path, int],
) -> None:
    path, through = compacted
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM log_events WHERE position = ?", (through + 3,))
    conn.close()
    code, out, _ = run(str(path), "verify")
    assert code == 1 and f"first gaps: {through + 3})" in out


def test_explain_of_a_compacted_request_says_so(
    compacted: tuple[Path, int], demo: tuple[Path, dict[str, str]]
) -> None:
    path, _ = compacted
    code, _, err = run(str(path), "explain", demo[1]["ok_request"])
    assert code == 2
    assert "older events were compacted" in err and "not found" not in err
    code, out, _ = run(str(path), "explain", demo[1]["failed_request"])
    assert code == 0 and out


def test_state_of_a_compacted_log_comes_from_its_snapshots(
    compacted: tuple[Path, int], demo: tuple[Path, dict[str, str]], everything: list[StoredEvent]
) -> None:
    path, through = compacted
    at = str(everything[-1].position)
    state, full = (
        as_json(str(path), "state", "--at", at),
        as_json(str(demo[0]), "state", "--at", at),
    )
    for section in ("health", "models", "performance", "position", "time"):
        assert state[section] == full[section], section
    # The prompt/completion split is tallied from the period's events, not the ledger:
    # only the retained ones count after compaction. Requests and tokens are the ledger's.
    split = ("prompt_tokens", "completion_tokens")
    for kept, all_of in zip(state["usage"]["usage"], full["usage"]["usage"], strict=True):
        assert {k: v for k, v in kept.items() if k not in split} == {
            k: v for k, v in all_of.items() if k not in split
        }
    code, _, err = run(str(path), "state", "--at", str(through - 1))
    assert code == 2 and "compacted through position" in err
    code, _, err = run(str(path), "state", "--at", f"{everything[0].timestamp:.3f}")
    assert code == 2 and "before the first event held; older events were compacted" in err


def test_range_reads_a_log_a_runtime_still_writes(tmp_path: Path) -> None:
    async def open_and_read() -> dict[str, Any]:
        path = tmp_path / "events.sqlite3"
        async with await SqliteEventLog.open(path):
            return await asyncio.to_thread(as_json, str(path), "range")

    found = asyncio.run(open_and_read())
    assert (found["first_position"], found["last_position"], found["events"]) == (1, 0, 0)
