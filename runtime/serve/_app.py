"""``create_app``: the Starlette application of the facade over one started Runtime.

Routes (every one behind the bearer key when a key is set)::

    POST /v1/chat/completions      OpenAI chat, stream or not (tools, JSON output...)
    POST /v1/embeddings            OpenAI embeddings (float or base64)
    GET  /v1/models                every name rt.list_models() routes, as OpenAI models
    POST /api/chat                 Ollama chat, NDJSON stream (default) or not
    POST /api/generate             Ollama generate (prompt + system + images)
    POST /api/embed                Ollama embeddings
    POST /api/embeddings           Ollama's legacy embeddings (one prompt)
    GET  /api/tags                 every name rt.list_models() routes, as Ollama models
    POST /api/show                 a model's details (from its Ollama backend if any)
    GET  /api/ps                   the Ollama backends' loaded models
    GET  /api/version              the highest Ollama backend version (else ours)
    GET  /health                   rt.health(); 200 if any model is usable, else 503
    GET  /metrics                  Prometheus text format (runtime + HTTP families)
    GET  /performance-metrics      rt.performance(); ?kind= or ?agent_type= for one kind
    POST /admin/health/reset       rt.reset_health(target): clear a quarantine (_admin)
    POST /admin/health/probe       rt.probe(target): run the health check now (_admin)
    GET  /ui/...                   the web view of the log, live (when ``ui`` is given;
                                   a browser may send the key as HTTP Basic's password)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from actors.router import Embeddings, Reply, StreamChunk
from events import get_logger
from runtime._metrics import RuntimeMetrics
from runtime._runtime import Runtime
from runtime.serve import _embeddings, _ollama, _openai
from runtime.serve._admin import ADMIN_ROUTES, admin_routes
from runtime.serve._backends import OllamaBackends
from runtime.serve._body import read_json
from runtime.serve._errors import ClientGone, HttpError, from_runtime_error
from runtime.serve._fields import opt_bool
from runtime.serve._limits import ChatCall
from runtime.serve._middleware import UI_PREFIX, Guard, HttpMetrics, Observe
from runtime.serve._relay import Relay
from runtime.serve._responses import ClosingStreamingResponse, error_response, json_response
from runtime.serve._settings import ServeSettings
from runtime.serve._streaming import ndjson_body, sse_body
from runtime.serve._views import catalog_entries, health_view, performance_view

__all__ = ["ROUTES", "create_app"]

log = get_logger(__name__)

ROUTES = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/models",
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/show",
    "/api/ps",
    "/api/version",
    "/health",
    "/metrics",
    "/performance-metrics",
    *ADMIN_ROUTES,
)
"""Every path the facade serves."""

_CLIENT_CLOSED = 499
"""Status recorded when the client left before its answer (nginx's convention)."""


def create_app(
    rt: Runtime,
    settings: ServeSettings,
    *,
    metrics: RuntimeMetrics | None = None,
    ui: ASGIApp | None = None,
) -> Starlette:
    """The facade over ``rt`` (started) with ``settings``' key and limits.

    Args:
        rt: A started Runtime; the app never starts or closes it.
        settings: Key and limits (host/port are the server's business).
        metrics: The runtime's metrics to serve on ``/metrics`` (HTTP families are
            added to its registry); None: the app makes one and closes it when its
            lifespan ends.
        ui: The web view to mount at ``/ui`` (``runtime.serve._ui.ServedView``, started
            and closed by the caller); None: no ``/ui``.
    """
    own = metrics is None
    runtime_metrics = RuntimeMetrics(rt) if metrics is None else metrics
    http = HttpMetrics(runtime_metrics.registry, ROUTES)
    api = _Api(rt, settings, runtime_metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await api.backends.aclose()
            if own:
                runtime_metrics.close()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HttpError)
        if 400 <= exc.status < 500:
            http.rejections.labels(exc.code).inc()
        return error_response(request.url.path, exc)

    routes: list[Route | Mount] = [*api.routes()]
    if ui is not None:
        routes.append(Mount(UI_PREFIX, app=ui))
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(Observe, metrics=http),
            Middleware(Guard, api_key=settings.api_key, metrics=http),
        ],
        exception_handlers={
            HttpError: on_http_error,
            ClientGone: _on_client_gone,
            HTTPException: _on_starlette_error,
            Exception: _on_unexpected,
        },
        lifespan=lifespan,
    )


