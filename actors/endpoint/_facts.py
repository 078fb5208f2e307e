"""What backends say about their models: context windows and slots (pure parsing).

The catalog asks each endpoint, at its model-list refresh (never per request), how
large a context each model runs with; the router then skips a model a request cannot
fit in (``actors.router._windows``). Every parser here is total: a body of another
shape, a missing field or a number that makes no sense yields ``None`` (unknown),
never an error — these are hints, the chat call remains the judge.

Where the numbers come from:

* **llama.cpp** ``GET /props``: ``default_generation_settings.n_ctx`` is the context of
  one slot, what a request is checked against (with ``--ctx 1024 --parallel 2`` it is
  512, observed on the real server); newer builds may put ``n_ctx`` at the top level,
  used when the nested one is missing. ``total_slots`` is the number of requests the
  server runs at once (``--parallel``).
* **OpenAI-compatible** ``GET /v1/models``: llama.cpp's ``meta.n_ctx`` (the slot
  context again), vLLM's ``max_model_len``, a plain ``context_length`` (OpenRouter,
  LM Studio, the chaos backend), else llama.cpp's ``meta.n_ctx_train`` (the training
  context: an upper bound, the server may run a smaller one).
* **Ollama** ``POST /api/show``: a ``num_ctx`` line in ``parameters`` (the Modelfile's)
  is what Ollama runs the model with; without one, ``model_info["<arch>.context_length"]``
  is the training context, an upper bound only: Ollama then runs its own default
  ``num_ctx`` (2048 or 4096 by version, or ``OLLAMA_CONTEXT_LENGTH``), which it does
  not report, and it *truncates* a longer prompt instead of failing. So a request's
  ``options.num_ctx`` (or the model's configured one), which Ollama uses when set, wins
  over anything discovered (``actors.router._windows``), and ``context_length`` in the
  config is the way to state the real window of an Ollama model that sets none.

Pure: no I/O; the requests are built here too (``HttpRequestSpec``), the transport
sends them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from actors.endpoint._openai import auth_headers
from actors.endpoint._types import HttpRequestSpec

__all__ = [
    "LlamaProps",
    "context_from_options",
    "models_request",
    "ollama_show_request",
    "parse_llama_props",
    "parse_model_windows",
    "parse_ollama_show",
    "props_request",
]

_MAX_WINDOW = 100_000_000
"""Larger "context windows" are nonsense (no model has one): treated as unknown."""
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
_DECODER = msgspec.json.Decoder()
_ACCEPT = (("Accept", "application/json"),)


class LlamaProps(msgspec.Struct, frozen=True, kw_only=True):
    """What llama.cpp's ``GET /props`` says about the running server."""

    n_ctx: int | None = None
    """Tokens of context one request may use (one slot's), None when not reported."""
    total_slots: int | None = None
    """Requests the server runs at once (``--parallel``), None when not reported."""


def props_request(*, api_key: str | None = None) -> HttpRequestSpec:
    """llama.cpp's ``GET /props`` (without ``api_key``, ``EndpointTransport.fetch``
    adds the endpoint's)."""
    return HttpRequestSpec(method="GET", path="/props", headers=_ACCEPT + auth_headers(api_key))


def models_request() -> HttpRequestSpec:
    """``GET /v1/models``, for its metadata (the transport adds the key)."""
    return HttpRequestSpec(method="GET", path="/v1/models", headers=_ACCEPT)


def ollama_show_request(model: str) -> HttpRequestSpec:
    """Ollama's ``POST /api/show`` for ``model``."""
    headers = (*_ACCEPT, ("Content-Type", "application/json"))
    body = msgspec.json.encode({"model": model})
    return HttpRequestSpec(method="POST", path="/api/show", headers=headers, body=body)


def parse_llama_props(body: bytes) -> LlamaProps:
    """``n_ctx`` and ``total_slots`` from a ``/props`` body (None where unknown)."""
    obj = _object(body)
    if obj is None:
        return LlamaProps()
    settings = obj.get("default_generation_settings")
    n_ctx = _count(settings.get("n_ctx")) if isinstance(settings, dict) else None
    if n_ctx is None:
        n_ctx = _count(obj.get("n_ctx"))
    return LlamaProps(n_ctx=n_ctx, total_slots=_count(obj.get("total_slots")))


def parse_model_windows(body: bytes) -> dict[str, int]:
    """Model id -> its context window, from a ``/v1/models`` body (ids without one are
    left out; see the module docstring for the fields read)."""
    obj = _object(body)
    data = obj.get("data") if obj is not None else None
    if not isinstance(data, list):
        return {}
    found: dict[str, int] = {}
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        meta = item.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        for value in (
            meta.get("n_ctx"),
            item.get("max_model_len"),
            item.get("context_length"),
            meta.get("n_ctx_train"),
        ):
            window = _count(value)
            if window is not None:
                found[item["id"]] = window
                break
    return found


def parse_ollama_show(body: bytes) -> int | None:
    """The context window of an Ollama model, from its ``/api/show`` body: the
    Modelfile's ``num_ctx`` parameter, else the architecture's ``context_length``."""
    obj = _object(body)
    if obj is None:
        return None
    parameters = obj.get("parameters")
    if isinstance(parameters, str):
        match = _NUM_CTX.search(parameters)
        if match is not None and (window := _count(int(match.group(1)))) is not None:
            return window
    info = obj.get("model_info")
    if not isinstance(info, dict):
        return None
    arch = info.get("general.architecture")
    if isinstance(arch, str) and (window := _count(info.get(f"{arch}.context_length"))):
        return window
    windows = [_count(v) for k, v in info.items() if k.endswith(".context_length")]
    known = [w for w in windows if w is not None]
    return max(known) if known else None


def context_from_options(options: Mapping[str, Any]) -> int | None:
    """``options.num_ctx`` (Ollama's window for this call) when set to a sane count."""
    return _count(options.get("num_ctx"))


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        obj = _DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _count(value: object) -> int | None:
    """A positive token count, or None (bools, floats with a fraction, absurd sizes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 < value <= _MAX_WINDOW:
        return value
    return None
