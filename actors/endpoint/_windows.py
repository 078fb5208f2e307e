"""Asking an endpoint how large its models' context windows are (a shell, best effort).

Called by the catalog after a model list was fetched (``CatalogActor``'s
``fetch_windows``), never per request. The requests go straight through the
transport, outside the endpoint's slots: they are small, answered without touching a
generation slot, and must not queue behind long generations. Any failure (a 404 from
a server without ``/props``, a timeout...) only leaves the window unknown; the parsing
is ``_facts``'s. A server that answers ``/props`` with a 4xx is not asked again
(``Windows.props``): a hosted API must not log the same 404 every refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from actors.endpoint._classify import BackendError
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._facts import (
    models_request,
    ollama_show_request,
    parse_llama_props,
    parse_model_windows,
    parse_ollama_show,
    props_request,
)
from actors.endpoint._transport import EndpointTransport
from actors.endpoint._types import HttpRequestSpec

__all__ = ["MAX_SHOWN", "Windows", "fetch_context_lengths"]

MAX_SHOWN = 32
"""Ollama models asked about per refresh at most (one ``/api/show`` each)."""
_DEADLINES = Deadlines(connect=5.0, first_byte=10.0, idle=10.0, total=15.0)


class Windows(msgspec.Struct, frozen=True, kw_only=True):
    """What one endpoint told about its models' context windows."""

    lengths: dict[str, int] = msgspec.field(default_factory=dict)
    """Model name (as listed) -> its context window in tokens."""
    props: bool = True
    """Whether ``/props`` is worth asking next time (False once the server answered it
    with a 4xx: not llama.cpp, so every refresh would log the same failure)."""


async def fetch_context_lengths(
    transport: EndpointTransport,
    models: Sequence[str],
    *,
    props: bool = True,
    show: bool = False,
) -> Windows:
    """The context windows of those of ``models`` the endpoint tells; never raises
    ``BackendError``.

    OpenAI-compatible: ``GET /props`` (llama.cpp), unless ``props`` is False; a server
    answering it without ``n_ctx`` is asked ``/v1/models`` for its metadata. Ollama:
    ``POST /api/show`` for the first ``MAX_SHOWN`` models, only with ``show`` (the
    runtime leaves it off: see ``runtime._windows``).
    """
    if transport.api == "ollama":
        if not show:
            return Windows()
        asked = models[:MAX_SHOWN]
        answers = await asyncio.gather(*(_body(transport, ollama_show_request(m)) for m in asked))
        windows = (parse_ollama_show(b) if isinstance(b, bytes) else None for b in answers)
        return Windows(lengths={m: w for m, w in zip(asked, windows, strict=True) if w})
    if not props:
        return Windows(props=False)
    answer = await _body(transport, props_request())
    if isinstance(answer, BackendError):  # a 4xx: not llama.cpp, do not ask again
        return Windows(props=not (answer.status is not None and 400 <= answer.status < 500))
    n_ctx = parse_llama_props(answer).n_ctx
    if n_ctx is not None:  # llama.cpp: one model per server, one window
        return Windows(lengths=dict.fromkeys(models, n_ctx))
    answer = await _body(transport, models_request())
    listed = parse_model_windows(answer) if isinstance(answer, bytes) else {}
    return Windows(lengths={m: listed[m] for m in models if m in listed})


async def _body(transport: EndpointTransport, spec: HttpRequestSpec) -> bytes | BackendError:
    try:
        return await transport.fetch(spec, transport.new_call(_DEADLINES))
    except BackendError as exc:
        return exc
