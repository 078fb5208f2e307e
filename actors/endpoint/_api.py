"""One entry point per operation, dispatching on the endpoint's ``api`` setting.

The shell's whole protocol work is::

    spec = build_chat_request(api, req, api_key=key)        # -> httpx
    result = parse_chat_response(api, status, headers, body) # <- httpx
    # or, streaming: parser = new_stream_parser(api, content_type=...); feed(); end()
    spec = build_embed_request(api, embed_req, api_key=key)  # embeddings, likewise
    result = parse_embed_response(api, status, headers, body, expected=len(inputs))

``check_chat_request`` runs the chat translation without building anything, so a
request a deployment's API cannot carry is refused before any call is made.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.endpoint._classify import Api, HeadersLike, _headers_lower, classify_http_error
from actors.endpoint._ollama import (
    NdjsonStreamParser,
    build_ollama_chat,
    build_ollama_tags,
    parse_ollama_chat,
    parse_ollama_tags,
    resolve_ollama_model,
)
from actors.endpoint._openai import (
    SseStreamParser,
    auth_headers,
    build_openai_chat,
    build_openai_models,
    parse_openai_chat,
    parse_openai_models,
)
from actors.endpoint._streams import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_TOTAL_BYTES,
    StreamParser,
    bad_response,
    check_not_html,
)
from actors.endpoint._types import (
    ChatRequest,
    ChatResult,
    EmbedRequest,
    EmbedResult,
    HttpRequestSpec,
)
from actors.endpoint._wire_chat import ollama_chat_body, openai_chat_body
from actors.endpoint._wire_embed import build_embed_spec, parse_ollama_embed, parse_openai_embed

__all__ = [
    "build_chat_request",
    "build_embed_request",
    "check_chat_request",
    "parse_embed_response",
    "build_models_request",
    "new_stream_parser",
    "parse_chat_response",
    "parse_models_response",
    "resolve_model",
]

APIS: tuple[Api, ...] = ("ollama", "openai")


def _check_api(api: str) -> None:
    if api not in APIS:
        raise ValueError(f"unknown api {api!r}; use one of {', '.join(APIS)}")


def build_chat_request(api: str, req: ChatRequest, *, api_key: str | None) -> HttpRequestSpec:
    """The HTTP request for a chat completion.

    The key is sent only to ``openai`` endpoints, as ``Authorization: Bearer``; it is
    never put in the URL or the body. Ollama has no auth, so a key is not sent there.

    Raises:
        UnsupportedParameter: a parameter ``api`` cannot carry (see ``_wire_chat``).
        ValueError: unknown ``api``, bad key, or options overriding a reserved field.
    """
    _check_api(api)
    if api == "ollama":
        return build_ollama_chat(req)
    return build_openai_chat(req, api_key=api_key)


def check_chat_request(api: str, req: ChatRequest) -> None:
    """Refuse ``req`` for ``api`` exactly as ``build_chat_request`` would, sending nothing.

    Raises:
        UnsupportedParameter: exactly when ``build_chat_request`` raises it.
        ValueError: unknown ``api``, or a request ``build_chat_request`` refuses as
            malformed (options overriding a reserved field, a schema-less json_schema).
    """
    _check_api(api)
    if api == "ollama":
        ollama_chat_body(req)
    else:
        openai_chat_body(req)


def build_embed_request(api: str, req: EmbedRequest, *, api_key: str | None) -> HttpRequestSpec:
    """The HTTP request for embeddings (``POST /api/embed`` or ``/v1/embeddings``).

    The key is sent like for chat: to ``openai`` endpoints only.

    Raises:
        UnsupportedParameter: an Ollama-only option for an ``openai`` endpoint.
        ValueError: unknown ``api``, bad key, no inputs, or options setting model/input.
    """
    _check_api(api)
    auth = auth_headers(api_key) if api == "openai" else ()
    return build_embed_spec(api, req, auth)


def parse_embed_response(
    api: str,
    status: int,
    headers: HeadersLike,
    body: bytes,
    *,
    expected: int | None = None,
    now_epoch: float | None = None,
    max_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> EmbedResult:
    """An EmbedResult from a complete embeddings response.

    Args:
        api: "ollama" or "openai".
        status: HTTP status.
        headers: Response headers (Mapping or pairs).
        body: The whole body.
        expected: The number of inputs: the reply must hold as many vectors.
        now_epoch: Current Unix time, to read an HTTP-date Retry-After.
        max_bytes: The response size cap.

    Raises:
        BackendError: classified like ``parse_chat_response``; bad_response for a
            malformed body, a wrong vector count, or a value that is not a finite number.
    """
    _check_api(api)
    _check_ok(api, status, headers, body, max_bytes, now_epoch)
    if api == "ollama":
        return parse_ollama_embed(body, expected=expected)
    return parse_openai_embed(body, expected=expected)


def build_models_request(api: str, *, api_key: str | None = None) -> HttpRequestSpec:
    """The HTTP request listing the served models (``/api/tags`` or ``/v1/models``)."""
    _check_api(api)
    return build_ollama_tags() if api == "ollama" else build_openai_models(api_key=api_key)


def _check_ok(
    api: str,
    status: int,
    headers: HeadersLike,
    body: bytes,
    max_bytes: int,
    now_epoch: float | None,
) -> None:
    """Raise the classified error for a non-2xx, oversized or HTML response."""
    if not 200 <= status < 300:
        raise classify_http_error(api, status, headers, body[:max_bytes], now_epoch=now_epoch)
    if len(body) > max_bytes:
        raise bad_response(api, f"response larger than the {max_bytes}-byte cap", body[:120])
    check_not_html(api, _headers_lower(headers), body)


def parse_models_response(
    api: str,
    status: int,
    body: bytes,
    *,
    headers: HeadersLike = (),
    now_epoch: float | None = None,
    max_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> tuple[str, ...]:
    """Model names from a models-list response.

    Raises:
        BackendError: a classified HTTP error, or bad_response for a malformed body.
    """
    _check_api(api)
    _check_ok(api, status, headers, body, max_bytes, now_epoch)
    return parse_ollama_tags(body) if api == "ollama" else parse_openai_models(body)


def parse_chat_response(
    api: str,
    status: int,
    headers: HeadersLike,
    body: bytes,
    *,
    now_epoch: float | None = None,
    max_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> ChatResult:
    """A ChatResult from a complete (non-stream) chat response.

    Args:
        api: "ollama" or "openai".
        status: HTTP status.
        headers: Response headers (Mapping or pairs).
        body: The whole body; the shell stops reading past ``max_bytes``.
        now_epoch: Current Unix time, to read an HTTP-date Retry-After.
        max_bytes: The response size cap.

    Raises:
        BackendError: classified by status and body (see ``classify_http_error``),
            or bad_response for HTML, oversized or malformed bodies.
    """
    _check_api(api)
    _check_ok(api, status, headers, body, max_bytes, now_epoch)
    return parse_ollama_chat(body) if api == "ollama" else parse_openai_chat(body)


def new_stream_parser(
    api: str,
    *,
    content_type: str | None = None,
    max_line: int = DEFAULT_MAX_LINE_BYTES,
    max_total: int = DEFAULT_MAX_TOTAL_BYTES,
) -> StreamParser:
    """An NDJSON (ollama) or SSE (openai) parser for a 2xx streaming body.

    A non-2xx streaming response is not parsed: read its (capped) body and raise
    ``classify_http_error(...)``.
    """
    _check_api(api)
    cls = NdjsonStreamParser if api == "ollama" else SseStreamParser
    return cls(content_type=content_type, max_line=max_line, max_total=max_total)


def resolve_model(api: str, requested: str, served: Iterable[str]) -> str | None:
    """The served model name ``requested`` refers to, or None.

    Ollama compares like Ollama does ("llama3" is "llama3:latest", case-insensitive);
    OpenAI-compatible servers compare ids exactly.
    """
    _check_api(api)
    if api == "ollama":
        return resolve_ollama_model(requested, served)
    return requested if requested in set(served) else None
