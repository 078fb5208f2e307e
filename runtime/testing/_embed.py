"""Embedding routes: ``/api/embed``, ``/api/embeddings`` and ``/v1/embeddings``.

Vectors are deterministic: the same (seed, model, text, dimensions) always gives the
same unit-length vector, so tests can compare them across calls and routes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import TYPE_CHECKING, Any, Final

from runtime.testing import _text, _wire
from runtime.testing._reply import Reply, ReplyContext, json_reply, not_found_reply
from runtime.testing._request import BadRequest, int_or_none

if TYPE_CHECKING:
    from runtime.testing._routes import Backend

DEFAULT_DIMENSIONS: Final = 8
"""Vector length when the request does not ask for ``dimensions``."""
MAX_DIMENSIONS: Final = 4096
_NS_PER_TOKEN: Final = 2_000_000


def vector(seed: int, model: str, text: str, dimensions: int) -> list[float]:
    """A deterministic L2-normalised vector of `dimensions` floats for `text`."""
    h = hashlib.sha256()
    for part in (str(seed), model, text):
        raw = part.encode()
        h.update(len(raw).to_bytes(8, "big") + raw)
    stream = h.digest()
    while len(stream) < 4 * dimensions:
        stream += hashlib.sha256(stream).digest()
    raw_values = [
        int.from_bytes(stream[4 * i : 4 * i + 4], "big") / 0xFFFFFFFF * 2 - 1
        for i in range(dimensions)
    ]
    norm = math.sqrt(sum(v * v for v in raw_values)) or 1.0
    # Round-trip through float32 so the float and base64 encodings agree exactly.
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in raw_values))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _base64(values: list[float]) -> str:
    """OpenAI's ``encoding_format: "base64"``: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _inputs(value: object, name: str) -> list[str]:
    """``input`` as a list of texts (token-id arrays are joined into a text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return [" ".join(str(v) for v in value)]
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, list) for v in value):
            return [" ".join(str(t) for t in v) for v in value]
    raise BadRequest(f"{name} must be a string or a non-empty list of strings")


def _dimensions(body: dict[str, Any]) -> int:
    """The requested vector length (``dimensions``), or the default."""
    wanted = int_or_none(body.get("dimensions"), "dimensions")
    if wanted is None:
        return DEFAULT_DIMENSIONS
    if not 1 <= wanted <= MAX_DIMENSIONS:
        raise BadRequest(f"dimensions must be within 1-{MAX_DIMENSIONS}, got {wanted}")
    return wanted


def _model(body: dict[str, Any], ctx: ReplyContext) -> tuple[str, ReplyContext]:
    """The requested model name and the context naming it."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    return model, ReplyContext(dialect=ctx.dialect, model=model, streaming=False)


def ollama_embed(
    be: Backend, body: dict[str, Any], dialect: _wire.Dialect
) -> tuple[Reply, ReplyContext]:
    """``POST /api/embed``: ``{"model", "input": str | [str]}``."""
    model, ctx = _model(body, ReplyContext(dialect=dialect, model=None, streaming=False))
    texts = _inputs(body.get("input"), "input")
    dims = _dimensions(body)
    served = be.resolve(model)
    if served is None:
        return not_found_reply(ctx, model), ctx
    tokens = sum(_text.prompt_tokens(t) for t in texts)
    reply = {
        "model": model,
        "embeddings": [vector(be.seed, served, t, dims) for t in texts],
        "total_duration": 1_000_000 + tokens * _NS_PER_TOKEN,
        "load_duration": 1_000_000,
        "prompt_eval_count": tokens,
    }
    return json_reply(200, _wire.encode(reply)), ctx


def ollama_embeddings(
    be: Backend, body: dict[str, Any], dialect: _wire.Dialect
) -> tuple[Reply, ReplyContext]:
    """Legacy ``POST /api/embeddings``: ``{"model", "prompt"}`` -> ``{"embedding"}``."""
    model, ctx = _model(body, ReplyContext(dialect=dialect, model=None, streaming=False))
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise BadRequest("prompt must be a string")
    served = be.resolve(model)
    if served is None:
        return not_found_reply(ctx, model), ctx
    embedding = vector(be.seed, served, prompt, _dimensions(body))
    return json_reply(200, _wire.encode({"embedding": embedding})), ctx


def openai_embeddings(
    be: Backend, body: dict[str, Any], dialect: _wire.Dialect
) -> tuple[Reply, ReplyContext]:
    """``POST /v1/embeddings``: ``{"model", "input", "dimensions"?, "encoding_format"?}``."""
    model, ctx = _model(body, ReplyContext(dialect=dialect, model=None, streaming=False))
    texts = _inputs(body.get("input"), "input")
    dims = _dimensions(body)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest(f"encoding_format must be 'float' or 'base64', got {encoding!r}")
    served = be.resolve(model)
    if served is None:
        return not_found_reply(ctx, model), ctx
    data = []
    for index, text in enumerate(texts):
        values = vector(be.seed, served, text, dims)
        embedding: list[float] | str = _base64(values) if encoding == "base64" else values
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(_text.prompt_tokens(t) for t in texts)
    reply = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_reply(200, _wire.encode(reply)), ctx
