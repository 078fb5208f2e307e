"""Every page of ``python -m runtime.inspect LOG web``, in a real headless Chromium.

The log is the outage scenario's (``_outage_log``): a real Runtime over two chaos
backends on a virtual clock, with ``llama3@b`` quarantined at ``T1`` and recovered at
``T2``, two fallbacks, two failed requests and a quota warning. One web-view process and
one browser serve the whole module; each test opens its page in a fresh browser context,
checks what it shows against what the scenario did (and, for per-attempt figures, against
the log read back directly), asserts that the page reported no console or page errors,
and saves a screenshot named after the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from events import SqliteEventLog
from tests.browser._chromium import PageProblems, launched, screenshot, watch
from tests.browser._outage_log import FAILED, FALLBACKS, T1, T2, Outage
from tests.browser._web_process import WebProcess, web_view

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

if TYPE_CHECKING:  # playwright itself is imported by _chromium, or the test skips
    from playwright.async_api import Browser, Page

Visit = Callable[[str], Awaitable[tuple["Page", PageProblems]]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched() as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web(
    outage: Outage, tmp_path_factory: pytest.TempPathFactory, browser: Browser
) -> AsyncIterator[WebProcess]:
    async with web_view(outage.path, tmp_path_factory.mktemp("web")) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="module")
async def visit(browser: Browser, web: WebProcess) -> AsyncIterator[Visit]:
    """Open a path of the web view in a fresh context; the page and its problems."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})

    async def opened(path: str) -> tuple[Page, PageProblems]:
        page = await context.new_page()
        problems = watch(page)
        response = await page.goto(web.url + path)
        assert response is not None and response.status == 200, (
            f"{path}: {response and response.status}\n{web.tail()}"
        )
        await page.wait_for_load_state("load")
        return page, problems

    yield opened
    await context.close()


async def _text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def _attempts(path: Path) -> tuple[Counter[str], Counter[str], Counter[tuple[str, str]]]:
    """Attempts and failed attempts per deployment, failures per (class, deployment)."""
    attempts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    kinds = ["AttemptSucceeded", "AttemptFailed", "StreamInterrupted"]
    async with await SqliteEventLog.open_readonly(path) as log:
        async for stored in log.read(types=kinds):
            event = stored.event
            deployment = str(getattr(event, "deployment", ""))
            attempts[deployment] += 1
            if stored.type != "AttemptSucceeded":
                errors[deployment] += 1
                failures[(str(getattr(event, "failure", "")), deployment)] += 1
    return attempts, errors, failures


async def test_overview_shows_the_outage_as_a_quarantined_band(
    visit: Visit, outage: Outage
) -> None:
    page, problems = await visit("")
    assert await page.get_attribute("body", "data-page") == "overview"
    shown = await page.locator("svg.bands g.deployment").evaluate_all(
        "gs => gs.map(g => g.dataset.deployment)"
    )
    assert set(outage.deployments) <= set(shown), shown
    totals = {
        key: await _text(page, f"dl.totals dd[data-key={key}]")
        for key in ("requests", "succeeded", "failed", "fallbacks")
    }
    assert totals == {
        "requests": str(outage.requests),
        "succeeded": str(outage.succeeded),
        "failed": str(FAILED),
        "fallbacks": str(FALLBACKS),
    }
    b = page.locator(f'svg.bands g.deployment[data-deployment="{outage.quarantined_deployment}"]')
    bands = await b.locator("rect.band[data-status=quarantined]").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.start), Number(r.dataset.end)])"
    )
    assert any(abs(start - T1) <= 1 and abs(end - T2) <= 1 for start, end in bands), (
        f"no quarantined band of {outage.quarantined_deployment} from {T1} to {T2}: {bands}"
    )
    a = page.locator('svg.bands g.deployment[data-deployment="llama3@a"]')
    assert await a.locator("rect.band[data-status=quarantined]").count() == 0
    assert await page.locator("svg.rate").count() == 1
    await screenshot(page, "overview")
    problems.assert_none()


async def test_a_time_range_shows_only_its_requests(visit: Visit, outage: Outage) -> None:
    since, until = _iso(T1), _iso(T2)
    async with await SqliteEventLog.open_readonly(outage.path) as log:
        started = [s.event async for s in log.read(types=["RequestStarted"])]
    inside = sum(1 for event in started if T1 <= getattr(event, "at", 0.0) <= T2)
    assert 0 < inside < outage.requests
    page, problems = await visit(f"?since={since}&until={until}")
    assert await _text(page, "dl.totals dd[data-key=requests]") == str(inside)
    b = page.locator(f'svg.bands g.deployment[data-deployment="{outage.quarantined_deployment}"]')
    bands = await b.locator("rect.band").evaluate_all(
        "rs => rs.map(r => [r.dataset.status, Number(r.dataset.start), Number(r.dataset.end)])"
    )
    assert all(start >= T1 - 1 and end <= T2 + 1 for _, start, end in bands), bands
    assert any(status == "quarantined" for status, _, _ in bands), bands
    problems.assert_none()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_latency_page_counts_attempts_and_failures_per_deployment(
    visit: Visit, outage: Outage
) -> None:
    attempts, errors, failures = await _attempts(outage.path)
    page, problems = await visit("latency")
    assert await page.get_attribute("body", "data-page") == "latency"
    for deployment in outage.deployments:
        row = page.locator(f'table.latency tr[data-deployment="{deployment}"]')
        requests = await row.locator("td[data-key=requests]").get_attribute("data-value")
        failed = await row.locator("td[data-key=errors]").get_attribute("data-value")
        assert (requests, failed) == (str(attempts[deployment]), str(errors[deployment])), (
            deployment
        )
    assert failures, "the scenario's log has no failed attempts"
    for (failure, deployment), count in failures.items():
        cell = page.locator(
            f'table.failures td[data-failure="{failure}"][data-deployment="{deployment}"]'
        )
        assert await cell.get_attribute("data-value") == str(count), (failure, deployment)
    assert await page.locator("svg.latency-chart").count() >= 1
    assert await page.locator("svg.error-chart").count() >= 1
    await screenshot(page, "latency")
    problems.assert_none()


