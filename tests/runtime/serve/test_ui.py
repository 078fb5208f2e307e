"""The web view under serve at ``/ui``: behind the key (bearer, or HTTP Basic for a
browser), live, configured limits shown, and left out with ``ui=False``.

A real server on 127.0.0.1 over a real Runtime and SQLite log; the view reads the log
through its own read-only connection (the browser tests in ``tests/browser`` drive the
same pages in Chromium).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from runtime import QuotaConfig, Runtime
from runtime.serve._app import create_app
from runtime.serve._server import AppServer
from runtime.serve._settings import ServeSettings
from runtime.serve._ui import ServedView
from runtime.testing import ChaosServer
from tests.runtime._processes import until
from tests.runtime.serve._support import AUTH, KEY, PATIENT_HTTP, facade_config

BASIC = {"Authorization": "Basic " + base64.b64encode(f"ops:{KEY}".encode()).decode()}
CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}], "stream": False}


@contextlib.asynccontextmanager
async def _served_ui(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer], *, ui: bool = True
) -> AsyncIterator[str]:
    cfg = facade_config(tmp_path, *servers, quota=QuotaConfig(daily_requests=50))
    settings = ServeSettings(api_key=KEY, ui=ui)
    async with Runtime.from_config(cfg) as rt:
        view = ServedView(rt.config, keep_s=settings.ui_keep_s) if ui else None
        if view is not None:
            await view.start()
        server = AppServer(
            create_app(rt, settings, ui=view), host="127.0.0.1", port=0, settings=settings
        )
        url = await server.start()
        try:
            yield url
        finally:
            await server.stop()
            if view is not None:
                await view.aclose()


async def _page(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """``path`` once the view has read the log (503 while it reads)."""
    answers: list[httpx.Response] = []

    async def ready() -> bool:
        answers.append(await http.get(path))
        return answers[-1].status_code != 503

    await until(ready)
    return answers[-1]


async def test_ui_needs_the_key_and_asks_a_browser_for_it(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    async with (
        _served_ui(tmp_path, servers) as url,
        httpx.AsyncClient(base_url=url, timeout=PATIENT_HTTP) as http,
    ):
        refused = await http.get("/ui/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic realm=")
        wrong = base64.b64encode(b"ops:not-the-key").decode()
        refused_wrong = await http.get("/ui/", headers={"Authorization": f"Basic {wrong}"})
        assert refused_wrong.status_code == 401
        # the API routes still want the bearer key, not Basic
        api = await http.get("/v1/models", headers=BASIC)
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
        async with httpx.AsyncClient(base_url=url, headers=BASIC, timeout=PATIENT_HTTP) as browser:
            page = await _page(browser, "/ui/")
        assert page.status_code == 200 and 'data-page="overview"' in page.text
        bearer = await http.get("/ui/", headers=AUTH)
        assert bearer.status_code == 200


async def test_ui_follows_requests_served_by_the_same_server(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    async with (
        _served_ui(tmp_path, servers) as url,
        httpx.AsyncClient(base_url=url, headers=BASIC, timeout=PATIENT_HTTP) as http,
    ):
        await _page(http, "/ui/")
        before = (await http.get("/ui/api/position")).json()["position"]
        chat = await http.post("/api/chat", json=CHAT, headers=AUTH)
        assert chat.status_code == 200
        request_id = chat.headers["x-request-id"]

        async def moved() -> bool:
            return (await http.get("/ui/api/position")).json()["position"] > before

        await until(moved)
        overview = await http.get("/ui/")
        assert 'data-key="requests" data-value="1"' in overview.text
        assert "showing the last 24 h 00 min (older events are not kept" in overview.text
        explained = await http.get(f"/ui/request/{request_id}")
        assert explained.status_code == 200 and 'data-page="request"' in explained.text
        quotas = await http.get("/ui/quotas")
        assert 'data-limit="global.requests"' in quotas.text  # the configured limit


async def test_no_ui_means_no_route(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    async with (
        _served_ui(tmp_path, servers, ui=False) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=PATIENT_HTTP) as http,
    ):
        assert (await http.get("/ui/")).status_code == 404
        assert (await http.get("/health")).status_code == 200
