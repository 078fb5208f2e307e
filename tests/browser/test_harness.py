"""The browser harness itself: it launches the system Chromium, sees a page's script
errors (so "no console errors" in the page tests means something), and saves screenshots.

A small Starlette app on 127.0.0.1 serves a clean page, a page whose script logs a
console error, and one whose script throws.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from runtime.serve._server import AppServer
from tests.browser._chromium import launched, screenshot, screenshots_dir, watch

pytestmark = pytest.mark.slow

_PAGES = {
    "clean": "<h1 id=title>clean</h1>",
    "logs": "<h1 id=title>logs</h1><script>console.error('logged on purpose')</script>",
    "throws": "<h1 id=title>throws</h1><script>undefinedFunction()</script>",
    # a script from elsewhere (the port is closed; the request alone is the problem)
    "external": '<h1 id=title>external</h1><script src="http://127.0.0.2:9/lib.js"></script>',
}


async def _page(request: Request) -> HTMLResponse:
    name = request.path_params["name"]
    body = _PAGES.get(name)
    if body is None:
        return HTMLResponse("not found", status_code=404)
    head = f'<title>{name}</title><link rel="icon" href="data:,">'  # no favicon request
    return HTMLResponse(f"<!doctype html><html><head>{head}</head>{body}</html>")


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/{name}", _page)])
    server = AppServer(app, host="127.0.0.1", port=0)
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


async def test_the_harness_sees_console_and_page_errors(base_url: str) -> None:
    async with launched() as browser:
        page = await browser.new_page()
        problems = watch(page)
        await page.goto(f"{base_url}/clean")
        assert await page.inner_text("#title") == "clean"
        problems.assert_none()
        await page.goto(f"{base_url}/logs")
        await page.wait_for_function("document.readyState === 'complete'")
        assert any("logged on purpose" in m for m in problems.messages), problems.messages
        await page.goto(f"{base_url}/throws")
        await page.wait_for_function("document.readyState === 'complete'")
        assert any("undefinedFunction" in m for m in problems.messages), problems.messages
        with pytest.raises(AssertionError, match="the page reported problems"):
            problems.assert_none()


async def test_the_harness_sees_requests_to_other_hosts(base_url: str) -> None:
    async with launched() as browser:
        page = await browser.new_page()
        problems = watch(page)
        await page.goto(f"{base_url}/external")
        await page.wait_for_function("document.readyState === 'complete'")
    assert any("request to another host" in m and "127.0.0.2" in m for m in problems.messages)


async def test_screenshots_go_to_the_artefacts_directory(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRT_ARTIFACTS", str(tmp_path))
    assert screenshots_dir() == tmp_path / "screenshots"
    async with launched() as browser:
        page = await browser.new_page()
        await page.goto(f"{base_url}/clean")
        saved = await screenshot(page, "clean")
    assert saved == tmp_path / "screenshots" / "clean.png"
    assert saved.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
