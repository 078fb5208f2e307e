"""The fake backend's state and its Ollama / OpenAI routes (no sockets).

`Backend.handle` turns one parsed HTTP request into a `Reply` plan, counting what it
received and consulting the fault book on the way.
"""

from __future__ import annotations

import copy
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from runtime.testing import _embed, _request, _schema, _text, _wire
from runtime.testing._faults import Fault, FaultBook
from runtime.testing._reply import (
    NDJSON,
    SSE,
    Reply,
    ReplyContext,
    apply_fault,
    error_reply,
    json_reply,
    not_found_reply,
)
from runtime.testing._request import BadRequest
from runtime.testing._script import ScriptBook, Scripted, ScriptedReply, ToolRoundTrip
from runtime.testing._tools import ScriptedToolCall

RECEIVED_LIMIT: Final = 1_000
"""How many request bodies `Backend.received` remembers (the oldest are dropped)."""


@dataclass(frozen=True, kw_only=True)
class HttpRequest:
    """One parsed HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ChaosStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of what the chaos server received (admin routes are not counted)."""

    total_requests: int
    """API requests received, including rejected and faulted ones."""
    faults_injected: int
    by_route: dict[str, int]
    """Requests per path, e.g. ``{"/api/chat": 3}``."""
    by_model: dict[str, int]
    """Requests per model named in the request (served name when it matched)."""
    by_fault: dict[str, int]
    """Injected faults per kind."""
    connections: int
    """TCP connections accepted (keep-alive reuses one for many requests)."""


def canonical(name: str) -> str:
    """Ollama's full model name: a bare name means the ``latest`` tag."""
    return name if ":" in name else f"{name}:latest"


