"""The live web view in a real headless Chromium: a new event shows within 2 s.

Two ways a page follows a log that grows:

- ``python -m runtime.serve`` serves the view at ``/ui`` behind its key (HTTP Basic, the
  key as the password, which is what a browser can send); a chat request through the
  same server adds a request, and the open page's ``body[data-position]`` and request
  total change within 2 s of the answer;
- ``python -m runtime.inspect LOG web`` follows a log that another process (this test)
  appends a request to: the page shows it within 2 s of the commit.

The 2 s given to ``_until_shown`` is the thing under test (the issue's "the live
page updates within 2 s of a new event"), the only short deadline here. Everything else
waits for a condition with generous bounds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from events import AttemptStarted, AttemptSucceeded, RequestStarted, RequestSucceeded
from runtime.testing import ChaosServer
from tests.browser._chromium import launched, screenshot, watch
from tests.browser._outage_log import Outage
from tests.browser._web_process import web_view
from tests.runtime._processes import (
    CHAT_BODY,
    CHAT_ROUTE,
    LogPlace,
    Served,
    start_served,
    until,
    write_config,
)
from tests.runtime.inspect._logs import append_events, copy_log
from tests.runtime.serve._support import AUTH, KEY, PATIENT_HTTP

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.slow

LIVE_S = 2.0
"""The issue's bound: the page shows a new event within 2 s."""
_CHANGED = """([position, requests]) => {
    const shown = document.querySelector('dl.totals dd[data-key=requests]');
    return Number(document.body.dataset.position) > position
        && shown !== null && shown.dataset.value === String(requests);
}"""
"""Whether the page shows a later position and the expected request total."""


async def _until_shown(page: Page, arg: list[int], within: float) -> None:
    """Wait until ``_CHANGED`` holds on the page, at most ``within`` seconds.

    Polled from here with ``page.evaluate`` (the DevTools protocol, which the page's
    Content-Security-Policy does not govern) rather than ``wait_for_function``, whose
    in-page polling compiles the predicate: the view's policy forbids eval, as it should.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await page.evaluate(_CHANGED, arg):
        if loop.time() > deadline:
            shown = await _shown(page)
            raise AssertionError(f"page still shows (position, requests) {shown}, not {arg}")
        await asyncio.sleep(0.02)


async def _shown(page: Page) -> tuple[int, int]:
    """The page's position and request total."""
    position = int(await page.get_attribute("body", "data-position") or "0")
    requests = await page.locator("dl.totals dd[data-key=requests]").get_attribute("data-value")
    return position, int(requests or "0")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """``python -m runtime.serve`` with its key over one chaos backend, ``/ui`` loaded."""
    async with ChaosServer(["llama3"]) as backend:
        place = LogPlace("sqlite", str(tmp_path / "events.sqlite3"))
        config = write_config(tmp_path / "config.yaml", place, {"a": backend.url})
        server = await start_served("ui", config, tmp_path)
        try:
            await until(lambda: _ui_ready(server), explain=lambda: _tail(server))
            yield server
        finally:
            await server.stop()


async def _ui_ready(server: Served) -> bool:
    """Whether ``/ui/`` answers its page (503 while it reads the log at start)."""
    async with httpx.AsyncClient(timeout=PATIENT_HTTP) as http:
        response = await http.get(f"{server.url}/ui/", auth=("me", KEY))
    return response.status_code == 200


async def _tail(server: Served) -> str:
    return server.tail()


async def _chat(server: Served) -> None:
    async with server.client() as http:
        response = await http.post(CHAT_ROUTE, json=CHAT_BODY, headers=AUTH)
    assert response.status_code == 200, response.text


async def test_ui_asks_for_the_key(served: Served) -> None:
    async with httpx.AsyncClient(timeout=PATIENT_HTTP) as http:
        anonymous = await http.get(f"{served.url}/ui/")
        wrong = await http.get(f"{served.url}/ui/", auth=("me", "not-the-key"))
        right = await http.get(f"{served.url}/ui/", auth=("anyone", KEY))
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.headers.get("www-authenticate", "").lower().startswith("basic")
    assert right.status_code == 200
    async with launched() as browser:
        from playwright.async_api import Error as BrowserError

        context = await browser.new_context()  # no credentials: the 401 ends the navigation
        page = await context.new_page()
        with pytest.raises(BrowserError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            await page.goto(f"{served.url}/ui/")
        assert await page.locator("body[data-page]").count() == 0
        await context.close()


async def test_serve_ui_shows_a_new_request_within_two_seconds(served: Served) -> None:
    await _chat(served)  # the log holds a request before the page opens
    async with launched() as browser:
        context = await browser.new_context(
            http_credentials={"username": "on-call", "password": KEY},
            viewport={"width": 1280, "height": 900},
        )
        page = await context.new_page()
        problems = watch(page)
        response = await page.goto(f"{served.url}/ui/")
        assert response is not None and response.status == 200
        assert await page.get_attribute("body", "data-page") == "overview"
        await _until_shown(page, [0, 1], PATIENT_HTTP)
        position, requests = await _shown(page)
        await _chat(served)
        await _until_shown(page, [position, requests + 1], LIVE_S)
        assert await page.locator('svg.bands g.deployment[data-deployment="llama3@a"]').count()
        await screenshot(page, "live-serve-overview")
        problems.assert_none()
        await context.close()


async def test_inspect_web_shows_what_another_process_appends(
    outage: Outage, tmp_path: Path
) -> None:
    path = copy_log(outage.path, tmp_path)
    async with web_view(path, tmp_path) as web, launched() as browser:
        page = await browser.new_page()
        problems = watch(page)
        await page.goto(web.url)
        position, requests = await _shown(page)
        assert requests == outage.requests
        await _append_request(path, at=outage.recovered_at + 3600.0)
        await _until_shown(page, [position, requests + 1], LIVE_S)
        problems.assert_none()


async def _append_request(path: Path, *, at: float) -> None:
    """One request answered by ``llama3@a``, written as a second process's runtime would."""
    rid = "appended-by-test-0001"
    events = [
        RequestStarted(
            request_id=rid, at=at, role=None, model="llama3", kind="chat", stream=False,
            chain=("llama3",), candidates=("llama3@a",), prompt_chars=11, prompt_hash="0" * 16,
        ),
        AttemptStarted(
            request_id=rid, at=at, attempt=1, deployment="llama3@a", model="llama3",
            endpoint="a",
        ),
        AttemptSucceeded(request_id=rid, at=at + 0.4, attempt=1, deployment="llama3@a",
                         latency_s=0.4),
        RequestSucceeded(request_id=rid, at=at + 0.4, model="llama3", endpoint="a",
                         attempts=1, latency_s=0.4),
    ]  # fmt: skip
    await append_events(path, f"request/{rid}", events, now=at + 0.4)