async def test_slowest_requests_link_to_their_waterfall(visit: Visit, outage: Outage) -> None:
    page, problems = await visit("requests?kind=slow")
    assert await page.get_attribute("body", "data-page") == "requests"
    rows = page.locator("table.requests[data-kind=slow] tr[data-request-id]")
    ids = await rows.evaluate_all("rs => rs.map(r => r.dataset.requestId)")
    assert 0 < len(ids) <= 20 and set(ids) <= set(outage.ids), ids
    first = rows.first.locator(f'a[href="request/{ids[0]}"]')
    await screenshot(page, "requests-slow")
    await first.click()
    await page.wait_for_selector("body[data-page=request]")
    assert await page.locator("svg.waterfall").count() == 1
    problems.assert_none()


async def test_failed_requests_table_and_its_filters(visit: Visit, outage: Outage) -> None:
    page, problems = await visit("requests?kind=failed")
    rows = page.locator("table.requests[data-kind=failed] tr[data-request-id]")
    ids = await rows.evaluate_all("rs => rs.map(r => r.dataset.requestId)")
    assert len(ids) == FAILED and outage.failed_request in ids, ids
    await screenshot(page, "requests-failed")
    problems.assert_none()
    by_qwen, qwen_problems = await visit("requests?kind=failed&model=qwen")
    qwen_rows = by_qwen.locator("table.requests[data-kind=failed] tr[data-request-id]")
    assert await qwen_rows.count() == FAILED
    qwen_problems.assert_none()
    by_b, b_problems = await visit("requests?kind=failed&deployment=llama3@b")
    assert await by_b.locator("table.requests tr[data-request-id]").count() == 0
    b_problems.assert_none()


async def test_a_fallback_request_shows_its_attempts_in_the_waterfall(
    visit: Visit, outage: Outage
) -> None:
    request_id = outage.fallback_request
    stream = f"request/{request_id}"
    async with await SqliteEventLog.open_readonly(outage.path) as log:
        kinds = Counter([stored.type async for stored in log.read(stream=stream)])
    page, problems = await visit(f"request/{request_id}")
    assert await page.get_attribute("body", "data-page") == "request"
    fall = page.locator("svg.waterfall")
    assert await fall.locator("rect[data-kind=attempt]").count() == kinds["AttemptStarted"]
    assert await fall.locator("rect[data-kind=fallback]").count() == kinds["FallbackSwitched"]
    assert await fall.locator("rect[data-kind=skip]").count() == kinds["CandidateSkipped"]
    outcome = page.locator("section.outcome")
    assert await outcome.get_attribute("data-outcome") == "succeeded"
    await screenshot(page, "request")
    problems.assert_none()


async def test_a_failed_request_shows_its_outcome(visit: Visit, outage: Outage) -> None:
    page, problems = await visit(f"request/{outage.failed_request}")
    outcome = page.locator("section.outcome")
    assert await outcome.get_attribute("data-outcome") == "failed"
    assert await page.locator("svg.waterfall rect[data-kind=attempt]").count() >= 1
    await screenshot(page, "request-failed")
    problems.assert_none()


async def test_quotas_page_marks_the_warning(visit: Visit, outage: Outage) -> None:
    page, problems = await visit("quotas")
    assert await page.get_attribute("body", "data-page") == "quotas"
    section = page.locator(f'section.quota[data-limit="{outage.warning_limit}"]')
    assert await section.count() >= 1, await _text(page, "main")
    assert await section.first.locator("svg.burn").count() == 1
    assert await section.first.locator("circle.warning").count() == 1
    await screenshot(page, "quotas")
    problems.assert_none()


async def test_flow_page_draws_routes_and_the_fallback(visit: Visit, outage: Outage) -> None:
    page, problems = await visit("flow")
    assert await page.get_attribute("body", "data-page") == "flow"
    links = await page.locator("svg.flow path.link").evaluate_all(
        "ps => ps.map(p => [p.dataset.kind, p.dataset.source, p.dataset.target,"
        " Number(p.dataset.count)])"
    )
    routed = sum(count for kind, _, _, count in links if kind == "route")
    assert routed == outage.requests, links
    fallbacks = [(s, t, n) for kind, s, t, n in links if kind == "fallback"]
    assert fallbacks == [("llama3", "qwen", FALLBACKS)], links
    served = {target for kind, _, target, _ in links if kind == "serve"}
    assert served <= set(outage.deployments) and "llama3@b" in served, links
    await screenshot(page, "flow")
    problems.assert_none()


async def test_a_bad_time_shows_an_error_not_a_traceback(browser: Browser, web: WebProcess) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        problems = watch(page)
        response = await page.goto(web.url + "?since=not-a-time")
        assert response is not None and response.status == 400
        message = await _text(page, "p.error")
        assert "not-a-time" in message and "Traceback" not in await page.content()
        # A 400 is reported by Chromium itself as a failed resource load: that is the
        # status under test, not a script error.
        assert all("status of 400" in m for m in problems.messages), problems.messages
    finally:
        await context.close()


async def test_an_unknown_request_says_so(browser: Browser, web: WebProcess) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        response = await page.goto(web.url + "request/no-such-request")
        assert response is not None and response.status == 404
        assert "no-such-request" in await _text(page, "p.error")
    finally:
        await context.close()
