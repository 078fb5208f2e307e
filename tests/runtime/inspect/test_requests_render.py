"""``slow``/``failed`` rendering from hand-built rows: cells, widths, escaping, JSON."""

from __future__ import annotations

import json

from runtime.inspect._render import UNLIMITED_WIDTH, Style
from runtime.inspect._requests_model import RequestFold, RequestQuery, RequestRow
from runtime.inspect._requests_render import Listing, listing_json, render_listing, row_cells
from tests.runtime.inspect._request_logs import request_events
from tests.runtime.inspect._requests import WALL, stored

LONG_ID = "0190aa7e-3b2c-7d4e-9f10-1234567890ab"


def rows(*requests: list) -> list[RequestRow]:  # type: ignore[type-arg]
    fold = RequestFold()
    for stored_event in stored([e for events in requests for e in events]):
        fold.feed(stored_event)
    return fold.rows()


def listing(found: list[RequestRow], kind: str = "failed", **query: object) -> Listing:
    return Listing(
        kind=kind,  # type: ignore[arg-type]
        log="events.sqlite3",
        query=RequestQuery(**query),  # type: ignore[arg-type]
        rows=tuple(found),
        matching=len(found),
        searched=len(found),
        first_at=found[0].started if found else None,
        last_at=found[-1].started if found else None,
    )


def test_the_cells_say_what_happened() -> None:
    fell_back, broke, retried = rows(
        request_events("fb", WALL, 4.0, tries=("llama3@a", "qwen@a"), fallback_to="qwen"),
        request_events(
            "x",
            WALL + 1,
            2.0,
            tries=("llama3@b", "llama3@b"),
            outcome="failed",
            failure="timeout_idle",
        ),
        request_events("r", WALL + 2, 1.5, tries=("llama3@b", "llama3@a")),
    )
    assert row_cells(fell_back) == (
        "2023-11-14 22:13:20Z",
        "fb",
        "gen",
        "llama3 -> qwen",
        "llama3@a, qwen@a",
        "2",
        "1",
        "4.0s",
        "succeeded (1 failed)",
        "",
    )
    cells = row_cells(broke)
    assert cells[4:] == (
        "llama3@b",  # tried twice, named once
        "2",
        "0",
        "2.0s",
        "failed: timeout_idle",
        "no deployment answered (timeout_idle)",
    )
    assert row_cells(retried)[8] == "succeeded (1 failed)"


def test_ids_stay_whole_and_the_error_is_cut_on_a_narrow_terminal() -> None:
    [row] = rows(request_events(LONG_ID, WALL, 1.0, outcome="failed", error="x" * 200))
    text = render_listing(listing([row]), Style(width=180))
    line = text.splitlines()[2]
    assert LONG_ID in line and line.endswith("…") and len(line) <= 180
    narrow = render_listing(listing([row]), Style(width=80)).splitlines()[2]
    assert LONG_ID in narrow and narrow.endswith("x" * 19 + "…")  # runs over, id whole
    whole = render_listing(listing([row]), Style(width=UNLIMITED_WIDTH))
    assert "x" * 200 in whole


def test_no_error_column_when_nothing_failed_and_data_is_escaped() -> None:
    [row] = rows(request_events("ok", WALL, 1.0, role="\x1b[31mred"))
    text = render_listing(listing([row], "slow"), Style(width=200))
    assert "\x1b" not in text and "\\x1b[31mred" in text
    assert text.splitlines()[1].split()[-1] == "outcome"
    assert text.splitlines()[0] == "Slowest finished requests (slowest first)"


def test_the_title_names_the_filters() -> None:
    [row] = rows(request_events("f", WALL, 1.0, outcome="failed"))
    text = render_listing(
        listing([row], role="gen", failure="server_error", since=WALL - 60), Style(width=200)
    )
    assert text.splitlines()[0] == (
        "Failed and cancelled requests (newest first); role 'gen', failure 'server_error', "
        "started since 2023-11-14T22:12:20.000Z"
    )


def test_json_has_the_counts_the_query_and_the_rows() -> None:
    [row] = rows(request_events("f", WALL, 1.0, outcome="cancelled"))
    found = json.loads(listing_json(listing([row], until=WALL + 5, limit=3)))
    assert (found["kind"], found["matching"], found["shown"], found["searched"]) == (
        "failed",
        1,
        1,
        1,
    )
    assert found["query"] == {
        "since": None,
        "until": "2023-11-14T22:13:25.000Z",
        "role": None,
        "model": None,
        "deployment": None,
        "failure": None,
        "limit": 3,
    }
    [data] = found["requests"]
    assert data["outcome"] == "cancelled" and data["tried"] == ["llama3@a"]
    assert data["started_utc"] == "2023-11-14T22:13:20.000Z" and data["started"] == WALL
