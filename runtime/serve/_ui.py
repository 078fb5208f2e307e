"""The web view under ``serve`` at ``/ui``: the log's pages, live, behind the server's key.

The view reads the log the configuration names through its own read-only connection (a
second reader of the SQLite file, or read-only sessions on the PostgreSQL database), so
it sees what every runtime sharing the log wrote, and never slows the writer. Reading a
long log takes a while: until the view has read it, ``/ui`` answers 503 with a page that
says how far it got and reloads itself. The key check is ``Guard``'s (bearer, or HTTP
Basic with the key as the password, which a browser sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from events import EventLog, PostgresEventLog, SqliteEventLog, get_logger
from runtime._build import quota_limits
from runtime._config import RuntimeConfig

if TYPE_CHECKING:
    from runtime.inspect.web import WebView

__all__ = ["ServedView"]

log = get_logger(__name__)


async def _open_reader(config: RuntimeConfig) -> EventLog:
    section = config.event_log
    if section.url is not None:
        return await PostgresEventLog.open_readonly(section.url)
    return await SqliteEventLog.open_readonly(section.path)


class ServedView:
    """The ASGI app mounted at ``/ui``: a ``WebView`` of the configured log, loaded in the
    background after ``start``."""

    def __init__(self, config: RuntimeConfig, *, keep_s: float | None = None) -> None:
        """Args:
        config: The runtime's configuration (its event log and quota limits).
        keep_s: Seconds of the log the view keeps in memory and shows (None: all of it;
            ``serve`` passes ``ServeSettings.ui_keep_s``, a day by default).
        """
        self._config = config
        self._keep_s = keep_s
        self._reader: EventLog | None = None
        self._view: WebView | None = None
        self._loading: asyncio.Task[None] | None = None
        self._ready = False
        self._done = 0
        self._total = 0
        self._failure: str | None = None

    async def start(self) -> None:
        """Open the reader and start reading the log in the background (returns at once).

        Raises:
            EventLogError: The log cannot be opened for reading.
        """
        from runtime.inspect.web import WebView  # only loaded when the view is served
        from runtime.inspect.web._index_quota import configured_limits

        self._reader = await _open_reader(self._config)
        self._view = WebView(
            self._reader,
            title="serve",
            live=True,
            limits=configured_limits(quota_limits(self._config)),
            keep_s=self._keep_s,
        )
        self._loading = asyncio.create_task(self._load(self._view), name="llmrt-ui-load")

    async def _load(self, view: WebView) -> None:
        try:
            await view.start(on_progress=self._progress)
        except Exception as exc:  # the page says it; serving the API goes on
            self._failure = str(exc) or type(exc).__name__
            log.warning("serve.ui.failed", error=self._failure)
            return
        self._ready = True
        log.info("serve.ui.ready", events=self._done)

    def _progress(self, done: int, total: int) -> None:
        self._done, self._total = done, total

    async def aclose(self) -> None:
        """Stop following the log and close the reader."""
        if self._loading is not None:
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading
        if self._view is not None:
            await self._view.aclose()
        if self._reader is not None:
            await self._reader.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._ready and self._view is not None:
            await self._view.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if self._failure is not None:
            text, status, refresh = f"the web view could not read the log: {self._failure}", 500, ""
        else:
            share = f" ({self._done * 100 // self._total}%)" if self._total else ""
            text = f"reading the event log: {self._done:,} of {self._total:,} events{share}"
            status, refresh = 503, '<meta http-equiv="refresh" content="1">'
        body = (
            f'<!doctype html><html><head><meta charset="utf-8">{refresh}'
            f'<title>llmrt web view</title></head><body><main id="main">'
            f'<p class="error">{html.escape(text)}</p></main></body></html>'
        ).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