class Backend:
    """The state behind the routes: models, scripts, faults and counters."""

    def __init__(self, models: Iterable[str], seed: int, clock: Callable[[], float]) -> None:
        """Serve `models`, generating text seeded by `seed`, timestamps from `clock`."""
        self.models = list(dict.fromkeys(models))
        self.seed = seed
        self.faults = FaultBook(seed)
        self._clock = clock
        self._started = clock()
        self.scripts = ScriptBook()
        self._received: deque[tuple[str, str | None, dict[str, Any]]] = deque(maxlen=RECEIVED_LIMIT)
        self._replies = 0
        self.echo_key = False
        """Put the request's ``Authorization`` value into every fault's error text, as
        OpenAI-compatible servers do ("Incorrect API key provided: ...")."""
        self.reset()

    def reset(self) -> None:
        """Forget counters, faults, scripts and received bodies (models and seed stay)."""
        self.faults.clear()
        self.scripts.clear()
        self._received.clear()
        self._by_route: Counter[str] = Counter()
        self._by_model: Counter[str] = Counter()
        self._by_pair: Counter[tuple[str, str | None]] = Counter()
        self._by_fault: Counter[str] = Counter()
        self.connections = 0

    def resolve(self, model: str) -> str | None:
        """The served name `model` refers to (``x`` and ``x:latest`` match), or None."""
        wanted = canonical(model)
        return next((m for m in self.models if canonical(m) == wanted), None)

    def script(self, model: str, replies: Iterable[Scripted]) -> int:
        """Queue replies for `model`, used in order before anything else; return how
        many were queued."""
        return self.scripts.queue(self.resolve(model) or model, replies)

    def script_round_trip(self, model: str, rule: ToolRoundTrip | None) -> None:
        """Install (None: remove) the standing tool round-trip rule of `model`."""
        self.scripts.set_round_trip(self.resolve(model) or model, rule)

    def received(
        self, *, route: str | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the decoded JSON bodies received, oldest first, filtered by
        `route` and/or `model` (``x`` matches ``x:latest``)."""
        key = None if model is None else (self.resolve(model) or model)
        return [
            copy.deepcopy(body)
            for r, m, body in self._received
            if (route is None or r == route) and (key is None or m == key)
        ]

    def stats(self) -> ChaosStats:
        """A frozen snapshot of the counters."""
        return ChaosStats(
            total_requests=sum(self._by_route.values()),
            faults_injected=sum(self._by_fault.values()),
            by_route=dict(self._by_route),
            by_model=dict(self._by_model),
            by_fault=dict(self._by_fault),
            connections=self.connections,
        )

    def requests_for(self, *, model: str | None = None, route: str | None = None) -> int:
        """Count requests matching `model` and/or `route` (None matches anything)."""
        key = None if model is None else (self.resolve(model) or model)
        return sum(
            n
            for (r, m), n in self._by_pair.items()
            if (route is None or r == route) and (key is None or m == key)
        )

    def handle(self, request: HttpRequest) -> Reply:
        """Answer one API request, injecting a fault when one is due."""
        entry = _ROUTES.get(request.path)
        if entry is None or request.method != entry[0]:
            self._count(request.path, None)
            if entry is None:
                return Reply(status=404, content_type="text/plain", frames=[b"404 page not found"])
            return Reply(status=405, content_type="text/plain", frames=[b"405 method not allowed"])
        method, dialect, handler = entry
        ctx = ReplyContext(dialect=dialect, model=None, streaming=False)
        try:
            body = _request.decode(request.body) if method == "POST" else {}
        except BadRequest as exc:
            self._count(request.path, None)
            return error_reply(ctx, 400, str(exc))
        model = body.get("model", body.get("name"))
        model = model if isinstance(model, str) else None
        served = None if model is None else self.resolve(model)
        self._count(request.path, served or model)
        if method == "POST":
            self._received.append((request.path, served or model, body))
        try:
            normal, ctx = handler(self, body, dialect)
        except (BadRequest, _schema.SchemaError) as exc:
            return error_reply(ctx, 400, str(exc))
        fault = self.faults.pick(served or model)
        if fault is None:
            return normal
        self._by_fault[fault.kind] += 1
        if self.echo_key:
            fault = _echoing(fault, request)
        return apply_fault(fault, normal, ctx)

    def _count(self, route: str, model: str | None) -> None:
        """Record one received request."""
        self._by_route[route] += 1
        self._by_pair[(route, model)] += 1
        if model is not None:
            self._by_model[model] += 1

    def completion(
        self, model: str, body: dict[str, Any], route: _wire.Route, dialect: _wire.Dialect
    ) -> _wire.Completion:
        """The reply to a chat / completion request: a scripted reply, else JSON when
        the request asks for it, else deterministic words."""
        served = self.resolve(model) or model
        prompt = _request.prompt(body, route)
        chat = route == "chat"
        scripted = self.scripts.next(
            served,
            chat=chat,
            has_tools=chat and _request.has_tools(body),
            tool_result=_request.pending_tool_result(body) if chat else None,
        )
        words, calls = self._words(served, body, prompt, dialect, scripted)
        kept, cut = _text.limit(words, _request.max_tokens(body, dialect))
        self._replies += 1
        finish: Literal["stop", "length", "tool_calls"] = "stop"
        if cut:
            finish = "length"
        elif calls and chat:
            finish = "tool_calls"
        return _wire.Completion(
            model=model,
            pieces=kept,
            prompt_tokens=_text.prompt_tokens(prompt),
            finish_reason=finish,
            created=self._clock(),
            ident=f"chaos{self.seed & 0xFFFF:04x}{self._replies:08x}",
            tool_calls=calls if chat and not cut else (),
        )

    def _words(
        self,
        served: str,
        body: dict[str, Any],
        prompt: str,
        dialect: _wire.Dialect,
        scripted: ScriptedReply | None,
    ) -> tuple[list[str], tuple[ScriptedToolCall, ...]]:
        """The stream pieces of the reply text and the tool calls to make."""
        if scripted is not None:
            return _text.word_pieces(_text.split_words(scripted.text)), scripted.tool_calls
        mode = _request.json_mode(body, dialect)
        if mode is None:
            return _text.word_pieces(_text.generate_words(self.seed, served, prompt)), ()
        if mode.schema is None:
            answer = " ".join(_text.generate_words(self.seed, served, prompt)[:6])
            value: object = {"answer": answer}
        else:
            value = _schema.instance(mode.schema)
        return _text.exact_pieces(_wire.encode(value).decode()), ()

    def now(self) -> float:
        """The current wall-clock time (Unix seconds)."""
        return self._clock()

    @property
    def started(self) -> float:
        """Unix time the backend was created (used as ``modified_at``)."""
        return self._started


_Handler = Callable[[Backend, dict[str, Any], _wire.Dialect], tuple[Reply, ReplyContext]]


def _inference(route: _wire.Route) -> _Handler:
    """Build the handler of a chat / generate / completions route."""

    def handler(
        be: Backend, body: dict[str, Any], dialect: _wire.Dialect
    ) -> tuple[Reply, ReplyContext]:
        model = body.get("model")
        stream = bool(body.get("stream", dialect == "ollama"))
        ctx = ReplyContext(dialect=dialect, model=model, streaming=stream)
        if not isinstance(model, str) or not model:
            raise BadRequest("model is required")
        prompt = _request.prompt(body, route)
        ctx = ReplyContext(
            dialect=dialect,
            model=model,
            streaming=stream,
            prompt_tokens=_text.prompt_tokens(prompt),
        )
        if be.resolve(model) is None:
            return not_found_reply(ctx, model), ctx
        c = be.completion(model, body, route, dialect)
        return _render(route, dialect, c, body, stream), ctx

    return handler


def _render(
    route: _wire.Route,
    dialect: _wire.Dialect,
    c: _wire.Completion,
    body: dict[str, Any],
    stream: bool,
) -> Reply:
    """Render a completion as JSON, NDJSON or SSE."""
    if dialect == "ollama":
        if not stream:
            return json_reply(200, _wire.ollama_body(route, c))
        frames = _wire.ollama_stream(route, c)
        return Reply(status=200, content_type=NDJSON, frames=frames, streaming=True, terminal=1)
    if not stream:
        return json_reply(200, _wire.openai_body(route, c))
    options = body.get("stream_options") or {}
    usage = isinstance(options, dict) and bool(options.get("include_usage"))
    frames = _wire.openai_stream(route, c, usage)
    return Reply(
        status=200,
        content_type=SSE,
        frames=frames,
        streaming=True,
        terminal=3 if usage else 2,
        headers=(("Cache-Control", "no-cache"),),
    )


def _listing(build: Callable[[Backend], bytes]) -> _Handler:
    """Build the handler of a route that only reads the backend (tags, models, ...)."""

    def handler(
        be: Backend, body: dict[str, Any], dialect: _wire.Dialect
    ) -> tuple[Reply, ReplyContext]:
        return json_reply(200, build(be)), ReplyContext(
            dialect=dialect, model=None, streaming=False
        )

    return handler


def _show(be: Backend, body: dict[str, Any], dialect: _wire.Dialect) -> tuple[Reply, ReplyContext]:
    """``POST /api/show``: metadata of one served model."""
    model = body.get("model", body.get("name"))
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    ctx = ReplyContext(dialect=dialect, model=model, streaming=False)
    served = be.resolve(model)
    if served is None:
        return error_reply(ctx, 404, f"model '{model}' not found"), ctx
    return json_reply(200, _wire.ollama_show(canonical(served), be.started)), ctx


_ROUTES: Final[dict[str, tuple[str, _wire.Dialect, _Handler]]] = {
    "/api/chat": ("POST", "ollama", _inference("chat")),
    "/api/generate": ("POST", "ollama", _inference("generate")),
    "/api/tags": (
        "GET",
        "ollama",
        _listing(lambda be: _wire.ollama_tags([canonical(m) for m in be.models], be.started)),
    ),
    "/api/show": ("POST", "ollama", _show),
    "/api/version": ("GET", "ollama", _listing(lambda be: _wire.ollama_version())),
    "/api/ps": (
        "GET",
        "ollama",
        _listing(lambda be: _wire.ollama_ps([canonical(m) for m in be.models], be.now())),
    ),
    "/api/embed": ("POST", "ollama", _embed.ollama_embed),
    "/api/embeddings": ("POST", "ollama", _embed.ollama_embeddings),
    "/v1/chat/completions": ("POST", "openai", _inference("chat")),
    "/v1/completions": ("POST", "openai", _inference("completions")),
    "/v1/embeddings": ("POST", "openai", _embed.openai_embeddings),
    "/v1/models": (
        "GET",
        "openai",
        _listing(lambda be: _wire.openai_models(be.models, be.started)),
    ),
}

API_ROUTES: Final = tuple(_ROUTES)
"""Every API path the backend answers."""


def _echoing(fault: Fault, request: HttpRequest) -> Fault:
    """``fault`` whose error text quotes the credential the request carried."""
    sent = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    credential = sent.split(" ", 1)[-1] if sent else "(none)"
    said = fault.message or "request failed"
    return msgspec.structs.replace(
        fault, message=f"{said}: Incorrect API key provided: {credential}"
    )
