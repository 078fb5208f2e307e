"""Embedding requests and replies in both protocols (pure).

``POST /v1/embeddings`` (OpenAI) takes ``model``, ``input`` (a string or an array of
strings; token arrays are refused), ``dimensions``, ``encoding_format`` (``float``, or
``base64``: each vector's little-endian float32 bytes, base64-encoded, which the
official client asks for by default) and an optional ``kind``; every other field
(``user``...) is passed on in ``options``, like chat.

``POST /api/embed`` (Ollama) takes ``model``, ``input`` (string or array),
``truncate``, ``keep_alive``, ``dimensions`` and ``options``; ``truncate`` and
``keep_alive`` travel in the runtime's ``options`` (the endpoint puts them where its
API wants them). The legacy ``POST /api/embeddings`` takes ``prompt`` (one string) and
answers ``{"embedding": [...]}``. Other fields are refused with 400 naming them, and
so is a known field of the wrong type or range (``dimensions`` >= 1, ``truncate`` a
boolean, ``options`` as for chat: ``_field_types``).
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

import msgspec

from actors.router import Embeddings
from runtime.serve._field_types import (
    OLLAMA_OPTIONS,
    OLLAMA_TOP,
    check_fields,
    integer,
    string,
)
from runtime.serve._fields import bad_field, opt_object, required_str
from runtime.serve._limits import parse_kind, refuse_unknown, reject_backend_fields

__all__ = [
    "EmbedCall",
    "ollama_embed_body",
    "ollama_embeddings_body",
    "openai_embeddings_body",
    "parse_ollama_embed",
    "parse_ollama_embeddings",
    "parse_openai_embeddings",
]

Encoding = Literal["float", "base64"]
_OPENAI_KNOWN = frozenset({"model", "input", "dimensions", "encoding_format", "kind"})
_OLLAMA_TOP_LEVEL = ("truncate", "keep_alive")
_DIMENSIONS = {"dimensions": integer(1)}
_OPENAI_CHECKED = {**_DIMENSIONS, "user": string(), "encoding_format": string("float", "base64")}


class EmbedCall(msgspec.Struct, frozen=True, kw_only=True):
    """One embedding request, whichever protocol it came in."""

    target: str
    """The ``model`` field: a role name, or a model name or alias the runtime lists."""
    inputs: tuple[str, ...]
    dimensions: int | None = None
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    kind: str | None = None
    encoding: Encoding = "float"
    """OpenAI ``encoding_format``."""


def parse_openai_embeddings(body: dict[str, Any]) -> EmbedCall:
    """Check a ``/v1/embeddings`` body.

    Raises:
        HttpError: 400 naming the field at fault.
    """
    reject_backend_fields(body)
    checked = check_fields(body, _OPENAI_CHECKED)
    options = {
        k: checked.get(k, v) for k, v in body.items() if k not in _OPENAI_KNOWN and v is not None
    }
    return EmbedCall(
        target=required_str(body, "model"),
        inputs=_inputs(body.get("input"), "input"),
        dimensions=checked.get("dimensions"),
        options=options,
        kind=parse_kind(body),
        encoding="base64" if checked.get("encoding_format") == "base64" else "float",
    )


def parse_ollama_embed(body: dict[str, Any]) -> EmbedCall:
    """Check an ``/api/embed`` body."""
    refuse_unknown(body, {"model", "input", "dimensions", "options", "kind", *_OLLAMA_TOP_LEVEL})
    return EmbedCall(
        target=required_str(body, "model"),
        inputs=_inputs(body.get("input"), "input"),
        dimensions=check_fields(body, _DIMENSIONS).get("dimensions"),
        options=_ollama_options(body),
        kind=parse_kind(body),
    )


def parse_ollama_embeddings(body: dict[str, Any]) -> EmbedCall:
    """Check a legacy ``/api/embeddings`` body (one ``prompt``)."""
    refuse_unknown(body, {"model", "prompt", "options", "kind", "keep_alive"})
    return EmbedCall(
        target=required_str(body, "model"),
        inputs=(required_str(body, "prompt"),),
        options=_ollama_options(body),
        kind=parse_kind(body),
    )


def _ollama_options(body: dict[str, Any]) -> dict[str, Any]:
    options = dict(opt_object(body, "options"))
    options.update(check_fields(options, OLLAMA_OPTIONS, "options."))
    options.update(check_fields(body, {k: OLLAMA_TOP[k] for k in _OLLAMA_TOP_LEVEL}))
    return options


def _inputs(value: Any, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    if isinstance(value, list) and not value:
        raise bad_field(field, f"{field!r} is empty; send a string or an array of strings")
    if isinstance(value, list) and all(isinstance(i, int | list) for i in value):
        raise bad_field(
            field,
            f"{field!r}: token arrays are not supported (the backends tokenize "
            "themselves); send the text as a string or an array of strings",
        )
    got = "missing" if value is None else "something else"
    raise bad_field(field, f"{field!r} must be a string or an array of strings ({got})")


def _encode(vector: tuple[float, ...], encoding: Encoding) -> list[float] | str:
    if encoding == "float":
        return list(vector)
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def openai_embeddings_body(answer: Embeddings, encoding: Encoding) -> dict[str, Any]:
    """``{"object": "list", "data": [...], "model", "usage"}`` (``model``: the one that
    answered; usage 0 when the backend reported none)."""
    tokens = answer.usage.prompt_tokens if answer.usage is not None else 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(vector, encoding)}
            for i, vector in enumerate(answer.vectors)
        ],
        "model": answer.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def ollama_embed_body(answer: Embeddings) -> dict[str, Any]:
    """``/api/embed``'s ``{"model", "embeddings", "total_duration",
    "prompt_eval_count"}``."""
    body: dict[str, Any] = {
        "model": answer.model,
        "embeddings": [list(vector) for vector in answer.vectors],
        "total_duration": int(answer.latency_s * 1e9),
        "load_duration": 0,
    }
    if answer.usage is not None:
        body["prompt_eval_count"] = answer.usage.prompt_tokens
    return body


def ollama_embeddings_body(answer: Embeddings) -> dict[str, Any]:
    """The legacy ``/api/embeddings``' ``{"embedding": [...]}``."""
    return {"embedding": list(answer.vectors[0]) if answer.vectors else []}
