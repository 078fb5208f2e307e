"""The web view's app over a real log (the demo run of ``tests.runtime.inspect._logs``):
every page answers, shows what the run did, escapes what the log says, refuses bad
input with a clear page, works mounted under a prefix, and follows new events."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from events import (
    REQUEST_STREAM_PREFIX,
    RequestFailed,
    RequestStarted,
    SqliteEventLog,
)
from runtime.inspect.web import WebView
from runtime.inspect.web._index import INDEX_TYPES
from tests._wait import eventually
from tests.runtime.inspect._logs import DEMO_WALL, append_events, copy_log, shared_demo_log
from tests.runtime.web._dom import Element, parse

EVIL = '<script>alert("x")</script>'
PAGES = ("", "latency", "requests?kind=slow", "requests?kind=failed", "quotas", "flow")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return shared_demo_log(tmp_path_factory)


async def _started(path: Path, *, live: bool = False) -> tuple[SqliteEventLog, WebView]:
    log = await SqliteEventLog.open_readonly(path)
    view = WebView(log, title=path.name, live=live, clock=lambda: DEMO_WALL + 3600)
    await view.start()
    return log, view


@pytest.fixture
async def client(demo: tuple[Path, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    log, view = await _started(demo[0])
    transport = httpx.ASGITransport(app=view.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
        yield http
    await view.aclose()
    await log.close()


async def get_page(http: httpx.AsyncClient, path: str, status: int = 200) -> Element:
    response = await http.get("/" + path)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert "Traceback" not in response.text
    return parse(response.text)


async def test_every_page_answers_and_names_itself(client: httpx.AsyncClient) -> None:
    for path, name in zip(
        PAGES, ("overview", "latency", "requests", "requests", "quotas", "flow"), strict=True
    ):
        doc = await get_page(client, path)
        assert doc.find("body").get("data-page") == name
        assert int(doc.find("body").get("data-position")) > 0
        assert doc.find("main").get("id") == "main"
    for name, kind in (("live.js", "javascript"), ("style.css", "css")):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert (await client.get("/static/other.js")).status_code == 404
    script = (await client.get("/static/live.js")).text
    assert 'fetch("api/position"' in script  # relative: works at / and under /ui
    assert "http" not in script.replace("XMLHttpRequest", "") and "eval(" not in script
    unknown = await get_page(client, "no/such/page", 404)
    assert "no/such/page" in unknown.find("p", cls="error").text


async def test_the_overview_shows_the_demo_outage_and_its_totals(
    client: httpx.AsyncClient, demo: tuple[Path, dict[str, str]]
) -> None:
    path, ids = demo
    async with await SqliteEventLog.open_readonly(path) as log:
        starts = [e async for e in log.read(types=[RequestStarted.__name__])]
        quarantines = [e async for e in log.read(types=["DeploymentQuarantined"])]
    doc = await get_page(client, "")
    totals = {dd.get("data-key"): dd.text for dd in doc.find("dl", cls="totals").find_all("dd")}
    assert int(totals["requests"]) == len(starts)
    assert int(totals["failed"]) >= 1 and int(totals["fallbacks"]) >= 1
    bands = doc.find("svg", cls="bands")
    shown = {g.get("data-deployment") for g in bands.find_all("g", cls="deployment")}
    assert {"llama3@a", "llama3@b", "qwen@a"} <= shown
    group = bands.find("g", cls="deployment", data_deployment=ids["quarantined"])
    (band,) = group.find_all("rect", cls="band", data_status="quarantined")
    assert abs(float(band.get("data-start")) - quarantines[0].event.at) < 1.0  # type: ignore[attr-defined]


async def test_the_latency_page_has_a_row_per_deployment(client: httpx.AsyncClient) -> None:
    doc = await get_page(client, "latency")
    table = doc.find("table", cls="latency")
    row = table.find("tr", data_deployment="llama3@a")
    assert int(row.find("td", data_key="requests").get("data-value")) > 0
    assert row.find("td", data_key="p50").text.endswith("ms")
    assert doc.find("table", cls="failures").find_all("td", data_failure="server_error")


async def test_the_requests_tables_link_to_pages_that_explain_them(
    client: httpx.AsyncClient, demo: tuple[Path, dict[str, str]]
) -> None:
    _, ids = demo
    failed = await get_page(client, "requests?kind=failed")
    table = failed.find("table", cls="requests", data_kind="failed")
    row = table.find("tr", data_request_id=ids["failed_request"])
    href = row.find("a").get("href")
    assert href == "request/" + ids["failed_request"]
    request = await get_page(client, href)
    assert request.find("section", cls="outcome").get("data-outcome") == "failed"
    fallback = await get_page(client, "request/" + ids["fallback_request"])
    kinds = {r.get("data-kind") for r in fallback.find("svg", cls="waterfall").find_all("rect")}
    assert {"attempt", "fallback"} <= kinds
    slow = await get_page(client, "requests?kind=slow&limit=3&model=qwen")
    rows = slow.find("table", cls="requests").find_all("tr")
    assert 1 <= len([r for r in rows if r.get("data-request-id")]) <= 3


async def test_a_request_is_found_by_id_a_shared_prefix_is_400_an_unknown_id_404(
    client: httpx.AsyncClient, demo: tuple[Path, dict[str, str]]
) -> None:
    async with await SqliteEventLog.open_readonly(demo[0]) as log:
        ids = [e.event.request_id async for e in log.read(types=[RequestStarted.__name__])]  # type: ignore[attr-defined]
    rid = demo[1]["ok_request"]
    doc = await get_page(client, "request/" + rid)
    assert rid in doc.find("h1").text
    shared = await get_page(client, "request/" + rid[:4], 400)
    assert f"matches {len(ids)} requests" in shared.find("p", cls="error").text
    missing = await get_page(client, "request/no-such-request", 404)
    assert "no-such-request" in missing.find("p", cls="error").text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("?since=yesterday-ish", "cannot read 'yesterday-ish' as a time"),
        ("?since=1700000100&until=1700000000", "before"),
    ],
)
async def test_a_bad_time_range_is_a_400_page_saying_why(
    client: httpx.AsyncClient, query: str, says: str
) -> None:
    for path in ("", "latency", "flow"):
        doc = await get_page(client, path + query, 400)
        assert says in doc.find("p", cls="error").text


async def test_bad_requests_filters_are_400(client: httpx.AsyncClient) -> None:
    doc = await get_page(client, "requests?kind=slow&limit=lots", 400)
    assert "limit must be a whole number" in doc.find("p", cls="error").text
    doc = await get_page(client, "requests?kind=fast", 400)
    assert "kind must be slow or failed" in doc.find("p", cls="error").text


async def test_a_relative_range_counts_back_from_the_end_of_a_replayed_log(
    client: httpx.AsyncClient,
) -> None:
    doc = await get_page(client, "?since=15m")
    assert doc.find("form", cls="range").find("a", cls="current").text == "15 min"
    assert int(doc.find("dd", data_key="requests").text) > 0  # the log's last 15 minutes


async def test_untrusted_text_from_the_log_shows_as_text(
    tmp_path: Path, demo: tuple[Path, dict[str, str]]
) -> None:
    path = copy_log(demo[0], tmp_path)
    rid = "evil-1"
    events = [
        RequestStarted(
            request_id=rid, at=DEMO_WALL + 100, role=EVIL, model=EVIL, kind=None, stream=False,
            candidates=(), prompt_chars=1, prompt_hash="h",
        ),
        RequestFailed(request_id=rid, at=DEMO_WALL + 101, attempts=0, error=EVIL, failure=EVIL),
    ]  # fmt: skip
    await append_events(path, REQUEST_STREAM_PREFIX + rid, events, now=DEMO_WALL + 101)
    log, view = await _started(path)
    try:
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            for target in (*PAGES, "request/" + rid, f"requests?kind=failed&role={EVIL}"):
                response = await http.get("/" + target)
                assert response.status_code == 200, target
                scripts = re.findall(r"<script\b[^>]*>", response.text)
                assert scripts == ['<script src="static/live.js" defer>'], target
            doc = parse((await http.get("/requests?kind=failed")).text)
            row = doc.find("tr", data_request_id=rid)
            assert EVIL in row.text
            by_prefix = await http.get("/request/evil")  # a unique prefix, as `explain` takes
            assert by_prefix.status_code == 200 and rid in parse(by_prefix.text).find("h1").text
    finally:
        await view.aclose()
        await log.close()


async def test_mounted_under_a_prefix_every_link_stays_under_it(
    demo: tuple[Path, dict[str, str]],
) -> None:
    log, view = await _started(demo[0])
    outer = Starlette(routes=[Mount("/ui", app=view.app)])
    try:
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
            response = await http.get("/ui/")
            assert response.status_code == 200
            doc = parse(response.text)
            assert doc.find("base").get("href") == "/ui/"
            for a in doc.find("nav").find_all("a"):
                target = httpx.URL("http://serve/ui/").join(a.get("href"))
                assert target.path.startswith("/ui/")
                assert (await http.get(str(target))).status_code == 200
            assert (await http.get("/ui/api/position")).json()["position"] == view.index.position
    finally:
        await view.aclose()
        await log.close()


async def test_the_index_gets_exactly_its_events_and_progress_reaches_the_end(
    demo: tuple[Path, dict[str, str]],
) -> None:
    seen: list[tuple[int, int]] = []
    async with await SqliteEventLog.open_readonly(demo[0]) as log:
        view = WebView(log, title="demo", live=False)
        await view.start(on_progress=lambda done, total: seen.append((done, total)))
        last = await log.last_position()
        wanted = [e async for e in log.read(types=INDEX_TYPES)]
    assert seen[-1] == (last, last)
    assert view.index.events == len(wanted)  # the log reads every type; the index its own
    assert view.index.position == wanted[-1].position


async def test_a_followed_log_moves_the_position_when_an_event_is_committed(
    tmp_path: Path, demo: tuple[Path, dict[str, str]]
) -> None:
    path = copy_log(demo[0], tmp_path)
    log, view = await _started(path, live=True)
    try:
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            before = (await http.get("/api/position")).json()["position"]
            page = parse((await http.get("/")).text)
            assert page.find("body").get("data-live") == "1"
            requests_before = int(page.find("dd", data_key="requests").text)
            rid = "late-1"
            started = RequestStarted(
                request_id=rid, at=DEMO_WALL + 200, role=None, model="llama3", kind=None,
                stream=False, candidates=("llama3@a",), prompt_chars=1, prompt_hash="h",
            )  # fmt: skip
            async with await SqliteEventLog.open(path, now=lambda: DEMO_WALL + 200) as writer:
                await writer.append(REQUEST_STREAM_PREFIX + rid, [started])
                written = await writer.last_position()
            await eventually(lambda: view.index.position == written)
            moved = (await http.get("/api/position")).json()
            assert moved["position"] == written > before
            page = parse((await http.get("/")).text)
            assert page.find("body").get("data-position") == str(written)
            assert int(page.find("dd", data_key="requests").text) == requests_before + 1
    finally:
        await view.aclose()
        await log.close()
