"""``stats --since/--until``: counts of the events committed inside a time window."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from events import (
    DeploymentDegraded,
    Event,
    FallbackSwitched,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
)
from runtime.inspect import main
from runtime.inspect._stats import Window, in_snapshot
from runtime.inspect._stats_window import window_where
from tests.runtime.inspect._logs import append_events, delete_rows
from tests.runtime.inspect._requests import WALL

pytestmark = pytest.mark.usefixtures("keep_logging")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def stats(path: Path, *options: str) -> dict[str, Any]:
    code, out, err = run(str(path), "stats", "--json", *options)
    assert (code, err) == (0, "")
    result: dict[str, Any] = json.loads(out)
    return result


def request(rid: str, at: float, *, fails: bool = False) -> list[Event]:
    begun = RequestStarted(
        request_id=rid,
        at=at,
        role="gen",
        model=None,
        kind="gen",
        stream=False,
        candidates=("llama3@a",),
        prompt_chars=3,
        prompt_hash="00",
    )
    if not fails:
        done = RequestSucceeded(
            request_id=rid, at=at, model="llama3", endpoint="a", attempts=1, latency_s=0.1
        )
        return [begun, done]
    switched = FallbackSwitched(
        request_id=rid, at=at, from_model="llama3", to_model="qwen", reason="failure"
    )
    failed = RequestFailed(request_id=rid, at=at, attempts=2, error="boom", latency_s=0.2)
    return [begun, switched, failed]


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    """Three requests committed at WALL, WALL + 100 and WALL + 200; a health event
    committed out of order (WALL + 95, after WALL + 100), as a second process may."""
    path = tmp_path / "events.sqlite3"
    await append_events(path, "request/r1", request("r1", WALL), now=WALL)  # 1, 2
    await append_events(path, "request/r2", request("r2", WALL + 100, fails=True), now=WALL + 100)
    degraded = DeploymentDegraded(deployment="llama3@a", at=WALL + 95, reason="slow")
    await append_events(path, "health/llama3@a", [degraded], now=WALL + 95)  # 6
    await append_events(path, "request/r3", request("r3", WALL + 200), now=WALL + 200)  # 7, 8
    return path


def test_a_window_counts_only_the_events_committed_inside_it(log: Path) -> None:
    found = stats(log, "--since", str(WALL + 50), "--until", str(WALL + 150))
    assert (found["events"], found["first_position"], found["last_position"]) == (4, 3, 6)
    assert found["by_type"] == {
        "DeploymentDegraded": 1,
        "FallbackSwitched": 1,
        "RequestFailed": 1,
        "RequestStarted": 1,
    }
    assert found["requests"] == {
        "started": 1,
        "succeeded": 0,
        "failed": 1,
        "cancelled": 0,
        "fell_back": 1,
    }
    assert found["streams"] == 2
    assert (found["since"], found["until"]) == (
        "2023-11-14T22:14:10.000Z",
        "2023-11-14T22:15:50.000Z",
    )
    assert found["file_bytes"] > 0  # the whole file's

    whole = stats(log)
    assert whole["events"] == 8 and whole["since"] is None and whole["until"] is None
    assert stats(log, "--since", str(WALL + 150))["by_type"] == {
        "RequestStarted": 1,
        "RequestSucceeded": 1,
    }
    assert stats(log, "--until", str(WALL + 50))["requests"]["succeeded"] == 1
    assert stats(log, "--since", "2023-11-14T22:14:10Z", "--until", str(WALL + 99))["events"] == 1


def test_the_text_names_the_window_and_says_the_size_is_the_files(log: Path) -> None:
    code, text, _ = run(str(log), "stats", "--since", str(WALL + 300))
    assert code == 0
    assert "window     2023-11-14T22:18:20.000Z .. end (commit times)" in text
    assert "0 (none in the window)" in text
    assert "(the whole file, not the window)" in text
    code, text, _ = run(str(log), "stats")
    assert "  window " not in text and "whole file" not in text


def test_a_backwards_window_or_a_bad_time_is_one_line_error(log: Path) -> None:
    code, out, err = run(str(log), "stats", "--since", str(WALL + 10), "--until", str(WALL))
    assert (code, out) == (2, "") and "is before --since" in err and err.count("\n") == 1
    code, out, err = run(str(log), "stats", "--until", "yesterday-ish")
    assert code == 2 and "--until: cannot read 'yesterday-ish' as a time" in err


def test_the_search_skips_missing_positions(log: Path) -> None:
    conn = sqlite3.connect(log)
    with conn:
        delete_rows(conn, 3, 4, 5)
    conn.close()

    def positions(window: Window) -> list[int]:
        def select(conn: sqlite3.Connection) -> list[int]:
            where, params = window_where(conn, window)
            rows = conn.execute(f"SELECT position FROM events WHERE {where}", params)
            return [int(row[0]) for row in rows]

        return in_snapshot(log, select)

    assert positions(Window(since=WALL + 90)) == [6, 7, 8]
    assert positions(Window(until=WALL + 50)) == [1, 2]
    assert positions(Window(since=WALL + 201)) == []
    assert stats(log, "--since", str(WALL + 50), "--until", str(WALL + 150))["events"] == 1
