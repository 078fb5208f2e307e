"""A web view with a retention window over a real log of three days: it reads only near
the window, shows only the window, and forgets what falls out of it while following."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from events import (
    HEALTH_STREAM_PREFIX,
    REQUEST_STREAM_PREFIX,
    EventLog,
    SqliteEventLog,
)
from runtime.inspect._errors import InspectError
from runtime.inspect._requests_view import MARGIN_S
from runtime.inspect.web import WebView
from runtime.inspect.web._app import EVICT_EVERY_S, evict_every
from runtime.inspect.web._index import CONTEXT_TYPES, INDEX_TYPES
from tests._wait import eventually
from tests.runtime.web._dom import parse
from tests.runtime.web._index_events import WALL, quarantined, simple

DAY = 86400.0
EVERY = 900.0
"""A request every 15 minutes."""
END = WALL + 3 * DAY
OUTAGE = WALL + 1.5 * DAY
"""llama3@b is quarantined then, for good."""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def write_three_days(path: Path, clock: Clock) -> int:
    """A request every ``EVERY`` seconds from ``WALL`` to ``END`` and the outage; returns
    how many requests."""
    n = 0
    async with await SqliteEventLog.open(path, now=clock) as log:
        at = WALL
        while at < END:
            if at <= OUTAGE < at + EVERY:
                clock.now = OUTAGE
                await log.append(
                    HEALTH_STREAM_PREFIX + "llama3@b",
                    [quarantined("llama3@b", OUTAGE, until=OUTAGE + 10 * DAY)],
                )
            clock.now = at + 0.5
            rid = f"r{n}"
            await log.append(REQUEST_STREAM_PREFIX + rid, simple(rid, at, "llama3@a", 0.5))
            n += 1
            at += EVERY
    return n


async def count(log: EventLog, types: tuple[str, ...], low: int, high: int | None = None) -> int:
    """How many events of ``types`` the log holds at ``low..high``."""
    return len([e async for e in log.read(low, to_position=high, types=types)])


async def test_a_window_reads_only_near_it_and_shows_only_it(tmp_path: Path) -> None:
    path = tmp_path / "three-days.sqlite3"
    clock = Clock(WALL)
    total = await write_three_days(path, clock)
    clock.now = END
    async with await SqliteEventLog.open_readonly(path) as log:
        view = WebView(log, title="t", live=False, clock=clock, keep_s=DAY)
        await view.start()
        read = await count(log, INDEX_TYPES, view.read_from)
        context = await count(log, CONTEXT_TYPES, 1, view.read_from - 1)
        assert view.index.events == read + context
        # from the start of the quota period in force at the cut-off (its UTC day), with
        # the margin for long requests: four events a request, and a few requests' slack
        floor = math.floor((END - DAY) / DAY) * DAY
        assert read <= (END - floor + MARGIN_S) / EVERY * 4 + 12
        assert read < await count(log, INDEX_TYPES, 1) * 2 / 3
        started = [row.started for row in view.index.requests]
        assert min(started) >= END - DAY
        in_window = sum(1 for i in range(total) if WALL + i * EVERY >= END - DAY)
        assert len(started) == in_window
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            page = await http.get("/")
            older = await http.get("/", params={"since": str(WALL)})
            quotas = await http.get("/quotas")
    doc = parse(page.text)
    assert int(doc.find("dd", data_key="requests").text) == in_window
    assert "older events are not kept in memory" in doc.find("p", cls="meta").text
    assert "showing the last 24 h" in doc.find("p", cls="meta").text
    group = doc.find("g", cls="deployment", data_deployment="llama3@b")
    (band,) = group.find_all("rect", cls="band")
    assert band.get("data-status") == "quarantined"  # began before the window: carried
    assert float(band.get("data-start")) == pytest.approx(END - DAY)
    shown = parse(older.text)  # an earlier since is clamped to the window
    assert int(shown.find("dd", data_key="requests").text) == in_window
    # the day in force at the cut-off is counted whole: every request since its midnight
    day = sum(1 for i in range(total) if floor <= WALL + i * EVERY < floor + DAY)
    first = parse(quotas.text).find_all("section", cls="quota", data_limit="global.requests")[0]
    assert int(first.get("data-used")) == day


async def test_a_followed_window_forgets_what_falls_out_of_it(tmp_path: Path) -> None:
    path = tmp_path / "three-days.sqlite3"
    clock = Clock(WALL)
    await write_three_days(path, clock)
    clock.now = END
    async with await SqliteEventLog.open_readonly(path) as log:
        view = WebView(log, title="t", live=True, clock=clock, keep_s=DAY)
        await view.start()
        try:
            assert view.index.kept_since == END - DAY
            before = len(view.index.requests)
            async with await SqliteEventLog.open(path, now=clock) as writer:
                for hour in range(1, 7):  # six hours pass, a request each
                    clock.now = END + hour * 3600
                    rid = f"late{hour}"
                    events = simple(rid, clock.now, "llama3@a", 0.5)
                    await writer.append(REQUEST_STREAM_PREFIX + rid, events)
                written = await writer.last_position()
            await eventually(lambda: view.index.position == written)
            assert view.index.kept_since == END + 6 * 3600 - DAY
            started = [row.started for row in view.index.requests]
            assert min(started) >= END + 6 * 3600 - DAY
            assert len(started) == before - 6 * 3600 / EVERY + 6
        finally:
            await view.aclose()


def test_the_window_must_be_positive_and_evictions_come_often_enough() -> None:
    log: Any = None  # never read: the window is checked first
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InspectError, match="retention window"):
            WebView(log, title="t", keep_s=bad)
    assert evict_every(DAY) == EVICT_EVERY_S == 600.0
    assert evict_every(3600.0) == 150.0
