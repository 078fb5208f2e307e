"""The facade's ASGI middleware: the key check (``Guard``) and metrics/logging
(``Observe``), plus the HTTP metric families they feed.

``Observe`` wraps everything, so refused requests are counted and logged too. Logged
paths never include the query string (it may hold a key someone put there by mistake).
At info level each request logs one line: ``runtime.request`` (from ``log_requests``)
for one the runtime served, else ``serve.http.request`` (``/health``, ``/metrics``,
refusals); the access line of a runtime-served request is logged at debug.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events import get_logger
from runtime._metrics import LATENCY_BUCKETS
from runtime.serve._auth import basic_matches, bearer_matches, query_secret
from runtime.serve._errors import HttpError
from runtime.serve._responses import error_response

__all__ = ["Guard", "HttpMetrics", "Observe"]

log = get_logger(__name__)

_PATH_SHOWN = 200
"""Longest path logged (the client chooses it)."""
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


class HttpMetrics:
    """HTTP families added to the runtime metrics' registry (prefix ``llmrt_http_``)."""

    def __init__(self, registry: CollectorRegistry, routes: Collection[str]) -> None:
        self._routes = frozenset(routes)
        self.requests = Counter(
            "llmrt_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "llmrt_http_request_duration_seconds",
            "Seconds from request to the end of the response (whole streams included), by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rejections = Counter(
            "llmrt_http_rejections",
            "Requests refused before reaching the runtime, by reason "
            "(unauthorized, key_in_query, body_too_large, backend_field_refused...).",
            ["reason"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "llmrt_http_in_flight", "HTTP requests being served now.", registry=registry
        )

    def route(self, path: str) -> str:
        """The route label of ``path``: a known route, else ``other`` (bounded labels)."""
        return path if path in self._routes else "other"


UI_PREFIX = "/ui"
"""Where serve mounts the web view: a browser there may send the key as HTTP Basic."""


class Guard:
    """Refuses a credential in the query string (400) and a missing or wrong bearer key
    (401, when a key is set) before any route runs.

    Under ``/ui`` (the web view) the key may also come as the password of HTTP Basic
    credentials, which a browser can send; a refusal there asks for them, so the browser
    shows its log-in prompt.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, metrics: HttpMetrics) -> None:
        self._app = app
        self._key = None if api_key is None else api_key.encode()
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        error = self._refusal(scope)
        if error is None:
            await self._app(scope, receive, send)
            return
        self._metrics.rejections.labels(error.code).inc()
        await error_response(scope["path"], error)(scope, receive, send)

    def _refusal(self, scope: Scope) -> HttpError | None:
        query = scope.get("query_string", b"").decode("latin-1")
        names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
        found = query_secret(names)
        if found is not None:
            return HttpError(
                400,
                f"query parameter {found!r} looks like a credential; never put keys in URLs "
                "(they end up in logs); send the header 'Authorization: Bearer <key>'",
                code="key_in_query",
                param=found,
            )
        if self._key is None:
            return None
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if bearer_matches(header, self._key):
            return None
        said = "missing" if header is None else "wrong"
        path: str = scope["path"]
        if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            if basic_matches(header, self._key):
                return None
            return HttpError(
                401,
                f"{said} API key: log in with any user name and the server's key as the "
                "password, or send 'Authorization: Bearer <key>'",
                code="unauthorized",
                headers={"www-authenticate": 'Basic realm="llmrt web view", charset="UTF-8"'},
            )
        return HttpError(
            401,
            f"{said} API key: send the header 'Authorization: Bearer <key>' with the key "
            "this server was started with",
            code="unauthorized",
            headers={"www-authenticate": "Bearer"},
        )


class Observe:
    """Counts, times and logs every HTTP request (``serve.http.request``)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        seen: dict[str, object] = {"status": 500, "request_id": None}

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = dict(message.get("headers", ()))
                rid = headers.get(b"x-request-id")
                seen["request_id"] = rid.decode("latin-1") if rid else None
            await send(message)

        started = time.perf_counter()
        self._metrics.in_flight.inc()
        try:
            await self._app(scope, receive, observed)
        finally:
            self._metrics.in_flight.dec()
            self._done(scope, seen, time.perf_counter() - started)

    def _done(self, scope: Scope, seen: dict[str, object], seconds: float) -> None:
        route = self._metrics.route(scope["path"])
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = seen["status"]
        self._metrics.requests.labels(route, method, str(status)).inc()
        self._metrics.duration.labels(route).observe(seconds)
        # A request the runtime served already has its canonical ``runtime.request``
        # line (same request_id, with the model, attempts and latency); the access
        # line is then debug detail, so info level shows one line per request.
        emit = log.info if seen["request_id"] is None else log.debug
        emit(
            "serve.http.request",
            method=method,
            path=scope["path"][:_PATH_SHOWN],
            status=status,
            duration_s=round(seconds, 4),
            request_id=seen["request_id"],
        )