class _Api:
    """The route handlers; see the module docstring."""

    def __init__(self, rt: Runtime, settings: ServeSettings, metrics: RuntimeMetrics) -> None:
        self._rt = rt
        self._settings = settings
        self._metrics = metrics
        self._relay = Relay(rt, settings)
        self._started = time.time()
        self.backends = OllamaBackends(rt.config)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
            Route("/v1/embeddings", self.openai_embeddings, methods=["POST"]),
            Route("/v1/models", self.openai_models, methods=["GET"]),
            Route("/api/chat", self.ollama_chat, methods=["POST"]),
            Route("/api/generate", self.ollama_generate, methods=["POST"]),
            Route("/api/embed", self.ollama_embed, methods=["POST"]),
            Route("/api/embeddings", self.ollama_embeddings, methods=["POST"]),
            Route("/api/tags", self.ollama_tags, methods=["GET"]),
            Route("/api/show", self.ollama_show, methods=["POST"]),
            Route("/api/ps", self.ollama_ps, methods=["GET"]),
            Route("/api/version", self.ollama_version, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/performance-metrics", self.performance, methods=["GET"]),
            *admin_routes(self._rt, self._body),
        ]

    async def _body(self, request: Request) -> dict[str, Any]:
        return await read_json(request, self._settings.max_body_bytes)

    async def openai_chat(self, request: Request) -> Response:
        call = _openai.parse_chat(await self._body(request), self._settings)
        created = int(time.time())
        if call.stream:
            stream = await self._relay.open_stream(call, request.receive)
            return ClosingStreamingResponse(
                sse_body(stream, created, call.include_usage),
                headers=_stream_headers(stream.first),
                media_type="text/event-stream",
            )
        reply = await self._relay.chat(call, request.receive)
        return json_response(_openai.completion(reply, created), headers=_reply_headers(reply))

    async def ollama_chat(self, request: Request) -> Response:
        call = _ollama.parse_chat(await self._body(request), self._settings)
        return await self._ollama("chat", call, request)

    async def ollama_generate(self, request: Request) -> Response:
        call = _ollama.parse_generate(await self._body(request), self._settings)
        if not call.messages:  # Ollama's "load the model" call: nothing to generate
            self._relay.check_target(call)
            body = _ollama.load_body(call.target, time.time())
            return json_response(body)
        return await self._ollama("generate", call, request)

    async def _ollama(self, route: _ollama.Route, call: ChatCall, request: Request) -> Response:
        if call.stream:
            stream = await self._relay.open_stream(call, request.receive)
            return ClosingStreamingResponse(
                ndjson_body(route, stream),
                headers=_stream_headers(stream.first),
                media_type="application/x-ndjson",
            )
        reply = await self._relay.chat(call, request.receive)
        body = _ollama.reply_body(route, reply, time.time())
        return json_response(body, headers=_reply_headers(reply))

    async def openai_embeddings(self, request: Request) -> Response:
        call = _embeddings.parse_openai_embeddings(await self._body(request))
        answer = await self._relay.embed(call, request.receive)
        body = _embeddings.openai_embeddings_body(answer, call.encoding)
        return json_response(body, headers=_reply_headers(answer))

    async def ollama_embed(self, request: Request) -> Response:
        call = _embeddings.parse_ollama_embed(await self._body(request))
        answer = await self._relay.embed(call, request.receive)
        return json_response(_embeddings.ollama_embed_body(answer), headers=_reply_headers(answer))

    async def ollama_embeddings(self, request: Request) -> Response:
        call = _embeddings.parse_ollama_embeddings(await self._body(request))
        answer = await self._relay.embed(call, request.receive)
        body = _embeddings.ollama_embeddings_body(answer)
        return json_response(body, headers=_reply_headers(answer))

    async def openai_models(self, request: Request) -> Response:
        entries = catalog_entries(self._rt.list_models())
        return json_response(_openai.models_list(entries, int(self._started)))

    async def ollama_tags(self, request: Request) -> Response:
        return json_response(_ollama.tags(catalog_entries(self._rt.list_models()), self._started))

    async def ollama_show(self, request: Request) -> Response:
        body = await self._body(request)
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            raise HttpError(
                400, "'model' must be a non-empty string", code="invalid_field", param="model"
            )
        verbose = opt_bool(body, "verbose", False)
        return json_response(
            await self.backends.show(name, self._rt.list_models(), verbose=verbose)
        )

    async def ollama_ps(self, request: Request) -> Response:
        return json_response(await self.backends.ps())

    async def ollama_version(self, request: Request) -> Response:
        return json_response(await self.backends.version())

    async def health(self, request: Request) -> Response:
        status, body = health_view(self._rt.health())
        return json_response(body, status)

    async def metrics(self, request: Request) -> Response:
        body, content_type = self._metrics.render()
        return Response(body, headers={"content-type": content_type})

    async def performance(self, request: Request) -> Response:
        kind = _kind_query(request)
        config = self._rt.config
        kinds = {role: config.role_kind(role) for role in config.roles}
        return json_response(performance_view(self._rt.performance(), kind, kinds))


def _kind_query(request: Request) -> str | None:
    values = {v for k, v in request.query_params.multi_items() if k in ("kind", "agent_type")}
    if len(values) > 1:
        raise HttpError(
            400,
            "give one task kind: 'kind' and 'agent_type' (its alias) differ",
            code="invalid_query",
            param="kind",
        )
    return values.pop() if values else None


def _reply_headers(reply: Reply | Embeddings) -> dict[str, str]:
    return {
        "x-request-id": reply.request_id,
        "x-llmrt-model": reply.model,
        "x-llmrt-endpoint": reply.endpoint,
    }


def _stream_headers(first: StreamChunk) -> dict[str, str]:
    return {
        "x-request-id": first.request_id,
        "x-llmrt-model": first.model,
        "x-llmrt-endpoint": first.endpoint,
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
    }


async def _on_client_gone(request: Request, exc: Exception) -> Response:
    log.info("serve.client.gone", path=request.url.path)
    return Response(status_code=_CLIENT_CLOSED)


async def _on_starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}; routes: {', '.join(ROUTES)}"
    else:
        message = f"{exc.detail} for {request.method} {request.url.path}"
    code = "not_found" if exc.status_code == 404 else "http_error"
    error = HttpError(exc.status_code, message, code=code, headers=exc.headers)
    return error_response(request.url.path, error)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    mapped = from_runtime_error(exc, now=time.time())  # e.g. /health while an actor restarts
    if mapped is not None:
        return error_response(request.url.path, mapped)
    error = HttpError(500, "internal error; see the server log", code="internal_error")
    return error_response(request.url.path, error)
