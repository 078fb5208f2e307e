"""The web view over a PostgreSQL log: the same pages, and it follows the database.

A real throw-away PostgreSQL server (``tests/_postgres.py``); the view reads through
read-only sessions (``PostgresEventLog.open_readonly``), as ``inspect web`` and serve's
``/ui`` do for an ``event_log: {url: ...}``.
"""

from __future__ import annotations

import httpx

from events import PostgresEventLog
from runtime.inspect.web import WebView
from tests.runtime._processes import until
from tests.runtime.inspect._request_logs import request_events
from tests.runtime.inspect._requests import WALL


async def test_the_view_reads_and_follows_a_postgres_log(postgres_dsn: str) -> None:
    writer = await PostgresEventLog.open(postgres_dsn)
    reader = await PostgresEventLog.open_readonly(postgres_dsn)
    view = WebView(reader, title="pg", live=True, clock=lambda: WALL + 60)
    try:
        for rid, at, outcome in (("p1", WALL, "failed"), ("p2", WALL + 5, "succeeded")):
            await writer.append(f"request/{rid}", request_events(rid, at, 1.5, outcome=outcome))
        await view.start()
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            overview = (await http.get("/")).text
            assert 'data-key="requests" data-value="2"' in overview
            assert 'data-key="failed" data-value="1"' in overview
            failed = (await http.get("/requests?kind=failed")).text
            assert 'data-request-id="p1"' in failed and 'data-request-id="p2"' not in failed
            assert (await http.get("/request/p2")).status_code == 200
            before = (await http.get("/api/position")).json()["position"]
            await writer.append("request/p3", request_events("p3", WALL + 9, 0.5))

            async def moved() -> bool:
                return (await http.get("/api/position")).json()["position"] > before

            await until(moved)
            assert 'data-key="requests" data-value="3"' in (await http.get("/")).text
    finally:
        await view.aclose()
        await reader.close()
        await writer.close()


async def test_a_window_over_a_postgres_log_reads_only_near_it(postgres_dsn: str) -> None:
    day = 86400.0
    writer = await PostgresEventLog.open(postgres_dsn)
    reader = await PostgresEventLog.open_readonly(postgres_dsn)
    view = WebView(reader, title="pg", live=False, clock=lambda: WALL + 3 * day, keep_s=day)
    try:
        for i in range(30):  # a request every 2 h 24 min over three days
            rid, at = f"w{i}", WALL + i * day / 10
            await writer.append(f"request/{rid}", request_events(rid, at, 1.5))
        await view.start()
        assert view.read_from > 1
        started = sorted(row.request_id for row in view.index.requests)
        assert started == sorted(f"w{i}" for i in range(20, 30))
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            overview = (await http.get("/")).text
        assert 'data-key="requests" data-value="10"' in overview
    finally:
        await reader.close()
        await writer.close()
