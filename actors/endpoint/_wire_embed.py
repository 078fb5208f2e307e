"""Embeddings on the wire: ``/v1/embeddings`` (OpenAI) and ``/api/embed`` (Ollama) (pure).

OpenAI-compatible: ``{"model", "input": [...], "encoding_format": "float",
"dimensions"?}``, ``options`` merged at the top level first (the named fields win;
Ollama-only options are refused). Ollama: ``{"model", "input": [...], "dimensions"?}``
with ``truncate`` and ``keep_alive`` at the top level and every other option in
``options``. Replies must hold one vector of finite numbers per input, all of one
length; anything else is a bad_response.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from actors.endpoint._classify import classify_error_payload
from actors.endpoint._openai import is_error_object
from actors.endpoint._streams import bad_response, decode_json_object
from actors.endpoint._types import EmbedRequest, EmbedResult, HttpRequestSpec, sanitize_usage
from actors.endpoint._wire_chat import OLLAMA_ONLY_OPTIONS, refuse_ollama_only_options

__all__ = [
    "build_embed_spec",
    "embed_body",
    "embed_path",
    "parse_ollama_embed",
    "parse_openai_embed",
]

_RESERVED = frozenset({"model", "input"})
_OLLAMA_TOP_LEVEL = ("truncate", "keep_alive")


def embed_path(api: str) -> str:
    """The path of the embeddings operation of ``api``."""
    return "/api/embed" if api == "ollama" else "/v1/embeddings"


def embed_body(api: str, req: EmbedRequest) -> dict[str, Any]:
    """The JSON object of an embeddings request.

    Raises:
        UnsupportedParameter: an Ollama-only option sent to an OpenAI endpoint.
        ValueError: ``options`` try to set ``model`` or ``input``, or no inputs.
    """
    if api == "openai":
        refuse_ollama_only_options(req.options, OLLAMA_ONLY_OPTIONS | {"truncate"})
    clash = _RESERVED.intersection(req.options)
    if clash:
        raise ValueError(f"options may not set {sorted(clash)}; use EmbedRequest fields")
    if not req.inputs:
        raise ValueError("an embeddings request needs at least one input")
    named: dict[str, Any] = {"model": req.model, "input": list(req.inputs)}
    if req.dimensions is not None:
        named["dimensions"] = req.dimensions
    if api == "openai":
        return {**req.options, "encoding_format": "float", **named}
    body = {**named, **{k: req.options[k] for k in _OLLAMA_TOP_LEVEL if k in req.options}}
    options = {k: v for k, v in req.options.items() if k not in _OLLAMA_TOP_LEVEL}
    if options:
        body["options"] = options
    return body


def build_embed_spec(
    api: str, req: EmbedRequest, auth: tuple[tuple[str, str], ...]
) -> HttpRequestSpec:
    """The HTTP request of an embeddings call (``auth``: the headers carrying a key)."""
    return HttpRequestSpec(
        method="POST",
        path=embed_path(api),
        headers=(("Content-Type", "application/json"), ("Accept", "application/json"), *auth),
        body=msgspec.json.encode(embed_body(api, req)),
    )


def _vector(api: str, value: object, body: bytes) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise bad_response(api, "embedding is not a non-empty list of numbers", body)
    out: list[float] = []
    for number in value:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise bad_response(api, "embedding holds a value that is not a number", body)
        if not math.isfinite(number):
            raise bad_response(api, "embedding holds a value that is not finite", body)
        out.append(float(number))
    return tuple(out)


def _checked(
    api: str, vectors: list[tuple[float, ...]], expected: int | None, body: bytes
) -> tuple[tuple[float, ...], ...]:
    if expected is not None and len(vectors) != expected:
        raise bad_response(api, f"{len(vectors)} embeddings for {expected} inputs", body)
    if len({len(vector) for vector in vectors}) > 1:
        raise bad_response(api, "embeddings of different lengths in one reply", body)
    return tuple(vectors)


def _object(api: str, body: bytes) -> dict[str, Any]:
    obj = decode_json_object(api, body)
    if is_error_object(obj):
        raise classify_error_payload(api, obj, status=200)
    return obj


def parse_openai_embed(body: bytes, *, expected: int | None = None) -> EmbedResult:
    """An EmbedResult from a 2xx ``/v1/embeddings`` body (vectors ordered by ``index``).

    Raises:
        BackendError: bad_response, or the class an ``{"error": ...}`` body names.
    """
    api = "openai"
    obj = _object(api, body)
    data = obj.get("data")
    if not isinstance(data, list):
        raise bad_response(api, "embeddings reply without a 'data' list", body)
    by_index: dict[int, tuple[float, ...]] = {}
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise bad_response(api, "embeddings 'data' entry is not an object", body)
        index = item.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int) or index in by_index:
            raise bad_response(api, "embeddings 'data' entry with a bad or repeated index", body)
        by_index[index] = _vector(api, item.get("embedding"), body)
    if sorted(by_index) != list(range(len(by_index))):
        raise bad_response(api, "embeddings 'data' indices are not 0..n-1", body)
    usage = obj.get("usage")
    model = obj.get("model")
    return EmbedResult(
        vectors=_checked(api, [by_index[i] for i in range(len(by_index))], expected, body),
        model=model if isinstance(model, str) else "",
        usage=sanitize_usage(usage.get("prompt_tokens"), None) if isinstance(usage, dict) else None,
    )


def parse_ollama_embed(body: bytes, *, expected: int | None = None) -> EmbedResult:
    """An EmbedResult from a 2xx ``/api/embed`` body.

    Raises:
        BackendError: bad_response, or the class an ``{"error": ...}`` body names.
    """
    api = "ollama"
    obj = _object(api, body)
    embeddings = obj.get("embeddings")
    if not isinstance(embeddings, list):
        raise bad_response(api, "embed reply without an 'embeddings' list", body)
    model = obj.get("model")
    return EmbedResult(
        vectors=_checked(api, [_vector(api, v, body) for v in embeddings], expected, body),
        model=model if isinstance(model, str) else "",
        usage=sanitize_usage(obj.get("prompt_eval_count"), None),
    )
