"""``inspect LOG slow`` and ``failed`` on real SQLite logs: order, filters, windows, output."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from events import PostgresEventLog, RoutingEvent, SqliteEventLog
from runtime.inspect import main
from runtime.inspect._requests_model import RequestFold, RequestQuery, slowest
from runtime.inspect._requests_view import (
    MARGIN_S,
    REQUEST_TYPE_NAMES,
    collect_rows,
    start_position,
)
from tests._postgres import PASSWORD
from tests.runtime.inspect._request_logs import request_events, write_request
from tests.runtime.inspect._requests import WALL

pytestmark = pytest.mark.usefixtures("keep_logging")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def listing(path: Path | str, *argv: str) -> dict[str, Any]:
    code, out, err = run(str(path), *argv, "--json")
    assert (code, err) == (0, ""), err
    found: dict[str, Any] = json.loads(out)
    return found


def ids(found: dict[str, Any]) -> list[str]:
    return [row["request_id"] for row in found["requests"]]


@pytest.fixture
async def incident(tmp_path: Path) -> Path:
    """Ten requests a minute apart: slow ones, failures of two classes, a cancellation,
    a success after a failed attempt, a fallback, and a request for a model directly."""
    path = tmp_path / "events.sqlite3"
    t = WALL
    await write_request(path, "r01", t, 0.4)
    await write_request(path, "r02", t + 60, 5.2, tries=("llama3@b",))
    await write_request(path, "r03", t + 120, 1.0, outcome="failed", tries=("llama3@a", "llama3@b"))
    await write_request(path, "r04", t + 180, 2.5, tries=("llama3@b", "llama3@a"))  # 1 failed
    await write_request(path, "r05", t + 240, 0.9, outcome="cancelled")
    await write_request(
        path, "r06", t + 300, 3.1, outcome="failed", failure="timeout_idle", tries=("llama3@b",)
    )
    await write_request(path, "r07", t + 360, 0.2, role="chat")
    await write_request(path, "r08", t + 420, 4.0, tries=("llama3@a", "qwen@a"), fallback_to="qwen")
    await write_request(path, "r09", t + 480, 0.3, role=None, model="llama3")
    await write_request(path, "r10", t + 540, 0.6, outcome="failed", tries=("qwen@a",))
    return path


def test_slow_lists_the_slowest_finished_requests(incident: Path) -> None:
    found = listing(incident, "slow", "-n", "3")
    assert ids(found) == ["r02", "r08", "r06"]
    assert (found["kind"], found["matching"], found["shown"], found["searched"]) == (
        "slow",
        10,
        3,
        10,
    )
    top = found["requests"][0]
    assert (top["latency_s"], top["tried"], top["started_utc"]) == (
        5.2,
        ["llama3@b"],
        "2023-11-14T22:14:20.000Z",
    )
    assert ids(listing(incident, "slow", "--role", "chat")) == ["r07"]
    assert ids(listing(incident, "slow", "--model", "qwen")) == ["r08"]  # answered by qwen
    assert ids(listing(incident, "slow", "--deployment", "qwen@a")) == ["r08", "r10"]
    assert ids(listing(incident, "slow", "--deployment", "llama3@b", "-n", "2")) == ["r02", "r06"]


def test_failed_lists_failures_and_cancellations_newest_first(incident: Path) -> None:
    found = listing(incident, "failed")
    assert ids(found) == ["r10", "r06", "r05", "r03"]  # r04 succeeded after a failure: not here
    assert [row["outcome"] for row in found["requests"]] == [
        "failed",
        "failed",
        "cancelled",
        "failed",
    ]
    assert ids(listing(incident, "failed", "--failure", "timeout_idle")) == ["r06"]
    assert ids(listing(incident, "failed", "-n", "1")) == ["r10"]
    assert listing(incident, "failed", "-n", "1")["matching"] == 4


def test_since_and_until_select_by_start_time(incident: Path) -> None:
    since = str(WALL + 180)  # r04 on
    assert ids(listing(incident, "failed", "--since", since)) == ["r10", "r06", "r05"]
    window = ("--since", since, "--until", str(WALL + 300))
    assert ids(listing(incident, "slow", *window)) == ["r06", "r04", "r05"]
    assert ids(listing(incident, "failed", "--until", "2023-11-14T22:16:00Z")) == ["r03"]


async def test_a_request_that_started_before_since_is_left_out(tmp_path: Path) -> None:
    """Its events come after those of requests that started later (it ended later)."""
    path = tmp_path / "events.sqlite3"
    await write_request(path, "early", WALL, 0.1)
    await write_request(path, "a", WALL + 1000, 0.1)
    await write_request(path, "long", WALL + 990, 30.0)  # started before --since, ended after
    await write_request(path, "b", WALL + 1010, 0.2)
    found = await asyncio.to_thread(listing, path, "slow", "--since", str(WALL + 1000))
    assert ids(found) == ["b", "a"]


async def test_since_starts_reading_near_the_window_and_finds_the_same_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    for n in range(300):  # a request every 10 s, some slow; 5 to 6 events each
        await write_request(path, f"r{n:03d}", WALL + 10 * n, 0.1 + (n * 7) % 13)
    since = WALL + 2000  # 2000 s - MARGIN_S (900 s) = request 110 and on
    async with await SqliteEventLog.open_readonly(path) as log:
        start = await start_position(log, since - MARGIN_S)
        skipped = [e async for e in log.read(to_position=start - 1, types=REQUEST_TYPE_NAMES)]
        times = [e.event.at for e in skipped if isinstance(e.event, RoutingEvent)]
        assert len(times) == len(skipped) > 400  # the read really starts far in
        assert max(times) < since - MARGIN_S
        query = RequestQuery(since=since, limit=15)
        windowed = await collect_rows(log, query)
        fold = RequestFold()
        async for stored in log.read(types=REQUEST_TYPE_NAMES):
            fold.feed(stored)
    expected = [r.request_id for r in fold.rows() if r.started >= since]
    assert [r.request_id for r in windowed.rows] == expected
    assert [r.request_id for r in slowest(windowed.rows, query)] == [
        r.request_id for r in slowest(fold.rows(), query)
    ]


def test_the_text_view(incident: Path) -> None:
    code, text, err = run(str(incident), "failed", "-n", "2", "--width", "200")
    assert (code, err) == (0, "")
    lines = text.splitlines()
    assert lines[0] == "Failed and cancelled requests (newest first)"
    assert lines[1].split() == [
        "when",
        "(UTC)",
        "request",
        "role",
        "model",
        "deployments",
        "tried",
        "attempts",
        "fallbacks",
        "latency",
        "outcome",
        "error",
    ]
    assert lines[2].split()[:4] == ["2023-11-14", "22:22:20Z", "r10", "gen"]
    assert "failed: server_error  no deployment answered (server_error)" in lines[2]
    assert lines[-1].startswith("2 of 4 matching (10 requests searched, started ")
    assert lines[-1].endswith(f"`python -m runtime.inspect {incident} explain ID` shows one")
    _, slow, _ = run(str(incident), "slow", "-n", "3")
    assert "llama3 -> qwen" in slow and "llama3@a, qwen@a" in slow and "5.2s" in slow
    assert "succeeded (1 failed)" in run(str(incident), "slow", "--role", "gen", "-n", "5")[1]


def test_nothing_matched_says_so_and_names_the_span(incident: Path) -> None:
    code, text, _ = run(str(incident), "failed", "--role", "nobody")
    assert code == 0
    assert text == (
        "No failed or cancelled request matched (role 'nobody'): searched 10 requests "
        "started 2023-11-14T22:13:20.000Z .. 2023-11-14T22:22:20.000Z.\n"
    )
    code, text, _ = run(str(incident), "slow", "--since", str(WALL + 10_000))
    assert text == (
        "No finished request matched (started since 2023-11-15T01:00:00.000Z): searched 0 "
        "requests started 2023-11-15T01:00:00.000Z .. the end of the log.\n"
    )
    assert listing(incident, "slow", "--since", str(WALL + 10_000))["requests"] == []


def test_mistakes_are_one_line_errors(incident: Path, tmp_path: Path) -> None:
    for argv, fragment in (
        (("slow", "-n", "0"), "-n/--limit must be >= 1, not 0"),
        (("failed", "--since", "soon"), "--since: cannot read 'soon' as a time"),
        (("slow", "--since", str(WALL + 10), "--until", str(WALL)), "--until is before --since"),
        (("slow", "--failure", "timeout"), "unrecognized arguments: --failure"),
    ):
        code, out, err = run(str(incident), *argv)
        assert (code, out) == (2, "") and err.count("\n") == 1 and fragment in err, err
    empty = tmp_path / "empty.sqlite3"
    asyncio.run(_create(empty))
    code, _, err = run(str(empty), "failed")
    assert code == 2 and "the log is empty" in err


async def _create(path: Path) -> None:
    await (await SqliteEventLog.open(path)).close()


def test_the_demo_log(demo: tuple[Path, dict[str, str]]) -> None:
    path, found = demo
    assert ids(listing(path, "failed")) == [found["failed_request"]]
    fallback = next(
        row
        for row in listing(path, "slow", "-n", "100")["requests"]
        if row["request_id"] == found["fallback_request"]
    )
    assert (fallback["fallbacks"], fallback["served_model"]) == (1, "qwen")


async def test_slow_and_failed_read_a_postgres_log_too(postgres_dsn: str) -> None:
    log = await PostgresEventLog.open(postgres_dsn)
    try:
        for rid, at, latency, outcome in (("p1", WALL, 2.0, "failed"), ("p2", WALL + 5, 3.0, "x")):
            how = "failed" if outcome == "failed" else "succeeded"
            await log.append(f"request/{rid}", request_events(rid, at, latency, outcome=how))
    finally:
        await log.close()
    code, text, err = await asyncio.to_thread(run, postgres_dsn, "failed")
    assert (code, err) == (0, "") and " p1 " in text and " p2 " not in text
    assert PASSWORD not in text and ":***@" in text  # the explain hint masks the password
    found = await asyncio.to_thread(listing, postgres_dsn, "slow")
    assert ids(found) == ["p2", "p1"]
    code, _, err = await asyncio.to_thread(run, postgres_dsn, "stats", "--since", "1h")
    assert code == 2 and "for a PostgreSQL log use" in err


async def test_a_read_from_the_start_position_folds_the_same_rows(incident: Path) -> None:
    """Reading from the position ``--since`` finds folds the requests after it whole."""
    async with await SqliteEventLog.open_readonly(incident) as log:
        whole = [r.to_dict() for r in (await collect_rows(log, RequestQuery())).rows]
        later = await collect_rows(log, RequestQuery(since=WALL + 100))
        assert [r.to_dict() for r in later.rows] == whole[2:]
        assert await start_position(log, WALL + 100) == 9  # r03: after 2 x 4 events
