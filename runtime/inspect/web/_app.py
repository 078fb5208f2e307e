"""The web view's shell: a Starlette app over a ``WebIndex`` that follows the log.

``WebView.start`` reads the log once (only the event types the index folds) and then
follows it in a background task (``EventLog.subscribe``), so every page shows the log up
to the last event committed. Pages are rendered on request from the index's view models;
the request page reads that request's own stream (``inspect explain``'s reconstruction).

Time ranges: ``since``/``until`` take what ``inspect --since`` takes (``15m``, ISO-8601,
epoch seconds). A followed log whose last event is less than ``LIVE_WITHIN`` old is
shown "live" (the span ends now, relative times count back from now); any other log is a
replay: the span ends at its last event and ``15m`` means its last 15 minutes.

Every response carries a Content-Security-Policy allowing only the app's own script and
style (no inline script or style anywhere): event data is untrusted, and even a mistake
in escaping could not run code; nor may any script compile text (no ``eval``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from events import REQUEST_STREAM_PREFIX, EventLog, EventLogError, get_logger
from runtime.inspect._errors import InspectError
from runtime.inspect._explain import health_of
from runtime.inspect._explain_model import explain
from runtime.inspect._filters import parse_time
from runtime.inspect._requests_model import RequestQuery, count_matching, failed, slowest
from runtime.inspect._requests_view import MARGIN_S
from runtime.inspect.web._html import layout
from runtime.inspect.web._index import INDEX_TYPES, WebIndex
from runtime.inspect.web._lookup import BadQuery, find_request_id
from runtime.inspect.web._pages import error_main, latency_main, overview_main
from runtime.inspect.web._pages_more import flow_main, quotas_main
from runtime.inspect.web._pages_requests import FILTERS, request_main, requests_main
from runtime.inspect.web._reading import read_log
from runtime.inspect.web._views import Span

__all__ = ["EVICT_EVERY_S", "LIVE_WITHIN", "WebView", "evict_every"]

log = get_logger(__name__)

LIVE_WITHIN = 86400.0
"""Seconds: a followed log whose last event is younger than this is shown live."""
EVICT_EVERY_S = 600.0
"""The longest time between two evictions of a followed view with a retention window."""
_MAX_LIMIT = 1000
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'"
)
_STATIC = {
    "live.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

Progress = Callable[[int, int], None]


def _read_static(name: str) -> bytes:
    return resources.files("runtime.inspect.web").joinpath("static", name).read_bytes()


class WebView:
    """The web view of one event log: an ASGI ``app`` and the index behind it."""

    def __init__(
        self,
        log: EventLog,
        *,
        title: str,
        live: bool = True,
        limits: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        keep_s: float | None = None,
        since: float | None = None,
    ) -> None:
        """Configure (nothing is read until ``start``).

        Args:
            log: The log to show (opened read-only by the caller, who closes it).
            title: Shown in every page's header (the log's name).
            live: Follow the log after reading it (pages update as events arrive).
            limits: Configured quota limits by the names quota events use.
            clock: Wall-clock seconds, for "now".
            keep_s: Keep only the last ``keep_s`` seconds in memory (None: everything):
                the read starts near ``now - keep_s`` and, while following, what falls
                out of the window is forgotten every ``evict_every(keep_s)`` seconds.
            since: Read and show only from this moment (epoch seconds) on.

        Raises:
            InspectError: ``keep_s`` is not a number of seconds > 0.
        """
        if keep_s is not None and not (math.isfinite(keep_s) and keep_s > 0):
            raise InspectError(
                f"the retention window must be a number of seconds > 0, not {keep_s}"
            )
        self._log = log
        self._title = title
        self._live = live
        self._clock = clock
        self.index = WebIndex(limits=limits)
        self._keep_s = keep_s
        self._since = since
        self._next_evict = math.inf
        self.read_from = 1
        """The first position the start read (after ``start``)."""
        self._follower: asyncio.Task[None] | None = None
        self._read_to = 0
        self._files = {name: _read_static(name) for name in _STATIC}
        self.app = Starlette(
            routes=[
                Route("/", self._overview),
                Route("/latency", self._latency),
                Route("/requests", self._requests),
                Route("/request/{request_id}", self._request),
                Route("/quotas", self._quotas),
                Route("/flow", self._flow),
                Route("/api/position", self._position),
                Route("/static/{name}", self._static),
            ],
            exception_handlers={404: self._no_page},
        )

    async def start(self, *, on_progress: Progress | None = None) -> None:
        """Read the log into the index (``on_progress(done, total)`` as it goes), then
        follow it when ``live``."""
        first, last = await read_log(
            self._log, self.index, cutoff=self._cutoff(), on_progress=on_progress
        )
        self.read_from = first
        log.info("web.index.complete", events=self.index.events, position=last, start=first)
        self._read_to = last
        if self._keep_s is not None:
            self._next_evict = self._clock() + evict_every(self._keep_s)
        if self._live:
            self._follower = asyncio.create_task(self._follow(), name="llmrt-web-follow")

    async def _follow(self) -> None:
        """Feed the index every event committed after the initial read, as it comes.

        A log that fails (its file gone, the database down) ends the following, said in a
        warning; the pages keep showing what was read.
        """
        start = max(self._read_to, self.index.position) + 1
        events = self._log.subscribe(from_position=start, types=INDEX_TYPES)
        try:
            async for stored in events:
                self.index.feed(stored)
                if self._keep_s is not None and self._clock() >= self._next_evict:
                    self._evict(self._keep_s)
        except EventLogError as exc:
            log.warning("web.follow.failed", error=str(exc), position=self.index.position)
        finally:
            close = getattr(events, "aclose", None)  # an async generator: end its read
            if close is not None:
                await close()

    async def aclose(self) -> None:
        """Stop following the log (the caller closes the log itself)."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None

    # --- helpers -------------------------------------------------------------------

    def _evict(self, keep_s: float) -> None:
        """Forget what is older than ``keep_s`` (the follower's work, never a page's)."""
        now = self._clock()
        before = len(self.index.requests)
        self.index.forget_before(now - keep_s, running_s=MARGIN_S)
        self._next_evict = now + evict_every(keep_s)
        log.info(
            "web.index.forgot",
            before=now - keep_s,
            requests=len(self.index.requests),
            forgotten=before - len(self.index.requests),
        )

    def _cutoff(self) -> float | None:
        """Where the read starts: ``since`` or ``now - keep_s``, the later (None: at the
        first event)."""
        moments = [m for m in (self._since, self._window_start(self._clock())) if m is not None]
        return max(moments, default=None)

    def _window_start(self, reference: float) -> float | None:
        return None if self._keep_s is None else reference - self._keep_s

    def _floor(self, reference: float) -> float | None:
        """The earliest time pages show: what the index keeps, and the retention window's
        start (None: any)."""
        moments = (self.index.kept_since, self._window_start(reference))
        return max((m for m in moments if m is not None), default=None)

    def _is_live(self, now: float) -> bool:
        """Followed, and the last event is recent (or nothing read is kept: a window of
        a log quiet for longer than the window is shown up to now)."""
        last, kept = self.index.last_at, self.index.kept_since
        quiet = last is not None and kept is not None and last < kept
        return self._live and (last is None or now - last <= LIVE_WITHIN or quiet)

    def _span(self, request: Request) -> tuple[Span, str, str]:
        """The span the query's ``since``/``until`` ask for, and the texts as given."""
        now = self._clock()
        live = self._is_live(now)
        reference = now if live or self.index.last_at is None else self.index.last_at
        since_text = request.query_params.get("since", "").strip()
        until_text = request.query_params.get("until", "").strip()
        since = _at_least(_time(since_text, reference, "since"), self._floor(reference))
        until = _time(until_text, reference, "until")
        if since is not None and until is not None and since >= until:
            raise BadQuery(f"since ({since_text}) must be before until ({until_text})")
        try:
            span = self.index.span(since, until, now=now, live=live and until is None)
        except InspectError as exc:
            raise BadQuery(str(exc)) from None
        return span, since_text, until_text

    def _page(self, request: Request, page: str, main: str, *, status: int = 200) -> Response:
        nav = request.query_params.get("kind") if page == "requests" else None
        html = layout(
            title=self._title,
            page=page,
            position=self.index.position,
            root=request.scope.get("root_path", ""),
            main=main,
            live=self._follower is not None,
            nav="failed" if nav == "failed" else None,
            keep={k: v for k in ("since", "until") if (v := request.query_params.get(k, ""))},
        )
        return HTMLResponse(html, status_code=status, headers=_headers())

    def _error(self, request: Request, page: str, message: str, status: int) -> Response:
        heading = "Not found" if status == 404 else "Cannot show this page"
        return self._page(request, page, error_main(message, heading=heading), status=status)

    # --- pages ---------------------------------------------------------------------

    async def _overview(self, request: Request) -> Response:
        try:
            span, since, until = self._span(request)
        except BadQuery as exc:
            return self._error(request, "overview", str(exc), 400)
        view = msgspec.structs.replace(self.index.overview(span), keep_s=self._keep_s)
        main = overview_main(view, since=since, until=until)
        return self._page(request, "overview", main)

    async def _latency(self, request: Request) -> Response:
        try:
            span, since, until = self._span(request)
        except BadQuery as exc:
            return self._error(request, "latency", str(exc), 400)
        return self._page(
            request, "latency", latency_main(self.index.latency(span), since=since, until=until)
        )

    async def _quotas(self, request: Request) -> Response:
        try:
            span, since, until = self._span(request)
        except BadQuery as exc:
            return self._error(request, "quotas", str(exc), 400)
        return self._page(
            request, "quotas", quotas_main(self.index.quotas(span), since=since, until=until)
        )

    async def _flow(self, request: Request) -> Response:
        try:
            span, since, until = self._span(request)
        except BadQuery as exc:
            return self._error(request, "flow", str(exc), 400)
        return self._page(
            request, "flow", flow_main(self.index.flow(span), since=since, until=until)
        )

    async def _requests(self, request: Request) -> Response:
        params = request.query_params
        kind = params.get("kind", "slow") or "slow"
        values = {name: params.get(name, "").strip() for name in FILTERS}
        try:
            if kind not in ("slow", "failed"):
                raise BadQuery(f"kind must be slow or failed, not {kind!r}")
            query = self._query(values)
        except BadQuery as exc:
            return self._error(request, "requests", str(exc), 400)
        rows = self.index.requests.rows()
        chosen = slowest(rows, query) if kind == "slow" else failed(rows, query)
        matching = count_matching(rows, query, kind="slow" if kind == "slow" else "failed")
        main = requests_main(
            kind, chosen, matching=matching, total=len(self.index.requests), values=values
        )
        return self._page(request, "requests", main)

    def _query(self, values: Mapping[str, str]) -> RequestQuery:
        now = self._clock()
        live = self._is_live(now)
        reference = now if live or self.index.last_at is None else self.index.last_at
        limit_text = values["limit"] or "20"
        try:
            limit = int(limit_text)
        except ValueError:
            raise BadQuery(f"limit must be a whole number, not {limit_text!r}") from None
        if not 1 <= limit <= _MAX_LIMIT:
            raise BadQuery(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
        return RequestQuery(
            since=_at_least(_time(values["since"], reference, "since"), self._floor(reference)),
            until=_time(values["until"], reference, "until"),
            role=values["role"] or None,
            model=values["model"] or None,
            deployment=values["deployment"] or None,
            failure=values["failure"] or None,
            limit=limit,
        )

    async def _request(self, request: Request) -> Response:
        wanted = str(request.path_params["request_id"]).strip()
        try:
            rid = await find_request_id(self.index.requests, self._log, wanted)
        except BadQuery as exc:
            return self._error(request, "request", str(exc), 400)
        except InspectError as exc:
            return self._error(request, "request", str(exc), 404)
        reader: Any = self._log  # explain's helpers take any EventLog (typed as SQLite's)
        events = [e async for e in self._log.read(stream=REQUEST_STREAM_PREFIX + rid)]
        health = await health_of(reader, events)
        try:
            explanation = explain(events, health)
        except ValueError as exc:
            message = f"request {rid} cannot be shown: {exc} (its first events may be compacted)"
            return self._error(request, "request", message, 404)
        return self._page(request, "request", request_main(explanation))

    async def _no_page(self, request: Request, exc: Exception) -> Response:
        message = f"there is no page {request.url.path!r} here; the links above lead to every page"
        return self._error(request, "error", message, 404)

    async def _position(self, request: Request) -> Response:
        body = {"position": self.index.position, "last_at": self.index.last_at}
        return JSONResponse(body, headers=_headers())

    async def _static(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in self._files:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            self._files[name],
            media_type=_STATIC[name],
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )


def _time(text: str, reference: float, option: str) -> float | None:
    if not text:
        return None
    try:
        return parse_time(text, reference, option=option)
    except InspectError as exc:
        raise BadQuery(str(exc)) from None


def evict_every(keep_s: float) -> float:
    """Seconds between two evictions of a window of ``keep_s``: a 24th of it, at most
    ``EVICT_EVERY_S``."""
    return min(keep_s / 24, EVICT_EVERY_S)


def _at_least(value: float | None, floor: float | None) -> float | None:
    if floor is None:
        return value
    return floor if value is None else max(value, floor)


def _headers() -> dict[str, str]:
    return {
        "content-security-policy": _CSP,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }
